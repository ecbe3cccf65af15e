"""Environment-agnostic cooperative MARL: QMIX, VDN and IQL for any PettingZoo ParallelEnv.

The env contract: a fixed agent list, dict observations with ``observation`` (float vector) and
``action_mask`` (1 = valid), Discrete actions, ``state()`` for the global state, and the same team reward
for every agent. This package imports nothing from the logistics side.

Typical use::

    from qmix_logistics.marl import LearnerConfig, train, load_policy
    result = train(make_env, LearnerConfig(mixer="qmix", total_env_steps=200_000), "runs/my_env__0")
    policy, metadata = load_policy(result.checkpoint_path)

Names are imported on first use, so env worker processes (which import this package to unpickle their
env factory) do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS = {
    "Episode": "buffer",
    "EpisodeBatch": "buffer",
    "EpisodeBuffer": "buffer",
    "CHECKPOINT_NAME": "checkpoint",
    "load_checkpoint": "checkpoint",
    "load_policy": "checkpoint",
    "save_checkpoint": "checkpoint",
    "LearnerConfig": "config",
    "DecentralizedPolicy": "controller",
    "MultiAgentController": "controller",
    "epsilon_greedy": "controller",
    "greedy_actions": "controller",
    "EnvAdapter": "env_contract",
    "EnvFactory": "env_contract",
    "EnvSpec": "env_contract",
    "TwoStepGame": "testing",
    "make_two_step_game": "testing",
    "two_step_config": "testing",
    "QLearner": "learner",
    "td_targets": "learner",
    "QMixer": "mixers",
    "VDNMixer": "mixers",
    "make_mixer": "mixers",
    "RNNAgent": "networks",
    "EnvRunner": "runner",
    "EVAL_SEED_BASE": "trainer",
    "EvalFn": "trainer",
    "TrainResult": "trainer",
    "train": "trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
