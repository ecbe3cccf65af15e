"""The one policy protocol that simulate, eval and serve use for every dispatcher.

A policy sees the env (and through it whatever it is entitled to: learned policies read only each
agent's observation and mask, centralized planners read the world) and returns one command per
deciding vehicle. Commands are the simulator's vocabulary; discrete actions map onto them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from qmix_logistics.env import DispatchEnv
from qmix_logistics.sim.world import Command


@runtime_checkable
class Policy(Protocol):
    """Anything that can dispatch a fleet for a day."""

    name: str

    def reset(self, env: DispatchEnv, seed: int) -> None:
        """Called once after ``env.reset(seed)``, before the first decision."""

    def act(self, env: DispatchEnv) -> dict[int, Command]:
        """Commands for the vehicles that must decide now (missing vehicles wait)."""


class ActionPolicy:
    """Base for policies that choose discrete actions from per-agent observations and masks."""

    name = "actions"

    def reset(self, env: DispatchEnv, seed: int) -> None:
        pass

    def select_actions(self, obs: np.ndarray, masks: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, env: DispatchEnv) -> dict[int, Command]:
        return env.actions_to_commands(self.select_actions(env.observations(), env.action_masks()))

    def close(self) -> None:
        pass
