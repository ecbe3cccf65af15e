"""Rolling-horizon dispatch: re-plan the whole fleet with OR-Tools or PyVRP, then follow the plan.

This is a **centralized** baseline: every plan is built from the whole state (all vehicles, all
known orders, see :mod:`qmix_logistics.policies.snapshot`), whereas learned policies act on each
vehicle's local observation. Future orders are never looked at.

Loop: at a decision moment the policy re-plans when new orders arrived (at most once every
``min_replan_gap_min`` of simulated time), when the plan broke (an order did not fit), or when
``replan_every_min`` passed since the last plan; otherwise it keeps the plan. Each deciding vehicle
then takes the first stop of its route that is still actionable:

* a pickup of a READY order that fits → ``Load``; among consecutive pickups at one warehouse the
  first ready one goes first; an order still being picked → drive home to wait for it, or ``Wait``
  briefly at the warehouse (a vehicle is woken as soon as an order becomes ready);
* a delivery of an order on board → ``Deliver``;
* stops of orders that are gone (taken, delivered, dropped) are skipped;
* no stop left → deliver any order still on board, else drive home, else ``Wait``.

Commands are checked against the world first, so the policy never issues one ``World.apply``
rejects. If the engine finds no plan at all, the previous plan is kept; before the first plan the
greedy rule dispatches.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.planning.engines import ENGINES, plan
from qmix_logistics.planning.ortools_settings import OrToolsSettings
from qmix_logistics.planning.problem import Plan, PlanStatus, Problem, StopKind
from qmix_logistics.planning.schedule import build_plan
from qmix_logistics.policies.heuristics import GreedyPolicy
from qmix_logistics.policies.snapshot import Snapshot, SnapshotOptions, build_snapshot
from qmix_logistics.sim.world import (
    Command,
    Deliver,
    Load,
    OrderState,
    ReturnToDepot,
    Wait,
    World,
)

_PICKING, _READY = int(OrderState.PICKING), int(OrderState.READY)
Route = list[tuple[int, StopKind]]
SEARCH_BUDGETS = ("time", "work")
CLOCK_STOP_SHARE = 0.95
"""A search of ``search_budget: work`` that took this share of its clock or more was ended by the clock."""


def check_search_budget(budget: str, field_name: str = "search_budget") -> None:
    if budget not in SEARCH_BUDGETS:
        raise QlogError(f"unknown search budget {budget!r}; choose one of {', '.join(SEARCH_BUDGETS)}",
                        field=field_name)


@dataclass(frozen=True)
class WorkRate:
    """An engine's work per second of search on one core, as a function of the snapshot's size."""

    per_s: float
    """Work per second for a snapshot of ``RollingHorizonConfig.base_size`` tasks plus vehicles."""
    size_exponent: float
    """Work per second scales as (size / base_size) ** size_exponent beyond ``base_size`` (negative: a
    bigger snapshot's solutions and iterations take longer); smaller snapshots get ``per_s``."""


@dataclass(frozen=True)
class RollingHorizonConfig:
    """Knobs of the rolling-horizon loop; the defaults are the tuned ones (see README_baselines.md)."""

    time_limit_s: float | None = None
    """Engine search time per re-plan (seconds of wall clock); None scales it with each snapshot's size
    (:meth:`search_seconds`), so that large fleets are not starved by a budget tuned on small ones."""
    base_time_limit_s: float = 0.25
    """Search time of a snapshot up to ``base_size`` (depot.yaml: 0.5 and 1 s measured no better)."""
    base_size: int = 45
    """Tasks plus vehicles of a snapshot that ``base_time_limit_s`` serves (depot.yaml: about 33 + 10)."""
    size_exponent: float = 1.5
    """Search time grows as (size / base_size) ** size_exponent beyond ``base_size``: local search moves grow
    faster than the snapshot (at 50 vans, 8x the base time turned a losing planner into the best policy)."""
    max_time_limit_s: float = 10.0
    """Ceiling of the scaled search time per re-plan."""
    search_budget: str = "time"
    """What ends a re-plan's search. ``time``: its seconds of wall clock, so that a planner's day depends
    on the machine and its load. ``work``: a fixed amount of the engine's own work, its seconds times the
    engine's ``WorkRate`` for the snapshot's size, so that a day plays the same on every run, locally or on
    a Ray cluster; the clock then only stops a search that runs ``work_clock_factor`` times over its
    seconds (counted in ``PlannerStats.clock_stops``)."""
    ortools_rate: WorkRate = WorkRate(per_s=143.0, size_exponent=-1.24)
    """OR-Tools solutions per second of search: fitted over 642 re-plans of four depot.yaml days on one
    core of the 2-core reference machine (``benchmarks/bench_planner_work.py``)."""
    pyvrp_rate: WorkRate = WorkRate(per_s=1810.0, size_exponent=-1.73)
    """PyVRP iterations per second of search, fitted likewise over 637 re-plans."""
    work_clock_factor: float = 10.0
    """With ``search_budget: work``, the wall clock still stops a search after this many times its seconds."""
    replan_every_min: float = 10.0
    """Longest simulated time between two plans, even when nothing new happened."""
    min_replan_gap_min: float = 2.0
    """Shortest simulated time between plans triggered by new orders or a broken plan."""
    warm_start: bool = True
    """Seed each search with the previous plan's routes."""
    ortools_workers: int = 1
    """Parallel OR-Tools searches per re-plan (forked processes). One in-process search: a
    dispatcher re-plans every few minutes, and forking each time costs more than it finds."""
    picking_wait_min: float = 1.0
    """How long a vehicle at the warehouse waits for a planned order that is still being picked."""
    idle_wait_min: float | None = None
    """Wait of a vehicle with nothing to do at its depot (None: the scenario's ``wait_min``)."""
    snapshot: SnapshotOptions = field(default_factory=SnapshotOptions)
    """How the world is turned into a problem (routes, pricing, orders being picked)."""

    def work_rate(self, engine: str) -> WorkRate:
        return self.ortools_rate if engine == "ortools" else self.pyvrp_rate


@dataclass
class PlannerStats:
    """What the planner did over one episode (reset with the policy)."""

    plans: int = 0
    retries: int = 0
    """Re-plans where the engine's own start failed and the search restarted from the onboard-only plan."""
    failures: int = 0
    """Re-plans where the engine found no plan even then (the previous plan was kept)."""
    infeasible: int = 0
    """Plans that broke a hard constraint of the snapshot (followed anyway, checked per command)."""
    solve_s: float = 0.0
    budget_s: float = 0.0
    """Search time granted, summed over all engine calls (a scaled budget grows with the snapshots)."""
    tasks: int = 0
    """Tasks summed over all snapshots (tasks / plans = mean problem size)."""
    work: int = 0
    """The engine's own work, summed over all engine calls: OR-Tools solutions, PyVRP iterations."""
    clock_stops: int = 0
    """With ``search_budget: work``: engine calls that the clock ended before their work (not reproducible)."""


def onboard_only_plan(problem: Problem, engine: str) -> Plan:
    """A starting plan: every vehicle delivers its onboard orders by deadline, every pickup is left out."""
    sequences = []
    for vehicle in problem.vehicles:
        onboard = sorted(vehicle.onboard, key=lambda t: (problem.task(t).deadline_min or np.inf, t))
        sequences.append([(t, StopKind.DELIVERY) for t in onboard])
    dropped = [t.id for t in problem.tasks if t.optional]
    return build_plan(problem, sequences, dropped, engine=engine, wall_time_s=0.0)


class RollingHorizonPolicy:
    """Centralized rolling-horizon planner behind the :class:`Policy` protocol; ``name`` = engine."""

    def __init__(self, engine: str = "ortools", config: RollingHorizonConfig | None = None,
                 **overrides: object) -> None:
        if engine not in ENGINES:
            raise QlogError(f"unknown engine {engine!r}; choose one of {sorted(ENGINES)}", field="engine")
        known = {f.name for f in fields(RollingHorizonConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown RollingHorizonPolicy options: {unknown}")
        self.engine = engine
        self.name = engine
        self.config = replace(config or RollingHorizonConfig(), **overrides)  # type: ignore[arg-type]
        check_search_budget(self.config.search_budget)
        self._fallback = GreedyPolicy()
        self._start_episode()

    def _start_episode(self) -> None:
        self.stats = PlannerStats()
        self._plan: Plan | None = None
        self._routes: dict[int, Route] | None = None
        self._snapshot: Snapshot | None = None
        self._planned_at = -np.inf
        self._dirty = False

    def reset(self, env: DispatchEnv, seed: int) -> None:
        self._start_episode()

    def search_seconds(self, problem: Problem) -> float:
        """The engine's search time for this snapshot: ``time_limit_s`` when set, else scaled with its size."""
        cfg = self.config
        if cfg.time_limit_s is not None:
            return cfg.time_limit_s
        size = len(problem.tasks) + len(problem.vehicles)
        scaled = cfg.base_time_limit_s * max(1.0, size / cfg.base_size) ** cfg.size_exponent
        return min(scaled, max(cfg.max_time_limit_s, cfg.base_time_limit_s))

    def search_work(self, problem: Problem, seconds: float) -> int | None:
        """The engine's work for a search of ``seconds`` on this snapshot with ``search_budget: work``;
        None with ``time``."""
        cfg = self.config
        if cfg.search_budget != "work":
            return None
        rate = cfg.work_rate(self.engine)
        # below base_size the rate stays at base_size's: a fit to many tiny snapshots promises far more work
        # per second on the smallest than they deliver, and the clock, not the work, would end their search
        size = max(len(problem.tasks) + len(problem.vehicles), cfg.base_size)
        return max(1, round(rate.per_s * (size / cfg.base_size) ** rate.size_exponent * seconds))

    def episode_stats(self) -> dict[str, float]:
        """This day's re-plans, engine retries and failures, infeasible plans, solve seconds and tasks
        (the numeric counters of ``stats``)."""
        return {k: float(v) for k, v in asdict(self.stats).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def close(self) -> None:
        """Nothing to release: a solve keeps no process or file open after it returns."""

    # ------------------------------------------------------------------ deciding
    def act(self, env: DispatchEnv) -> dict[int, Command]:
        w = env.world
        assert w is not None, "call env.reset() first"
        deciding = w.pending_decisions()
        if not deciding:
            return {}
        if self._replan_due(w):
            self._replan(w)
        if self._routes is None:
            return self._fallback.act(env)
        return {v: self._next_command(w, v) for v in deciding}

    def _replan_due(self, w: World) -> bool:
        gap = w.now - self._planned_at
        if self._snapshot is None or gap >= self.config.replan_every_min:
            return True
        if gap < self.config.min_replan_gap_min:
            return False
        return self._dirty or self._unseen_orders(w)

    def _unseen_orders(self, w: World) -> bool:
        """Whether an order the planner could serve arrived (or became ready) since the last plan."""
        states = (_READY, _PICKING) if self.config.snapshot.plan_picking else (_READY,)
        candidates = np.flatnonzero(np.isin(w.state, states))
        seen = self._snapshot.planned_orders if self._snapshot is not None else frozenset()
        return any(int(o) not in seen for o in candidates)

    def _replan(self, w: World) -> None:
        snap = build_snapshot(w, self.config.snapshot)
        self._snapshot, self._planned_at, self._dirty = snap, w.now, False
        problem = snap.problem
        if not problem.vehicles:
            self._routes, self._plan = {}, None
            return
        started = time.perf_counter()
        warm = self._plan if self.config.warm_start else None
        with warnings.catch_warnings():
            if self.engine == "pyvrp":  # imported here so that OR-Tools runs never load PyVRP
                from pyvrp.exceptions import PenaltyBoundWarning

                # PyVRP warns when its penalties saturate; such a plan is counted as infeasible below.
                warnings.simplefilter("ignore", PenaltyBoundWarning)
            result = self._solve(problem, warm)
            if result.status is PlanStatus.NO_SOLUTION:
                # The engine's construction heuristic can fail where a plan exists; start the search
                # again from the plan that only delivers what is on board (all pickups left open).
                self.stats.retries += 1
                result = self._solve(problem, onboard_only_plan(problem, self.engine))
        self.stats.solve_s += time.perf_counter() - started
        self.stats.plans += 1
        self.stats.tasks += len(problem.tasks)
        if result.status is PlanStatus.NO_SOLUTION:
            self.stats.failures += 1
            self._dirty = True
            return
        if result.status is PlanStatus.INFEASIBLE:
            self.stats.infeasible += 1
        self._plan = result
        self._routes = {int(v): [(int(o), kind) for o, kind in seq]
                        for v, seq in result.task_sequences().items()}

    def _solve(self, problem: Problem, warm_start: Plan | None) -> Plan:
        if self.engine == "ortools":
            options: dict[str, object] = {"settings": OrToolsSettings(workers=self.config.ortools_workers)}
        else:
            options = {"seed": self.stats.plans}  # a fixed sequence of seeds per episode
        budget = self.search_seconds(problem)
        self.stats.budget_s += budget
        work = self.search_work(problem, budget)
        clock = budget if work is None else budget * self.config.work_clock_factor
        result = plan(problem, engine=self.engine, time_limit_s=clock, warm_start=warm_start, work_limit=work,
                      **options)
        self.stats.work += result.work
        if work is not None and result.work < work and result.wall_time_s >= CLOCK_STOP_SHARE * clock:
            self.stats.clock_stops += 1
        return result

    # ------------------------------------------------------------------ following the plan
    def _next_command(self, w: World, v: int) -> Command:
        route = self._routes.get(v, []) if self._routes is not None else []
        for i, (o, kind) in enumerate(route):
            if kind is StopKind.PICKUP:
                if w.state[o] in (_READY, _PICKING):
                    return self._pickup(w, v, route, i)
            elif o in w.onboard[v]:
                return Deliver(o)
        return self._idle(w, v)

    def _pickup(self, w: World, v: int, route: Route, i: int) -> Command:
        """Load the first ready order of the run of pickups at one warehouse that starts at ``i``."""
        depot = int(w.orders.depot[route[i][0]])
        block = []
        for o, kind in route[i:]:
            if kind is not StopKind.PICKUP or int(w.orders.depot[o]) != depot:
                break
            if w.state[o] in (_READY, _PICKING):
                block.append(o)
        for o in block:
            if w.can_load(v, o):
                return Load(o)
        if any(w.state[o] == _READY for o in block):
            self._dirty = True  # the plan expected room that is not there: deliver first, re-plan
            return self._idle(w, v)
        warehouse = int(w.depot_node[depot])
        if int(w.node[v]) != warehouse and warehouse == int(w.depot_node[w.fleet.home_depot[v]]):
            return ReturnToDepot()
        return Wait(self.config.picking_wait_min)

    def _idle(self, w: World, v: int) -> Command:
        """Nothing planned: deliver what is on board and can still beat its deadline, else go home or wait."""
        here = int(w.node[v])
        travel = w.time_min[w.fleet.type_index[v], here]
        deliverable = [o for o in w.onboard[v] if w.now + travel[w.orders.dest[o]] <= w.orders.deadline_min[o]]
        if deliverable:
            return Deliver(min(deliverable, key=lambda o: (travel[w.orders.dest[o]], o)))
        if here != int(w.depot_node[w.fleet.home_depot[v]]):
            return ReturnToDepot()
        return Wait(self.config.idle_wait_min)
