"""The hindsight bound: the best full-information day a time-limited search finds, never worse than the online planner.

This is **not a dispatcher**: at ``reset`` it reads the day's full order stream (``world.orders``,
orders that have not arrived yet included), which no real dispatcher can know. It answers "what
would this day cost with foresight?", the headroom every real policy is measured against in
``qlog eval --policies ...,hindsight``. Reports label it ``hindsight-bound`` and mark it with
``is_bound = True``.

What it is: the cheapest day, in the simulator's own accounting, among

1. the **start days**: the online rolling-horizon planner (``ortools``) and the batching and
   greedy rules, each played on the same seed in a private env
   (:mod:`~qmix_logistics.policies.played_day`);
2. the **full-day plan**: :func:`~qmix_logistics.policies.full_day.build_full_day` turns the day
   into one pickup-and-delivery problem (exact ready times, true prices, docks ignored), and
   OR-Tools searches it for ``time_limit_s`` (60 s by default) from the start day that problem
   prices cheapest; the vehicles then follow the plan (the rolling horizon's route following,
   extended to orders that have not arrived yet: a vehicle whose next stop is such a pickup goes
   to, or waits at, the warehouse; a vehicle done for the day stays where it is; the plan is never
   revised).

Every candidate is played in private and the chosen one is carried out again by replaying its
commands, which the deterministic simulator repeats exactly. So the row is one *achievable* day,
and by construction it is never dearer than the online planner's day on that seed (its own
private play: a planner searching for wall-clock time does not repeat itself, so the eval's
``ortools`` row is another play of the same day and can differ by its noise). It is an upper
estimate of what full information allows, not a certified optimum: a longer search finds cheaper
plans, and the plan ignores dock queues, which the simulator then charges for.

Why it starts from played days: a whole day is a large problem (about 300 pickup-and-delivery
pairs on depot.yaml) and the search is still in its first descent after a minute. From OR-Tools'
own start (parallel cheapest insertion) 20 s ended with 5,000 late minutes on depot.yaml, seed
900, dearer than even the greedy rule; from the online planner's day (−2,144 as a plan) 60 s ended
at −2,183, and the simulator carried that plan out at −2,183 (see README_baselines.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.planning.engines import plan
from qmix_logistics.planning.ortools_settings import OrToolsSettings
from qmix_logistics.planning.problem import Plan, PlanStatus, Problem, StopKind
from qmix_logistics.policies.base import Policy
from qmix_logistics.policies.batching import BatchingPolicy
from qmix_logistics.policies.full_day import FullDay, build_full_day
from qmix_logistics.policies.heuristics import GreedyPolicy
from qmix_logistics.policies.played_day import PlayedDay, ReplayedDay, play_day
from qmix_logistics.policies.rolling_horizon import (
    PlannerStats,
    RollingHorizonConfig,
    RollingHorizonPolicy,
    onboard_only_plan,
)
from qmix_logistics.sim.world import Command, OrderState, Wait, World

NAME = "hindsight-bound"
PLAN = "plan"
"""Name of the full-day plan among the candidate days."""
_FUTURE, _PICKING, _READY = int(OrderState.FUTURE), int(OrderState.PICKING), int(OrderState.READY)
START_DAYS: dict[str, Callable[[RollingHorizonConfig], Policy]] = {
    "ortools": lambda online: RollingHorizonPolicy("ortools", online),
    "pyvrp": lambda online: RollingHorizonPolicy("pyvrp", online),
    "batching": lambda _online: BatchingPolicy(),
    "greedy": lambda _online: GreedyPolicy(),
}
"""Policies whose day on the same seed can start the search, by name; the planners get the online
config (the tuned defaults, with ``qlog eval --planner-time-limit`` applied)."""


@dataclass(frozen=True)
class HindsightConfig:
    """Knobs of the bound. ``qlog eval --planner-time-limit`` sets the per-re-plan search of the online
    start day (as for the ``ortools`` row), never ``time_limit_s``."""

    time_limit_s: float = 60.0
    """Wall seconds of the one OR-Tools search over the whole day. Still in its first descent at
    60 s on depot.yaml (it keeps improving to 120 s and beyond); a longer search only lowers the row."""
    start_days: tuple[str, ...] = ("ortools", "batching", "greedy")
    """Policies played on the same seed (in private envs): candidates for the day carried out, and
    the one the full-day problem prices cheapest starts the search. Empty: OR-Tools' own start."""
    ortools_workers: int = 1
    """OR-Tools searches side by side; only the first starts from the start day, the others from
    their own construction, which on a whole day is never competitive (see the module notes)."""
    picking_wait_min: float = 1.0
    """How long a vehicle at the warehouse waits for a planned order not ready yet (it is woken
    as soon as any order becomes ready, so this only bounds the wait)."""
    idle_wait_min: float | None = None
    """Wait of a vehicle with nothing left to do (None: the scenario's ``wait_min``)."""


@dataclass
class HindsightStats(PlannerStats):
    """What the bound did in the last episode (``plans`` is 1 after a reset). Costs are totals in the
    simulator's terms (km + lateness + drops − revenue, the scenario's currency)."""

    start_day: str | None = None
    """The played day whose routes started the search (None: OR-Tools' own start)."""
    start_planned_cost: float = float("nan")
    """That day as priced by the full-day problem (docks ignored, no drive home at the end)."""
    day_costs: dict[str, float] = field(default_factory=dict)
    """Simulated total cost of each candidate day, the followed plan (``plan``) included."""
    days_s: float = 0.0
    """Wall seconds spent playing the start days and following the plan in private."""
    start_kept: bool = False
    """The search returned nothing cheaper than its start (e.g. the start did not fit OR-Tools'
    integer model), so the start day's routes are the plan."""
    planned_total_cost: float = float("nan")
    """The full-day plan's own cost: docks ignored, so at most what following it costs."""
    planned_dropped: int = 0
    """Orders the plan leaves out, the hopeless ones (no deadline can be met) included."""
    carried_out: str | None = None
    """The candidate day replayed in the episode: ``plan`` or a start day's name."""


def simulator_cost(world: World, day: FullDay, result: Plan) -> tuple[float, int]:
    """The plan's total cost as the simulator counts it, and the orders it leaves out.

    The problem prices a drop at ``drop_penalty + revenue`` (weights aside) because dropping forgoes
    the revenue; the simulator charges the penalty and credits revenue per delivery instead.
    """
    costs = world.scenario.costs
    dropped = len(result.dropped) + len(world.orders) - len(day.planned_orders)
    delivered = len(world.orders) - dropped
    total = (result.cost.distance_cost + result.cost.lateness_min * costs.lateness_per_min
             + dropped * costs.drop_penalty - delivered * costs.revenue_per_order)
    return float(total), dropped


class _PlanFollower:
    """The bound's route following as a policy of its own, to play the plan in a private env."""

    name = PLAN

    def __init__(self, bound: HindsightPolicy) -> None:
        self.bound = bound

    def reset(self, env: DispatchEnv, seed: int) -> None:
        """Nothing to do: the plan is fixed and following it keeps no state."""

    def act(self, env: DispatchEnv) -> dict[int, Command]:
        return self.bound.follow(env)


class HindsightPolicy(RollingHorizonPolicy):
    """Full-information reference behind the :class:`Policy` protocol (see the module notes)."""

    is_bound = True
    """Marks a row that is not a policy: eval reports label it as a bound."""

    def __init__(self, config: HindsightConfig | None = None, **overrides: object) -> None:
        known = {f.name for f in fields(HindsightConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown HindsightPolicy options: {unknown}")
        hindsight = replace(config or HindsightConfig(), **overrides)  # type: ignore[arg-type]
        for name in hindsight.start_days:
            if name not in START_DAYS:
                raise QlogError(f"unknown start day {name!r}; choose from {sorted(START_DAYS)}",
                                field="start_days")
        if hindsight.time_limit_s <= 0:
            raise QlogError("the time limit must be positive", field="time_limit_s")
        self.hindsight = hindsight
        super().__init__("ortools", RollingHorizonConfig(picking_wait_min=hindsight.picking_wait_min,
                                                         idle_wait_min=hindsight.idle_wait_min))
        self.name = NAME
        self.day: FullDay | None = None

    def _start_episode(self) -> None:
        super()._start_episode()
        self.stats = HindsightStats()
        self._replay: ReplayedDay | None = None

    @property
    def plan(self) -> Plan | None:
        """The full-day plan of the current episode (None before the first reset)."""
        return self._plan

    def online_config(self) -> RollingHorizonConfig:
        """How the online planners play their start days: the tuned defaults at this policy's
        per-re-plan time limit and search budget (which ``qlog eval --planner-time-limit`` and
        ``--planner-budget`` set; the full-day search itself always ends at ``time_limit_s``)."""
        return RollingHorizonConfig(time_limit_s=self.config.time_limit_s, search_budget=self.config.search_budget)

    def reset(self, env: DispatchEnv, seed: int) -> None:
        """Play the start days, search the whole day from the cheapest, keep the cheapest day played."""
        super().reset(env, seed)
        w = env.world
        assert w is not None, "call env.reset() first"
        self.day = day = build_full_day(w, self.config.snapshot)
        problem, stats = day.problem, self.stats
        stats.plans, stats.tasks = 1, len(problem.tasks)
        started = time.perf_counter()
        days = [play_day(env, seed, START_DAYS[name](self.online_config()), day, name)
                for name in self.hindsight.start_days]
        stats.days_s = time.perf_counter() - started
        start = self._start(w, day, days)
        started = time.perf_counter()
        result = self._solve_day(problem, start.plan if start else None)
        if result.status is PlanStatus.NO_SOLUTION and start is None:
            stats.retries += 1  # start again from the plan that leaves every order out
            result = self._solve_day(problem, onboard_only_plan(problem, self.engine))
        stats.solve_s = time.perf_counter() - started
        if start is not None and (result.status is not PlanStatus.FEASIBLE
                                  or result.cost.total > start.plan.cost.total):
            stats.start_kept, result = True, start.plan
        if result.status is PlanStatus.NO_SOLUTION:
            stats.failures += 1
            result = onboard_only_plan(problem, self.engine)
        stats.infeasible = int(result.status is PlanStatus.INFEASIBLE)
        stats.planned_total_cost, stats.planned_dropped = simulator_cost(w, day, result)
        self._plan = result
        self._routes = {int(v): [(int(o), kind) for o, kind in seq] for v, seq in result.task_sequences().items()}
        started = time.perf_counter()
        days.append(play_day(env, seed, _PlanFollower(self), day, PLAN))
        stats.days_s += time.perf_counter() - started
        stats.day_costs = {d.name: d.total_cost for d in days}
        best = min(days, key=lambda d: d.total_cost)  # ties: the start days, in the order given
        stats.carried_out = best.name
        self._replay = ReplayedDay(best)

    def _start(self, w: World, day: FullDay, days: list[PlayedDay]) -> PlayedDay | None:
        """The played day the full-day problem prices cheapest among those that fit it (None: none)."""
        fitting = [d for d in days if d.plan.status is PlanStatus.FEASIBLE]
        if not fitting:
            return None
        start = min(fitting, key=lambda d: d.plan.cost.total)
        self.stats.start_day = start.name
        self.stats.start_planned_cost, _ = simulator_cost(w, day, start.plan)
        return start

    def _solve_day(self, problem: Problem, warm_start: Plan | None) -> Plan:
        settings = OrToolsSettings(workers=self.hindsight.ortools_workers)
        return plan(problem, engine="ortools", time_limit_s=self.hindsight.time_limit_s,
                    warm_start=warm_start, settings=settings)

    def act(self, env: DispatchEnv) -> dict[int, Command]:
        """The chosen day's commands, replayed step by step."""
        assert self._replay is not None, "call reset() first"
        return self._replay.act(env)

    def follow(self, env: DispatchEnv) -> dict[int, Command]:
        """Commands that carry out the full-day plan now (how the ``plan`` candidate is played)."""
        return super().act(env)

    def _replan_due(self, w: World) -> bool:
        return False  # the day was planned at reset, with everything there is to know

    def _next_command(self, w: World, v: int) -> Command:
        """The rolling horizon's route following, plus pickups of orders that have not arrived yet.

        When the first stop still to do is such a pickup, the run of pickups at its warehouse is
        handled as one still being picked: load whatever of it is ready, else go home (when that
        is the warehouse) or wait there.
        """
        route = self._routes.get(v, []) if self._routes is not None else []
        for i, (o, kind) in enumerate(route):
            if kind is StopKind.PICKUP:
                if w.state[o] == _FUTURE:
                    return self._pickup(w, v, route, i)
                if w.state[o] in (_READY, _PICKING):
                    break
            elif o in w.onboard[v]:
                break
        return super()._next_command(w, v)

    def _idle(self, w: World, v: int) -> Command:
        """As the rolling horizon's, except that a vehicle done for the day stays where it is.

        The plan covers the whole day, so a vehicle with nothing on board and no stop of its route
        left has no more work: nothing in the simulator's accounting asks it home, and the plan's
        open routes do not count that drive (on depot.yaml, seed 900, it made the day 38 dearer than the plan).
        """
        route = self._routes.get(v, []) if self._routes is not None else []
        work_left = any(w.state[o] in (_FUTURE, _PICKING, _READY) if kind is StopKind.PICKUP
                        else o in w.onboard[v] for o, kind in route)
        if not w.onboard[v] and not work_left:
            return Wait(float(w.fleet.shift_end[v] - w.now))
        return super()._idle(w, v)
