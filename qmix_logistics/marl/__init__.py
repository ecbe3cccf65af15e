"""Environment-agnostic cooperative MARL: QMIX, VDN and IQL for any PettingZoo ParallelEnv.

The env contract: a fixed agent list, dict observations with ``observation`` (float vector) and
``action_mask`` (1 = valid), Discrete actions, ``state()`` for the global state, and the same team reward
for every agent. This package imports nothing of qmix_logistics but ``qmix_logistics.common``.

Typical use::

    from qmix_logistics.marl import LearnerConfig, train, load_policy
    result = train(make_env, LearnerConfig(mixer="qmix", total_env_steps=200_000), "runs/my_env__0")
    policy, metadata = load_policy(result.checkpoint_path)

Small games for tests and examples live in ``qmix_logistics.marl.testing`` and are not part of this API.
"""

from __future__ import annotations

from .buffer import Episode, EpisodeBatch, EpisodeBuffer
from .checkpoint import BEST_CHECKPOINT_NAME, CHECKPOINT_NAME, load_checkpoint, load_policy, save_checkpoint
from .config import LearnerConfig
from .controller import DecentralizedPolicy, MultiAgentController, epsilon_greedy, greedy_actions
from .env_contract import EnvAdapter, EnvFactory, EnvSpec
from .learner import QLearner, td_targets
from .mixers import QMixer, VDNMixer, make_mixer
from .networks import RNNAgent
from .progress import ProgressFn, TrainProgress
from .runner import EnvRunner
from .trainer import EVAL_SEED_BASE, EvalFn, TrainResult, train

__all__ = [
    "BEST_CHECKPOINT_NAME",
    "CHECKPOINT_NAME",
    "EVAL_SEED_BASE",
    "DecentralizedPolicy",
    "EnvAdapter",
    "EnvFactory",
    "EnvRunner",
    "EnvSpec",
    "Episode",
    "EpisodeBatch",
    "EpisodeBuffer",
    "EvalFn",
    "LearnerConfig",
    "MultiAgentController",
    "ProgressFn",
    "QLearner",
    "QMixer",
    "RNNAgent",
    "TrainProgress",
    "TrainResult",
    "VDNMixer",
    "epsilon_greedy",
    "greedy_actions",
    "load_checkpoint",
    "load_policy",
    "make_mixer",
    "save_checkpoint",
    "td_targets",
    "train",
]
