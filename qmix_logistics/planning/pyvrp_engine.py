"""Solve a :class:`Problem` with PyVRP's iterated local search.

PyVRP (0.14) models most of the problem natively and exactly: locations separate from clients
(so several stops may share a place), a depot at every vehicle's start and end location, so a
vehicle that is mid-route in a dispatch snapshot simply starts from a depot at its position with
its shift opening at its start time (``tw_early``; ``tw_late`` = shift end), ``Shipment`` for
pickup-and-delivery pairs, a residual ``initial_load``, optional clients/shipments with a
``prize`` (= drop penalty), fixed costs, and per-vehicle-type cost per distance. Identical
vehicles share one vehicle type, so the search does not waste moves on symmetric swaps.

Measured with 10 s of CPU per run: mean gap to the best-known distance -0.04 % on the six shared
Solomon instances (below the listed best-known distance on R201 and RC101) and 0.29 % over the
50 other Solomon instances.

**Load units.** PyVRP prices excess load with an adaptive penalty per load unit (50 000 cost
units to start with, 100 000 at most), whatever the cost scale. With one per-km rate a cost unit
is that rate per metre, and a parcel over capacity weighs like 50 km of driving. With mixed rates
a cost unit is 1 % of the dearest rate per metre, so the same penalty bought only 500 m of van
driving, or a sliver of a drop prize: on multi_warehouse.yaml (vans at 0.6, bikes at 0.1 per km)
the search preferred overloaded plans and returned them, or feasible ones that dropped most
orders. Each parcel therefore counts as :func:`_load_scale` load units. Time warp needs no such
care while a drop costs less than 500 km of the dearest vehicle: a minute costs 5e7 units.

Three things PyVRP has no notion of are modelled as follows (the benchmarks use none of them):

* **Open routes** (exact): the end depot is a dummy location that every location reaches at zero
  distance and time, so the route ends where its last service ends.
* **Pinned onboard orders** (a penalty, checked afterwards): each onboard delivery gets a private
  copy of its location, and each vehicle carrying onboard orders gets its own routing profile.
  Only that profile can reach the private location; in every other profile the arcs into and out
  of it cost PyVRP's maximum distance and duration. A pinned order on the wrong vehicle is therefore never cheaper, but it
  is a penalty, not a constraint: :func:`build_plan` re-checks and reports a violation should the
  search ever return one. The goods are client ``delivery`` amounts, which PyVRP loads at the
  route start, so the capacity accounting of onboard orders is exact.
* **Soft due times** (approximate): PyVRP has hard windows only (lateness is "time warp", never
  accepted in a feasible solution). A stop's window is closed at its due time when the due time
  can be met by at least one vehicle driving there directly; otherwise (already late, or
  hopeless) it is closed at the task's deadline or left open. When tasks could each be on time
  but not all together, a search on these windows drops optional ones (paying their penalty) or
  breaks the windows of required ones, trading that time warp against overloads, where OR-Tools
  would accept and price some lateness. So the time limit is split: a first run keeps those
  windows; a second one, started from the first plan, opens the windows of the tasks that plan
  dropped or served late up to their deadlines; the plan with the lower true cost (lateness
  priced, as :func:`build_plan` measures it) is returned. Lateness is still not traded against
  distance inside a run: the tasks of the second run may be later than needed. On 36
  warm-started multi_warehouse.yaml snapshots (0.25 s each): 5 orders dropped instead of 27 with
  one run and 16 % lower cost (OR-Tools: 2 dropped, 21 % lower still).

Warm starts are supported: the previous plan's routes become PyVRP's initial solution when they
can be expressed in the new data (PyVRP itself repairs infeasibility through its penalties).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyvrp
from pyvrp import (
    Activity,
    ActivityType,
    Client,
    Depot,
    Location,
    ProblemData,
    Route,
    Shipment,
    Solution,
    VehicleType,
)
from pyvrp.constants import MAX_VALUE
from pyvrp.exceptions import PenaltyBoundWarning
from pyvrp.PenaltyManager import PenaltyParams
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

from qmix_logistics.planning.problem import (
    Plan,
    PlanStatus,
    Problem,
    StopKind,
    Task,
    TaskId,
    TaskKind,
)
from qmix_logistics.planning.scaling import (
    DISTANCE_UNITS_PER_KM,
    distance_units,
    duration_units,
    horizon_min,
    stop_window,
    time_units,
    unservable_tasks,
)
from qmix_logistics.planning.schedule import build_plan, empty_plan

ENGINE_NAME = "pyvrp"
DIFFERENT_RATES_RESOLUTION = 100
"""When vehicles' costs per km differ, rates are integers relative to the dearest (1 % steps)."""
FIRST_RUN_SHARE = 0.5
"""Soft-window problems: share of the time limit for the run that keeps every reachable due time."""


@dataclass
class _Translation:
    """PyVRP's data plus the maps needed to read a PyVRP solution back as task stops."""

    data: ProblemData
    client_stop: list[tuple[TaskId, StopKind]]
    shipment_task: list[TaskId]
    type_vehicles: list[list[int]]
    """Problem vehicle indices of each PyVRP vehicle type, in problem order."""
    due_closed: frozenset[TaskId]
    """Tasks whose final stop closes at the soft due time rather than at the deadline."""


def _latest_for_pyvrp(problem: Problem, task: Task, kind: StopKind, horizon: float,
                      relaxed: frozenset[TaskId]) -> tuple[float, float]:
    """(earliest, latest) service start handed to PyVRP: see the module notes on soft due times."""
    window = stop_window(problem, task, kind, horizon)
    if (window.soft_due_min is None or task.id in relaxed
            or not _due_reachable(problem, task, window.soft_due_min)):
        return window.earliest_min, window.latest_min
    return window.earliest_min, window.soft_due_min


def _due_reachable(problem: Problem, task: Task, due: float) -> bool:
    """Whether some allowed vehicle, driving straight there, can start the final stop by ``due``."""
    pinned = problem.pinned_vehicle(task.id)
    for v, vehicle in enumerate(problem.vehicles):
        if pinned is not None and v != pinned:
            continue
        here, clock = vehicle.start_location, vehicle.start_min
        if task.kind is TaskKind.PICKUP_DELIVERY:
            clock = max(clock + problem.travel_min[here, task.pickup_location], task.pickup_earliest_min)
            clock += task.pickup_service_min
            here = task.pickup_location
        if max(clock + problem.travel_min[here, task.location], task.earliest_min) <= due:
            return True
    return False


def _money_scale(problem: Problem) -> tuple[list[int], float]:
    """Integer cost per distance unit for each vehicle, and money per PyVRP cost unit."""
    rates = [v.cost_per_km for v in problem.vehicles]
    if len(set(rates)) == 1:
        rate = rates[0] if rates[0] > 0 else 1.0
        return [1] * len(rates), rate / DISTANCE_UNITS_PER_KM
    top = max(rates)
    units = [int(round(r / top * DIFFERENT_RATES_RESOLUTION)) for r in rates]
    return units, top / (DIFFERENT_RATES_RESOLUTION * DISTANCE_UNITS_PER_KM)


def _load_scale(unit_distance_costs: list[int], prizes: list[int]) -> int:
    """Load units per unit of goods (see the module notes on load units).

    At least the dearest cost per distance unit, which keeps one parcel of excess load as dear
    relative to driving as with a single per-km rate (50 km at the starting penalty), and at
    least enough to put the starting penalty of one parcel at or above the largest prize.
    With one rate and no prizes (the benchmarks) it is 1 and the search is unchanged.
    """
    params = PenaltyParams()
    midpoint = params.min_penalty + (params.max_penalty - params.min_penalty) / 2
    return max(1, *unit_distance_costs, math.ceil(max(prizes, default=0) / midpoint))


@dataclass
class _Matrices:
    """Integer distance and duration matrices per routing profile, and the extra locations."""

    distances: list[np.ndarray]
    durations: list[np.ndarray]
    private: dict[TaskId, int]
    """Location index of each onboard task's private copy of its delivery location."""
    dummy: int
    """Location index of the open-route end."""
    profile_of: dict[int, int]
    """Routing profile of each vehicle carrying onboard orders (others use profile 0)."""


def _forbid(matrix: np.ndarray, locations: list[int]) -> np.ndarray:
    """A copy of ``matrix`` where the given locations can be neither reached nor left."""
    copy = matrix.copy()
    copy[:, locations] = MAX_VALUE
    copy[locations, :] = MAX_VALUE
    copy[locations, locations] = 0
    return copy


def _matrices(problem: Problem) -> _Matrices:
    """Profiles: 0 forbids every private onboard location; a carrier's own profile opens its own."""
    onboard = [t for t in problem.tasks if t.kind is TaskKind.ONBOARD]
    base = list(range(problem.num_locations)) + [t.location for t in onboard]
    private = {t.id: problem.num_locations + i for i, t in enumerate(onboard)}
    dummy = len(base)
    dist = np.zeros((dummy + 1, dummy + 1), dtype=np.int64)
    dur = np.zeros_like(dist)
    dist[:dummy, :dummy] = distance_units(problem.distance_km[np.ix_(base, base)])
    dur[:dummy, :dummy] = duration_units(problem.travel_min[np.ix_(base, base)])
    dist[dummy, :dummy] = dur[dummy, :dummy] = MAX_VALUE  # nothing leaves the open-route end
    forbidden = sorted(private.values())
    matrices = _Matrices([_forbid(dist, forbidden)], [_forbid(dur, forbidden)], private, dummy, {})
    for v, vehicle in enumerate(problem.vehicles):
        if vehicle.onboard:
            others = sorted(set(forbidden) - {private[t] for t in vehicle.onboard})
            matrices.distances.append(_forbid(dist, others))
            matrices.durations.append(_forbid(dur, others))
            matrices.profile_of[v] = len(matrices.distances) - 1
    return matrices


def _vehicle_types(problem: Problem, matrices: _Matrices, horizon: float, money: Callable[[float], int],
                   load_scale: int) -> tuple[list[Depot], list[VehicleType], list[list[int]]]:
    """Depots at start/end locations and one vehicle type per group of identical vehicles.

    Capacities and residual loads are in PyVRP load units (``load_scale`` per unit of goods)."""
    depots: list[Depot] = []
    depot_of: dict[int, int] = {}

    def depot(location: int) -> int:
        if location not in depot_of:
            depot_of[location] = len(depots)
            depots.append(Depot(location=location))
        return depot_of[location]

    units, _ = _money_scale(problem)
    groups: dict[tuple, list[int]] = {}
    for v, vehicle in enumerate(problem.vehicles):
        end = vehicle.end_location if vehicle.end_location is not None else matrices.dummy
        key = (depot(vehicle.start_location), depot(end), vehicle.start_min,
               min(vehicle.shift_end_min, horizon), vehicle.capacity, problem.residual_load(v),
               units[v], vehicle.fixed_cost, matrices.profile_of.get(v, 0))
        groups.setdefault(key, []).append(v)
    types = [
        VehicleType(num_available=len(members), capacity=[capacity * load_scale],
                    start_depot=start_depot, end_depot=end_depot, fixed_cost=money(fixed),
                    tw_early=time_units(start), tw_late=time_units(shift_end),
                    unit_distance_cost=unit, profile=profile,
                    initial_load=[residual * load_scale])
        for (start_depot, end_depot, start, shift_end, capacity, residual, unit, fixed, profile),
        members in groups.items()]
    return depots, types, list(groups.values())


def _service_units(minutes: float) -> int:
    return int(duration_units(np.array([minutes]))[0])


def _translate(problem: Problem, relaxed: frozenset[TaskId] = frozenset()) -> _Translation:
    """PyVRP's data for ``problem``; the ``relaxed`` tasks may be served up to their deadline."""
    horizon = horizon_min(problem)
    matrices = _matrices(problem)
    units, money_per_unit = _money_scale(problem)

    def money(amount: float) -> int:
        return int(round(amount / money_per_unit))

    unservable = unservable_tasks(problem, horizon)
    load_scale = _load_scale(units, [money(t.drop_penalty) for t in problem.tasks
                                     if t.optional and t.id not in unservable])
    depots, types, type_vehicles = _vehicle_types(problem, matrices, horizon, money, load_scale)
    clients: list[Client] = []
    client_stop: list[tuple[TaskId, StopKind]] = []
    shipments: list[Shipment] = []
    shipment_task: list[TaskId] = []
    due_closed: set[TaskId] = set()
    for task in problem.tasks:
        if task.id in unservable:
            continue
        prize = money(task.drop_penalty) if task.optional else 0
        early, late = _latest_for_pyvrp(problem, task, StopKind.DELIVERY, horizon, relaxed)
        if late < stop_window(problem, task, StopKind.DELIVERY, horizon).latest_min:
            due_closed.add(task.id)
        if task.kind is TaskKind.PICKUP_DELIVERY:
            p_early, p_late = _latest_for_pyvrp(problem, task, StopKind.PICKUP, horizon, relaxed)
            shipments.append(Shipment(
                pickup_location=task.pickup_location, delivery_location=task.location,
                pickup_tw_early=time_units(p_early), pickup_tw_late=time_units(p_late),
                pickup_service_duration=_service_units(task.pickup_service_min),
                delivery_tw_early=time_units(early), delivery_tw_late=time_units(late),
                delivery_service_duration=_service_units(task.service_min),
                amount=[task.size * load_scale], prize=prize, required=not task.optional,
                name=str(task.id)))
            shipment_task.append(task.id)
            continue
        onboard_task = task.kind is TaskKind.ONBOARD
        clients.append(Client(
            location=matrices.private[task.id] if onboard_task else task.location,
            delivery=[task.size * load_scale], service_duration=_service_units(task.service_min),
            tw_early=time_units(early), tw_late=time_units(late), prize=prize,
            required=not task.optional, name=str(task.id)))
        client_stop.append((task.id, StopKind.DELIVERY if onboard_task else StopKind.VISIT))
    locations = [Location(x=0.0, y=0.0, name=str(i)) for i in range(matrices.dummy + 1)]
    data = ProblemData(locations, clients, depots, types, matrices.distances, matrices.durations,
                       [], shipments)
    return _Translation(data, client_stop, shipment_task, type_vehicles, frozenset(due_closed))


def _initial_solution(problem: Problem, tr: _Translation, previous: Plan) -> Solution | None:
    """The previous plan expressed in PyVRP terms, or None when it cannot be."""
    activity_of: dict[tuple[TaskId, StopKind], Activity] = {
        stop: Activity(ActivityType.CLIENT, i) for i, stop in enumerate(tr.client_stop)}
    for i, task_id in enumerate(tr.shipment_task):
        activity_of[(task_id, StopKind.PICKUP)] = Activity(ActivityType.PICKUP, i)
        activity_of[(task_id, StopKind.DELIVERY)] = Activity(ActivityType.DELIVERY, i)
    by_vehicle = previous.task_sequences()
    routes = []
    try:
        for t, members in enumerate(tr.type_vehicles):
            for v in members:
                stops = by_vehicle.get(problem.vehicles[v].id, [])
                activities = [activity_of[s] for s in stops if s in activity_of]
                if activities:
                    routes.append(Route(tr.data, activities, t))
        return Solution(tr.data, routes)
    except (ValueError, RuntimeError, IndexError):
        return None


def _read_solution(problem: Problem, tr: _Translation, solution: Solution):
    """Stop sequences per problem vehicle and the dropped tasks."""
    sequences: list[list[tuple[TaskId, StopKind]]] = [[] for _ in problem.vehicles]
    free = [list(members) for members in tr.type_vehicles]
    served: set[TaskId] = set()
    for route in solution.routes():
        v = free[route.vehicle_type()].pop(0)
        for activity in route.schedule():
            if activity.type == ActivityType.CLIENT:
                stop = tr.client_stop[activity.idx]
            elif activity.type == ActivityType.PICKUP:
                stop = (tr.shipment_task[activity.idx], StopKind.PICKUP)
            elif activity.type == ActivityType.DELIVERY:
                stop = (tr.shipment_task[activity.idx], StopKind.DELIVERY)
            else:
                continue
            sequences[v].append(stop)
            served.add(stop[0])
    dropped = [t.id for t in problem.tasks if t.id not in served]
    return sequences, dropped


def _search(problem: Problem, tr: _Translation, time_limit_s: float, seed: int,
            initial: Solution | None, iterations: int | None = None) -> Plan:
    """One PyVRP run on ``tr``, read back as a timed and checked plan of ``problem``; it stops after
    ``time_limit_s`` or, when given, ``iterations``, whichever comes first."""
    started = time.perf_counter()
    stop = MaxRuntime(max(time_limit_s, 1e-3))
    if iterations is not None:
        stop = MultipleCriteria([MaxIterations(max(1, iterations)), stop])
    with warnings.catch_warnings():
        # Raised when penalties saturate on tight instances; the plan's status already says
        # whether the result is feasible, so the warning would only be noise for a dispatcher.
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        result = pyvrp.solve(tr.data, stop, seed=seed,
                             collect_stats=False, display=False, initial_solution=initial)
    wall = time.perf_counter() - started
    if not result.best.routes() and not math.isfinite(result.cost()):
        plan = empty_plan(problem, engine=ENGINE_NAME, wall_time_s=wall)
    else:
        sequences, dropped = _read_solution(problem, tr, result.best)
        plan = build_plan(problem, sequences, dropped, engine=ENGINE_NAME, wall_time_s=wall)
    plan.work = result.num_iterations
    return plan


def _missed_due(plan: Plan, due_closed: frozenset[TaskId]) -> frozenset[TaskId]:
    """Due-closed tasks the plan drops or serves after their due time (all of them without a plan)."""
    if plan.status is PlanStatus.NO_SOLUTION:
        return due_closed
    late = {stop.task_id for route in plan.routes for stop in route.stops if stop.lateness_min > 0}
    return due_closed & (set(plan.dropped) | late)


def _rank(plan: Plan) -> tuple[int, float]:
    """Feasible plans first, then the true objective (lateness priced, as OR-Tools sees it)."""
    order = {PlanStatus.FEASIBLE: 0, PlanStatus.INFEASIBLE: 1, PlanStatus.NO_SOLUTION: 2}
    return order[plan.status], plan.cost.total


def solve_pyvrp(problem: Problem, time_limit_s: float = 10.0, *,
                warm_start: Plan | None = None, seed: int = 0, work_limit: int | None = None) -> Plan:
    """Plan with PyVRP for ``time_limit_s`` seconds (``MaxRuntime``), reproducibly per ``seed``.

    ``work_limit``: stop after that many iterations as well (``MaxIterations``); a plan that this
    limit ends, not the clock, is the same on every machine and under any load.

    With soft due times the budget is split in two runs (see the module notes): the first keeps
    every reachable due time, the second, started from the first plan, lets the tasks that the
    first run dropped or served late use their whole window up to the deadline. The plan with
    the lower true cost is returned.
    """
    started = time.perf_counter()
    tr = _translate(problem)
    initial = _initial_solution(problem, tr, warm_start) if warm_start is not None else None
    if not tr.due_closed:
        return _search(problem, tr, time_limit_s, seed, initial, work_limit)
    first_work = None if work_limit is None else math.ceil(work_limit * FIRST_RUN_SHARE)
    first = _search(problem, tr, time_limit_s * FIRST_RUN_SHARE, seed, initial, first_work)
    relaxed = _missed_due(first, tr.due_closed)
    second_tr = _translate(problem, relaxed) if relaxed else tr
    start_from = (_initial_solution(problem, second_tr, first)
                  if first.status is not PlanStatus.NO_SOLUTION else initial)
    if work_limit is None:
        remaining, second_work = time_limit_s - (time.perf_counter() - started), None
    else:  # each run keeps its share of the clock, so that a slow first run cannot cut the second
        remaining, second_work = time_limit_s * (1 - FIRST_RUN_SHARE), work_limit - first_work
    second = _search(problem, second_tr, remaining, seed, start_from, second_work)
    best = min((first, second), key=_rank)
    best.wall_time_s = time.perf_counter() - started
    best.work = first.work + second.work
    return best
