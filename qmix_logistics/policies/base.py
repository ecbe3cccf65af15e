"""The one policy protocol that simulate, eval and serve use for every dispatcher, and what a policy fits.

A policy sees the env (and through it whatever it is entitled to: learned policies read only each
agent's observation and mask, centralized planners read the world) and returns one command per
deciding vehicle. Commands are the simulator's vocabulary; discrete actions map onto them.

A policy that acts on discrete actions was trained for one shape of problem: a fleet size, an observation
of so many floats laid out in one way, and actions with fixed meanings. :class:`PolicySpec` records that
shape, and :func:`check_compatible` is the one check, used in process, by the remote client and by the
server, that refuses a policy on an env of another shape instead of letting it misread its inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import OBSERVATION_LAYOUT, DispatchEnv
from qmix_logistics.sim.world import Command


@runtime_checkable
class Policy(Protocol):
    """Anything that can dispatch a fleet for a day."""

    name: str

    def reset(self, env: DispatchEnv, seed: int) -> None:
        """Called once after ``env.reset(seed)``, before the first decision."""

    def act(self, env: DispatchEnv) -> dict[int, Command]:
        """Commands for the vehicles that must decide now (missing vehicles wait)."""

    def close(self) -> None:
        """Release what the policy holds (connections, solver processes); called once after the last day."""


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


@dataclass(frozen=True)
class PolicySpec:
    """The shape of problem a discrete-action policy was trained for (or that an env poses)."""

    scenario: str | None
    """Name of the scenario; informative only (a policy may run on variants of its scenario)."""
    observation_size: int
    """Floats in one vehicle's observation."""
    n_agents: int
    """Vehicles in the fleet."""
    action_meanings: tuple[str, ...]
    """What each action index means, in index order (``wait``, ``home``, ``pickup slot 0``, ...)."""
    observation_layout: str
    """Version and summary of how the observation floats are laid out (``env.OBSERVATION_LAYOUT``)."""

    @property
    def n_actions(self) -> int:
        """Number of discrete actions."""
        return len(self.action_meanings)

    @classmethod
    def of_env(cls, env: DispatchEnv) -> PolicySpec:
        """The spec an env poses: its fleet, observation size, actions and this version's layout."""
        return cls(scenario=env.scenario.name, observation_size=int(env.obs_size), n_agents=int(env.n_agents),
                   action_meanings=tuple(env.action_meanings()), observation_layout=OBSERVATION_LAYOUT)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (checkpoint metadata, ``GET /v1/policy``)."""
        return {"scenario": self.scenario, "observation_size": self.observation_size, "n_agents": self.n_agents,
                "action_meanings": list(self.action_meanings), "observation_layout": self.observation_layout}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> PolicySpec:
        """Read :meth:`to_dict`'s keys (other keys are ignored); QlogError naming a missing or bad key."""
        if not isinstance(data, Mapping):
            raise QlogError(f"expected a mapping, got {type(data).__name__}", source=source, field="policy_spec")
        for key in ("observation_size", "n_agents", "action_meanings", "observation_layout"):
            if key not in data:
                raise QlogError("missing", source=source, field=key)
        sizes = {}
        for key in ("observation_size", "n_agents"):
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise QlogError(f"expected a positive integer, got {value!r}", source=source, field=key)
            sizes[key] = value
        meanings = data["action_meanings"]
        if isinstance(meanings, str) or not isinstance(meanings, Sequence) or not meanings \
                or not all(isinstance(m, str) for m in meanings):
            raise QlogError("expected a non-empty list of strings", source=source, field="action_meanings")
        layout, scenario = data["observation_layout"], data.get("scenario")
        if not isinstance(layout, str):
            raise QlogError(f"expected a string, got {layout!r}", source=source, field="observation_layout")
        if scenario is not None and not isinstance(scenario, str):
            raise QlogError(f"expected a string or null, got {scenario!r}", source=source, field="scenario")
        return cls(scenario=scenario, action_meanings=tuple(meanings), observation_layout=layout, **sizes)


def check_compatible(spec_of_policy: PolicySpec, spec_of_env: PolicySpec, *, source: str | None = None) -> None:
    """Refuse a policy whose fleet, observation size, actions or observation layout differ from the env's.

    The QlogError (field ``--policy``, ``source`` naming the checkpoint or server) lists every difference,
    so one run tells the user everything that would have to change. The scenario name is not compared.
    """
    p, e = spec_of_policy, spec_of_env
    differences = []
    if p.n_agents != e.n_agents:
        differences.append(f"{p.n_agents} vehicles (this scenario has {e.n_agents})")
    if p.observation_size != e.observation_size:
        differences.append(f"{p.observation_size} observation floats (this scenario builds {e.observation_size})")
    if p.n_actions != e.n_actions:
        differences.append(f"{p.n_actions} actions (this scenario has {e.n_actions})")
    elif p.action_meanings != e.action_meanings:
        a = next(i for i, (x, y) in enumerate(zip(p.action_meanings, e.action_meanings)) if x != y)
        differences.append(f"action {a} meaning {p.action_meanings[a]!r} (here it means {e.action_meanings[a]!r})")
    if p.observation_layout != e.observation_layout:
        differences.append(f"observation layout {p.observation_layout!r} (this version builds "
                           f"{e.observation_layout!r}: retrain with qlog train)")
    if differences:
        raise QlogError("the policy was trained for " + "; ".join(differences), source=source, field="--policy")
