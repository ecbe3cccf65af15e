"""The multi-agent dispatch environment: action and observation layout, the compiled kernel, the env
and its PettingZoo view (import :mod:`qmix_logistics.env.parallel_env` for that one)."""

from qmix_logistics.env.dispatch_env import DispatchEnv
from qmix_logistics.env.layout import OBSERVATION_LAYOUT, ActionLayout, observation_size

__all__ = ["OBSERVATION_LAYOUT", "ActionLayout", "DispatchEnv", "observation_size"]
