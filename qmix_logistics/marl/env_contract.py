"""The environment contract the learner relies on, checked at the boundary.

Any PettingZoo ``ParallelEnv`` with a fixed agent list, dict observations ``{"observation", "action_mask"}``,
``Discrete`` actions and a global ``state()`` can be trained. :class:`EnvAdapter` checks that once and then
turns the per-agent dicts into stacked numpy arrays, so the rest of the package (and the pipes between
processes) only ever sees fixed-shape arrays. Contract violations are the env author's to fix, so they
raise QlogError with a message that says what was expected.

Optionally an env reports how long each step lasted in ``infos[agent]["duration"]`` (the same float >= 0 for
every agent, in the env's own time unit), for envs whose steps are events of unequal length; the learner can
then discount per elapsed time (a semi-MDP, ``discount_per="time"``). Envs that say nothing last 1.0 a step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from qmix_logistics.common.errors import QlogError

#: A picklable ``make_env(seed) -> ParallelEnv`` (module-level function or functools.partial).
EnvFactory = Callable[[int], Any]


@dataclass(frozen=True)
class EnvSpec:
    """The sizes the networks and the buffer are built for."""

    agents: tuple[str, ...]
    """Agent names in the fixed order used for every array's agent axis."""
    obs_dim: int
    """Length of each agent's observation vector."""
    state_dim: int
    """Length of the global state vector."""
    n_actions: int
    """Discrete actions per agent."""

    @property
    def n_agents(self) -> int:
        """Number of agents N."""
        return len(self.agents)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for checkpoints."""
        return {
            "agents": list(self.agents),
            "obs_dim": self.obs_dim,
            "state_dim": self.state_dim,
            "n_actions": self.n_actions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tuple(str(a) for a in data["agents"]), int(data["obs_dim"]), int(data["state_dim"]), int(data["n_actions"])
        )


@dataclass
class StepArrays:
    """What the learner needs from one reset or step, stacked over agents."""

    obs: np.ndarray
    """[N, obs_dim] float32."""
    avail: np.ndarray
    """[N, n_actions] bool."""
    state: np.ndarray
    """[state_dim] float32."""
    reward: float = 0.0
    """Team reward of the step (mean over agents)."""
    terminated: bool = False
    """The episode ended for good (no bootstrap)."""
    truncated: bool = False
    """The episode was cut by a time limit (bootstrap from the last state)."""
    expert: np.ndarray | None = None
    """[N] int: the env's suggested action per agent (``infos[agent]["expert_action"]``), -1 where none."""
    expert_alt: np.ndarray | None = None
    """[N] int: a second action the env's teacher accepts (``infos[agent]["expert_alternative"]``), -1 where
    none; None when the teacher names none at all."""
    duration: float = 1.0
    """Elapsed time the step covered (``infos[agent]["duration"]``, in the env's unit); 1.0 when not reported."""

    @property
    def done(self) -> bool:
        """The episode is over either way."""
        return self.terminated or self.truncated


class EnvAdapter:
    """Wraps one ParallelEnv: checks the contract and converts dicts to stacked arrays."""

    def __init__(self, env: Any, *, probe_seed: int = 0) -> None:
        """Check the spaces, and reset once with ``probe_seed`` to learn the state size."""
        self.env = env
        self.source = f"env {type(env).__name__}"
        agents = tuple(getattr(env, "possible_agents", ()) or ())
        if not agents:
            raise QlogError("env.possible_agents must list at least one agent", source=self.source)
        obs_dims, n_actions = set(), set()
        for agent in agents:
            obs_space = env.observation_space(agent)
            if not isinstance(obs_space, spaces.Dict) or {"observation", "action_mask"} - set(obs_space.spaces):
                raise QlogError(
                    f"observation_space({agent!r}) must be a Dict with 'observation' and 'action_mask' keys",
                    source=self.source,
                )
            obs_dims.add(int(np.prod(obs_space["observation"].shape)))
            action_space = env.action_space(agent)
            if not isinstance(action_space, spaces.Discrete):
                raise QlogError(f"action_space({agent!r}) must be Discrete, got {action_space}", source=self.source)
            n_actions.add(int(action_space.n))
        if len(obs_dims) != 1 or len(n_actions) != 1:
            raise QlogError("all agents must share one observation length and one action count", source=self.source)
        self._agents = agents
        self._obs_dim, self._n_actions = obs_dims.pop(), n_actions.pop()
        self._state_dim: int | None = None  # learnt from the probe reset, then enforced
        first = self.reset(probe_seed)
        self._state_dim = int(first.state.shape[0])
        self.spec = EnvSpec(agents, self._obs_dim, self._state_dim, self._n_actions)

    def reset(self, seed: int) -> StepArrays:
        """Reset with an explicit seed (episodes are reproducible from their seed alone)."""
        observations, infos = self.env.reset(seed=int(seed))
        arrays = self._stack(observations, done=False)
        arrays.expert = self._expert(infos, arrays, "expert_action")
        arrays.expert_alt = self._expert(infos, arrays, "expert_alternative")
        self._check_valid_action(arrays, "reset")
        return arrays

    def step(self, actions: np.ndarray) -> StepArrays:
        """Apply one action per agent (in ``spec.agents`` order)."""
        action_dict = {agent: int(a) for agent, a in zip(self._agents, actions, strict=True)}
        observations, rewards, terminations, truncations, infos = self.env.step(action_dict)
        terminated = any(bool(terminations.get(a, False)) for a in self._agents)
        truncated = any(bool(truncations.get(a, False)) for a in self._agents) and not terminated
        arrays = self._stack(observations, done=terminated or truncated)
        arrays.expert = self._expert(infos, arrays, "expert_action")
        arrays.expert_alt = self._expert(infos, arrays, "expert_alternative")
        arrays.reward = float(np.mean([float(rewards.get(a, 0.0)) for a in self._agents]))
        arrays.terminated, arrays.truncated = terminated, truncated
        arrays.duration = self._duration(infos)
        if not arrays.done:
            self._check_valid_action(arrays, "step")
        return arrays

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()

    def _expert(self, infos: Any, arrays: StepArrays, key: str) -> np.ndarray | None:
        """Suggested actions from ``infos[agent][key]``; invalid or missing ones become -1."""
        if not isinstance(infos, dict) or not any(
            isinstance(infos.get(a), dict) and key in infos[a] for a in self._agents
        ):
            return None
        expert = np.full(len(self._agents), -1, dtype=np.int64)
        for i, agent in enumerate(self._agents):
            action = (infos.get(agent) or {}).get(key, -1)
            if 0 <= int(action) < self._n_actions and arrays.avail[i, int(action)]:
                expert[i] = int(action)
        return expert

    def _duration(self, infos: Any) -> float:
        """The step's ``infos[agent]["duration"]``: one finite float >= 0 shared by the agents that report it."""
        if not isinstance(infos, dict):
            return 1.0
        reported = {
            agent: infos[agent]["duration"]
            for agent in self._agents
            if isinstance(infos.get(agent), dict) and "duration" in infos[agent]
        }
        if not reported:
            return 1.0
        try:
            values = {float(value) for value in reported.values()}
        except (TypeError, ValueError):
            raise QlogError(f"infos[agent]['duration'] must be a number, got {reported}", source=self.source) from None
        if len(values) != 1:
            raise QlogError(f"agents reported different step durations {reported}; a step lasts equally long for every agent",
                            source=self.source)
        duration = values.pop()
        if not math.isfinite(duration) or duration < 0.0:
            raise QlogError(f"infos[agent]['duration'] must be a finite number >= 0, got {duration}",
                            source=self.source)
        return duration

    def _stack(self, observations: dict[str, Any], *, done: bool) -> StepArrays:
        state = np.asarray(self.env.state(), dtype=np.float32).reshape(-1)
        if self._state_dim is not None and state.shape[0] != self._state_dim:
            raise QlogError(f"state() changed length from {self._state_dim} to {state.shape[0]}", source=self.source)
        try:  # the common case in one stacking call per field; anything unusual takes the checked path
            entries = [observations[agent] for agent in self._agents]
            obs = np.stack([entry["observation"] for entry in entries]).astype(np.float32, copy=False)
            masks = np.stack([entry["action_mask"] for entry in entries])
            if obs.shape == (len(self._agents), self._obs_dim) and masks.shape == (len(self._agents), self._n_actions):
                return StepArrays(obs=obs, avail=masks != 0, state=state)
        except (KeyError, TypeError, ValueError, IndexError):
            pass
        return self._stack_checked(observations, state, done=done)

    def _stack_checked(self, observations: dict[str, Any], state: np.ndarray, *, done: bool) -> StepArrays:
        """Agent by agent, naming the agent whose entry breaks the contract."""
        obs = np.zeros((len(self._agents), self._obs_dim), dtype=np.float32)
        avail = np.zeros((len(self._agents), self._n_actions), dtype=bool)
        for i, agent in enumerate(self._agents):
            entry = observations.get(agent)
            if entry is None and done:
                continue  # some envs drop agents from the final observation; nothing is chosen there
            if not isinstance(entry, dict) or "observation" not in entry or "action_mask" not in entry:
                raise QlogError(
                    f"observation of {agent!r} must be a dict with 'observation' and 'action_mask'",
                    source=self.source,
                )
            vector = np.asarray(entry["observation"], dtype=np.float32).reshape(-1)
            mask = np.asarray(entry["action_mask"]).reshape(-1)
            if vector.shape[0] != self._obs_dim or mask.shape[0] != self._n_actions:
                raise QlogError(
                    f"{agent!r} sent an observation of length {vector.shape[0]} and a mask of length "
                    f"{mask.shape[0]}; the spaces say {self._obs_dim} and {self._n_actions}",
                    source=self.source,
                )
            obs[i], avail[i] = vector, mask != 0
        return StepArrays(obs=obs, avail=avail, state=state)

    def _check_valid_action(self, arrays: StepArrays, where: str) -> None:
        stuck = ~arrays.avail.any(axis=1)
        if stuck.any():
            agent = self._agents[int(np.argmax(stuck))]
            raise QlogError(
                f"{agent!r} has no valid action after {where}; every live agent needs one", source=self.source
            )
