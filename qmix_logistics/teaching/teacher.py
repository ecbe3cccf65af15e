"""Teachers: dispatchers whose decisions a learned vehicle imitates, as labels in its own action space.

A teacher is a callable ``teacher(env) -> [n_agents] actions``. The batching rule already speaks the
vehicles' action space. A rolling-horizon planner speaks in commands for the whole fleet; each
deciding vehicle's label is its next command in the current plan, mapped onto that vehicle's own
actions (:meth:`DispatchEnv.command_to_action`). Where the vehicle cannot say it (the order is not in
one of its slots, or the action is masked) the label is -1, and :class:`Coverage` counts why, so
users see how much of the planner the action space can express.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.batching import batching_actions
from qmix_logistics.policies.rolling_horizon import RollingHorizonConfig, RollingHorizonPolicy
from qmix_logistics.sim.world import Command, Deliver, Load, ReturnToDepot, Wait

TEACHERS = ("batching", "ortools", "pyvrp", "none")


@dataclass
class Coverage:
    """How the teacher's decisions for deciding vehicles fall into the vehicles' action space."""

    counts: Counter = field(default_factory=Counter)

    def add(self, env: DispatchEnv, v: int, command: Command, action: int) -> None:
        self.counts[_category(env, v, command, action)] += 1

    def merge(self, other: "Coverage") -> None:
        self.counts.update(other.counts)

    @property
    def decisions(self) -> int:
        return int(sum(self.counts.values()))

    @property
    def inexpressible(self) -> int:
        return int(sum(n for k, n in self.counts.items() if k.endswith(")")))

    @property
    def inexpressible_share(self) -> float:
        """Share of decisions the vehicle's action space cannot express (0 when there were none)."""
        return self.inexpressible / self.decisions if self.decisions else 0.0

    def rows(self) -> list[tuple[str, int, float]]:
        """(category, count, share) rows, most frequent first; inexpressible ones end in ``(...)``."""
        total = max(1, self.decisions)
        return [(k, n, n / total) for k, n in self.counts.most_common()]

    def to_dict(self) -> dict[str, int]:
        return dict(self.counts)


def _category(env: DispatchEnv, v: int, command: Command, action: int) -> str:
    if isinstance(command, Wait):
        return "wait" if action >= 0 else "wait (masked)"
    if isinstance(command, ReturnToDepot):
        return "return" if action >= 0 else "return (masked)"
    if isinstance(command, Load):
        if action >= 0:
            return "load"
        visible = bool(np.any(env.pending_ids[v] == command.order))
        return "load (masked)" if visible else "load (not in the visible slots)"
    if isinstance(command, Deliver):
        return "deliver" if action >= 0 else "deliver (not in the onboard slots)"
    raise TypeError(f"unknown command {command!r}")


class PlannerTeacher:
    """A rolling-horizon planner (OR-Tools or PyVRP) as a per-vehicle teacher.

    Calling it at a decision step re-plans when the planner's own rule says so and returns each
    vehicle's label: its planned next action, -1 where the action space cannot express it, 0 (the
    only valid action) for vehicles that are not deciding. A new day (a new ``env.world``) restarts
    the planner.
    """

    def __init__(self, engine: str = "ortools", config: RollingHorizonConfig | None = None) -> None:
        self.engine = engine
        self.planner = RollingHorizonPolicy(engine, config)
        self.coverage = Coverage()
        self._world: object | None = None

    def __call__(self, env: DispatchEnv) -> np.ndarray:
        return self.decide(env)[0]

    def decide(self, env: DispatchEnv, *, fresh: bool = False) -> tuple[np.ndarray, dict[int, Command]]:
        """The labels and the planner's own commands for the deciding vehicles; ``fresh`` plans from scratch
        at this state instead of following the plan of an earlier step (states the planner did not reach)."""
        w = env.world
        assert w is not None, "call env.reset() first"
        if w is not self._world or fresh:
            self.planner.reset(env, w.seed)
            self._world = w
        commands = self.planner.act(env)
        labels = np.zeros(env.n_agents, dtype=np.int64)
        for v in w.pending_decisions():
            command = commands.get(v, Wait())
            labels[v] = env.command_to_action(v, command)
            self.coverage.add(env, v, command, int(labels[v]))
        return labels, commands


def make_teacher(name: str, *, planner_time_limit_s: float | None = None, planner_search_budget: str = "time"):
    """The teacher called ``name`` (one of :data:`TEACHERS`); ``none`` gives None. A planner teacher searches
    ``planner_time_limit_s`` per re-plan (None: scaled) under ``planner_search_budget`` (time or work)."""
    if name == "none":
        return None
    if name == "batching":
        return batching_actions
    if name in ("ortools", "pyvrp"):
        return PlannerTeacher(name, RollingHorizonConfig(time_limit_s=planner_time_limit_s,
                                                         search_budget=planner_search_budget))
    raise QlogError(f"unknown teacher {name!r}; choose one of {', '.join(TEACHERS)}", field="--teacher")
