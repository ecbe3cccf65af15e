"""Environment-agnostic cooperative MARL: QMIX, VDN and IQL for any PettingZoo ParallelEnv.

The env contract: a fixed agent list, dict observations with ``observation`` (float vector) and
``action_mask`` (1 = valid), Discrete actions, ``state()`` for the global state, and the same team reward
for every agent. This package imports nothing from the logistics side.

Typical use::

    from qmix_logistics.marl import LearnerConfig, train, load_policy
    result = train(make_env, LearnerConfig(mixer="qmix", total_env_steps=200_000), "runs/my_env__0")
    policy, metadata = load_policy(result.checkpoint_path)
"""

from .buffer import Episode, EpisodeBatch, EpisodeBuffer
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, load_policy, save_checkpoint
from .config import LearnerConfig
from .controller import DecentralizedPolicy, MultiAgentController, epsilon_greedy, greedy_actions
from .env_contract import EnvAdapter, EnvFactory, EnvSpec
from .games import TwoStepGame, make_two_step_game
from .learner import QLearner, td_targets
from .mixers import QMixer, VDNMixer, make_mixer
from .networks import RNNAgent
from .runner import EnvRunner
from .trainer import EVAL_SEED_BASE, EvalFn, TrainResult, train

__all__ = [
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
    "QLearner",
    "QMixer",
    "RNNAgent",
    "TrainResult",
    "TwoStepGame",
    "VDNMixer",
    "epsilon_greedy",
    "greedy_actions",
    "load_checkpoint",
    "load_policy",
    "make_mixer",
    "make_two_step_game",
    "save_checkpoint",
    "td_targets",
    "train",
]
