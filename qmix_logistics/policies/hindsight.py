"""The hindsight bound: plan the whole day once, knowing every order in advance, then carry it out.

This is **not a dispatcher**: at ``reset`` it reads the day's full order stream (``world.orders``,
orders that have not arrived yet included), which no real dispatcher can know. It answers "what
would this day cost with perfect foresight?", the headroom every real policy is measured against
in ``qlog eval --policies ...,hindsight``. Reports label it ``hindsight-bound`` and mark it with
``is_bound = True``.

How: :func:`~qmix_logistics.policies.full_day.build_full_day` turns the day into one
pickup-and-delivery problem (exact ready times from the picker queue, true prices, dock contention
ignored: see that module). OR-Tools solves it once, for ``time_limit_s`` seconds (60 by default),
starting from the cheapest of the days the ``seed_rules`` play on the same seed, turned into routes.
Without such a start the search goes nowhere on a whole day: on depot.yaml, seed 900, 20 s from
OR-Tools' own start (parallel cheapest insertion) ended with 5,000 late minutes (1,000 money),
dearer than even the greedy rule's day; from the batching rule's day the same search ends below
that day, and the search can never end above its start. The vehicles then follow the plan in the
simulator with the rolling horizon's route following (:class:`RollingHorizonPolicy`), extended to
orders that have not arrived yet: a vehicle whose next stop is such a pickup goes to (or waits at)
the warehouse. The plan is never revised.

What the row means: the KPIs come from the simulator's own accounting, like every other row, so
they are the cost of one *achievable* day. It is a bound in the practical sense (a good
full-information plan, typically well below any online policy), not a certified optimum: a longer
search can find a cheaper plan, and docks the plan ignored can make the simulated day dearer than
the plan (``stats.planned_total_cost`` is the plan's own figure, in the simulator's terms).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.planning.engines import plan
from qmix_logistics.planning.ortools_settings import OrToolsSettings
from qmix_logistics.planning.problem import Plan, PlanStatus, Problem, StopKind
from qmix_logistics.planning.schedule import build_plan
from qmix_logistics.policies.base import Policy
from qmix_logistics.policies.batching import BatchingPolicy
from qmix_logistics.policies.full_day import FullDay, build_full_day
from qmix_logistics.policies.heuristics import GreedyPolicy
from qmix_logistics.policies.rolling_horizon import (
    PlannerStats,
    RollingHorizonConfig,
    RollingHorizonPolicy,
    onboard_only_plan,
)
from qmix_logistics.sim.world import Command, OrderState, World

NAME = "hindsight-bound"
_FUTURE, _PICKING, _READY = int(OrderState.FUTURE), int(OrderState.PICKING), int(OrderState.READY)
SEED_RULES = {"greedy": GreedyPolicy, "batching": BatchingPolicy}
"""Rules whose simulated day can start the full-day search, by name."""


@dataclass(frozen=True)
class HindsightConfig:
    """Knobs of the full-information plan. ``qlog eval --planner-time-limit`` does not apply here:
    it sets the rolling-horizon planners' per-re-plan budget, while the bound keeps its own."""

    time_limit_s: float = 60.0
    """Wall seconds of the one OR-Tools search over the whole day."""
    seed_rules: tuple[str, ...] = ("batching", "greedy")
    """Rules played on the same seed (in a private world) whose day, as routes, may start the
    search; the one the full-day problem prices cheapest is used. Empty: OR-Tools' own start."""
    ortools_workers: int = 1
    """OR-Tools searches side by side; only the first starts from the rules' day, the others from
    their own construction, which on a whole day is rarely competitive (see the module notes)."""
    picking_wait_min: float = 1.0
    """How long a vehicle at the warehouse waits for a planned order not ready yet (it is woken
    as soon as any order becomes ready, so this only bounds the wait)."""
    idle_wait_min: float | None = None
    """Wait of a vehicle with nothing left to do (None: the scenario's ``wait_min``)."""


@dataclass
class HindsightStats(PlannerStats):
    """What the full-day plan of the last episode looked like (``plans`` is 1 after a reset)."""

    seed_rule: str | None = None
    """The rule whose day started the search (None: OR-Tools' own start)."""
    seed_total_cost: float = float("nan")
    """That day as priced by the full-day problem, in the simulator's terms (see below)."""
    seed_s: float = 0.0
    """Wall seconds spent playing the rules' days."""
    planned_total_cost: float = float("nan")
    """The plan's cost in the simulator's terms: km + lateness + drops − revenue, docks ignored."""
    planned_dropped: int = 0
    """Orders the plan leaves out, the hopeless ones (no deadline can be met) included."""


def rule_day_plan(env: DispatchEnv, seed: int, rule: Policy, day: FullDay) -> Plan:
    """The day ``rule`` plays on ``seed`` (in a private env) as a plan of the full-day problem.

    Each vehicle's loads and deliveries become its stops in the order they happened; orders the
    rule loaded but never delivered, and orders it never loaded, are left out. The plan is timed
    on the problem (as early as possible, no docks), so its status says whether it can seed a search.
    """
    private = DispatchEnv(env.scenario, env.net, record_events=True)
    private.reset(seed=seed)
    rule.reset(private, seed)
    done = private.done
    while not done:
        _, _, _, done, _ = private.step_commands(rule.act(private))
    events = private.world.events
    delivered = {o for _, kind, _, o, _ in events if kind == "deliver"} & day.planned_orders
    sequences: dict[int, list[tuple[int, StopKind]]] = {}
    for _, kind, v, o, _ in events:
        if o in delivered and kind in ("load", "deliver"):
            sequences.setdefault(v, []).append((o, StopKind.PICKUP if kind == "load" else StopKind.DELIVERY))
    problem = day.problem
    dropped = [t.id for t in problem.tasks if t.id not in delivered]
    return build_plan(problem, [sequences.get(int(v.id), []) for v in problem.vehicles], dropped,
                      engine=f"rule:{getattr(rule, 'name', type(rule).__name__)}", wall_time_s=0.0)


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
        for name in hindsight.seed_rules:
            if name not in SEED_RULES:
                raise QlogError(f"unknown rule {name!r}; choose from {sorted(SEED_RULES)}", field="seed_rules")
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

    @property
    def plan(self) -> Plan | None:
        """The full-day plan of the current episode (None before the first reset)."""
        return self._plan

    def reset(self, env: DispatchEnv, seed: int) -> None:
        """Build the whole day's problem from the order stream and solve it once."""
        super().reset(env, seed)
        w = env.world
        assert w is not None, "call env.reset() first"
        self.day = day = build_full_day(w, self.config.snapshot)
        problem, stats = day.problem, self.stats
        stats.plans, stats.tasks = 1, len(problem.tasks)
        started = time.perf_counter()
        seed_plan = self._seed_plan(env, seed, day)
        stats.seed_s = time.perf_counter() - started
        started = time.perf_counter()
        result = self._solve_day(problem, seed_plan)
        if result.status is PlanStatus.NO_SOLUTION:
            stats.retries += 1  # start again from the plan that leaves every order out
            result = self._solve_day(problem, onboard_only_plan(problem, self.engine))
        stats.solve_s = time.perf_counter() - started
        if result.status is PlanStatus.NO_SOLUTION:
            stats.failures += 1
            result = seed_plan or onboard_only_plan(problem, self.engine)
        stats.infeasible = int(result.status is PlanStatus.INFEASIBLE)
        stats.planned_total_cost, stats.planned_dropped = simulator_cost(w, day, result)
        self._plan = result
        self._routes = {int(v): [(int(o), kind) for o, kind in seq] for v, seq in result.task_sequences().items()}

    def _seed_plan(self, env: DispatchEnv, seed: int, day: FullDay) -> Plan | None:
        """The cheapest feasible rule day, as a plan (None without seed rules or feasible days)."""
        best: Plan | None = None
        for name in self.hindsight.seed_rules:
            candidate = rule_day_plan(env, seed, SEED_RULES[name](), day)
            if candidate.status is PlanStatus.FEASIBLE and (best is None or candidate.cost.total < best.cost.total):
                best, self.stats.seed_rule = candidate, name
        if best is not None:
            self.stats.seed_total_cost, _ = simulator_cost(env.world, day, best)
        return best

    def _solve_day(self, problem: Problem, warm_start: Plan | None) -> Plan:
        settings = OrToolsSettings(workers=self.hindsight.ortools_workers)
        return plan(problem, engine="ortools", time_limit_s=self.hindsight.time_limit_s,
                    warm_start=warm_start, settings=settings)

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
