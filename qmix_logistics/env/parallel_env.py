"""PettingZoo ``ParallelEnv`` adapter over :class:`DispatchEnv`, for any MARL library (ours included)."""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from qmix_logistics.env.dispatch_env import DispatchEnv
from qmix_logistics.scenario import Scenario


class DispatchParallelEnv(ParallelEnv):
    """Each vehicle is an agent; observations are ``{"observation", "action_mask"}`` dicts.

    ``state()`` is the global state for centralized training; every agent gets the same team reward.
    With a ``teacher`` (a function of the env returning one action per agent), every agent's info
    carries its suggestion under ``expert_action``; without one, nothing is computed for it. A teacher may
    also return a second row, an action it accepts as well (-1 where none), carried as
    ``expert_alternative``. A step runs the simulation to the next decision, so steps last unequally
    long: every info carries ``duration``, the simulated minutes the step covered (for learners that
    discount per elapsed time).
    """

    metadata = {"name": "qmix_logistics_dispatch_v0", "render_modes": []}

    def __init__(self, scenario: Scenario, *, seed: int | None = None,
                 teacher: Callable[[DispatchEnv], np.ndarray] | None = None) -> None:
        self.core = DispatchEnv(scenario)
        self.teacher = teacher
        self.possible_agents = list(self.core.agents)
        self.agents: list[str] = []
        self._next_seed = scenario.seed if seed is None else seed
        self._obs_space = spaces.Dict({
            "observation": spaces.Box(-np.inf, np.inf, (self.core.obs_size,), np.float32),
            "action_mask": spaces.Box(0, 1, (self.core.n_actions,), np.int8),
        })
        self._act_space = spaces.Discrete(self.core.n_actions)
        self.state_space = spaces.Box(-np.inf, np.inf, (self.core.state_size,), np.float32)

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> spaces.Space:
        return self._act_space

    def _pack(self, obs: np.ndarray, masks: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        m = masks.astype(np.int8)
        return {a: {"observation": obs[i], "action_mask": m[i]} for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is None:
            seed = self._next_seed
        self._next_seed = seed + 1
        obs, masks = self.core.reset(seed=seed)
        self.agents = list(self.possible_agents)
        return self._pack(obs, masks), self._infos({})

    def step(self, actions: dict[str, int]):
        acts = np.array([int(actions.get(a, 0)) for a in self.possible_agents], dtype=np.int64)
        world = self.core.world
        started_min = world.now if world is not None else 0.0  # core.step refuses a step before reset()
        obs, masks, reward, done, info = self.core.step(acts)
        info = {**info, "duration": float(info["time_min"] - started_min)}
        agents = self.possible_agents
        observations = self._pack(obs, masks)
        rewards = {a: reward for a in agents}
        terminations = {a: done for a in agents}
        truncations = {a: False for a in agents}
        infos = self._infos(info) if not done else {a: dict(info) for a in agents}
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _infos(self, info: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Per-agent infos; ``expert_action`` is the teacher's suggestion (never seen at execution)."""
        if self.teacher is None:
            return {a: dict(info) for a in self.possible_agents}
        suggested = np.asarray(self.teacher(self.core))
        if suggested.ndim == 2:
            return {a: {**info, "expert_action": int(suggested[0, i]), "expert_alternative": int(suggested[1, i])}
                    for i, a in enumerate(self.possible_agents)}
        return {a: {**info, "expert_action": int(suggested[i])} for i, a in enumerate(self.possible_agents)}

    def state(self) -> np.ndarray:
        return self.core.state()

    def render(self) -> None:
        return None

    def close(self) -> None:
        pass


def make_parallel_env(scenario: Scenario, seed: int = 0,
                      teacher: Callable[[DispatchEnv], np.ndarray] | None = None) -> DispatchParallelEnv:
    """Picklable factory for worker processes: ``functools.partial(make_parallel_env, scenario, teacher=f)``."""
    return DispatchParallelEnv(scenario, seed=seed, teacher=teacher)
