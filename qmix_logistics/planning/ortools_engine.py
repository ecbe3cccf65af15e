"""Solve a :class:`Problem` with the OR-Tools routing library.

Model, in brief (units are those of :mod:`qmix_logistics.planning.scaling`):

* nodes: one per distinct start/end location of a vehicle, one dummy end shared by open routes
  (every arc into it is free), and one per task stop (a pickup-and-delivery task has two);
* arc cost: distance times the vehicle's cost per km, in 1e-5 money units, so that the integer
  objective follows the float one to within rounding noise;
* ``time`` dimension: transit = service at the origin + travel time rounded up; waiting is slack;
  vehicle start times and shift ends bound the route's start and end cumuls; hard windows are
  cumul ranges, soft due times are soft upper bounds priced per time unit;
* ``load`` dimension: a task stop adds what it puts on the truck and removes what it unloads.
  The start cumul is free in [current load, capacity] and the end cumul must keep the residual load
  (units no task unloads). Since VISIT goods are unloaded (negative demand) and were loaded at the
  start, the solver picks the start load = current load + visit goods, and every cumul is then
  exactly the physical load: this counts onboard orders, pickups and visits right together;
* pickup-and-delivery: ``AddPickupAndDelivery`` + same vehicle + pickup time <= delivery time;
* onboard orders: the stop's vehicle variable is fixed to the carrying vehicle, never dropped;
* optional tasks: a disjunction per stop at half the drop penalty, both stops active together.

Search: see :mod:`qmix_logistics.planning.ortools_settings` for the settings and the measurements
behind the defaults (guided local search from two different first solutions, one per core).
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp

from qmix_logistics.planning.ortools_settings import (
    OrToolsSettings,
    portfolio,
    search_parameters,
)
from qmix_logistics.planning.problem import Plan, Problem, StopKind, TaskId, TaskKind
from qmix_logistics.planning.scaling import (
    TIME_UNITS_PER_MIN,
    duration_units,
    horizon_min,
    stop_kinds,
    stop_window,
    time_units,
    unservable_tasks,
)
from qmix_logistics.planning.schedule import build_plan, empty_plan

ENGINE_NAME = "ortools"
FORK_OVERHEAD_S = 0.1
"""Time kept back from a portfolio's search budget for forking the workers and collecting results."""
COST_UNITS_PER_MONEY = 100_000
"""Objective resolution: 1e-5 money units (1 cm when a km costs 1)."""


@dataclass
class _Layout:
    """Node numbering of the routing model and what each node stands for."""

    locations: list[int]
    """Problem location per node (-1 for the dummy open-route end)."""
    stops: list[tuple[TaskId, StopKind] | None]
    """The task stop per node, None for start/end nodes."""
    starts: list[int]
    ends: list[int]
    node_of_stop: dict[tuple[TaskId, StopKind], int]


def _layout(problem: Problem) -> _Layout:
    locations: list[int] = []
    stops: list[tuple[TaskId, StopKind] | None] = []
    depot_node: dict[int, int] = {}

    def depot(location: int) -> int:
        if location not in depot_node:
            depot_node[location] = len(locations)
            locations.append(location)
            stops.append(None)
        return depot_node[location]

    starts = [depot(v.start_location) for v in problem.vehicles]
    ends = [depot(v.end_location if v.end_location is not None else -1) for v in problem.vehicles]
    node_of_stop: dict[tuple[TaskId, StopKind], int] = {}
    for task in problem.tasks:
        for kind in stop_kinds(task):
            location = task.pickup_location if kind is StopKind.PICKUP else task.location
            node_of_stop[(task.id, kind)] = len(locations)
            locations.append(location)
            stops.append((task.id, kind))
    return _Layout(locations, stops, starts, ends, node_of_stop)


def _node_matrices(problem: Problem, layout: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """Distance (km, float) and travel (time units) between nodes; the dummy end is free to reach."""
    loc = np.array(layout.locations)
    real = np.where(loc < 0, 0, loc)
    km = problem.distance_km[np.ix_(real, real)].copy()
    travel = duration_units(problem.travel_min[np.ix_(real, real)])
    dummy = loc < 0
    km[:, dummy] = km[dummy, :] = 0.0
    travel[:, dummy] = travel[dummy, :] = 0
    return km, travel


def _service_and_demand(problem: Problem, layout: _Layout) -> tuple[np.ndarray, list[int]]:
    service = np.zeros(len(layout.locations), dtype=np.int64)
    demand = [0] * len(layout.locations)
    for node, stop in enumerate(layout.stops):
        if stop is None:
            continue
        task = problem.task(stop[0])
        minutes = task.pickup_service_min if stop[1] is StopKind.PICKUP else task.service_min
        service[node] = duration_units(np.array([minutes]))[0]
        demand[node] = task.size if stop[1] is StopKind.PICKUP else -task.size
    return service, demand


class _Model:
    """The routing model of one problem, kept together so solving and reading share the indices."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.layout = layout = _layout(problem)
        self.manager = pywrapcp.RoutingIndexManager(
            len(layout.locations), len(problem.vehicles), layout.starts, layout.ends)
        self.routing = pywrapcp.RoutingModel(self.manager)
        km, travel = _node_matrices(problem, layout)
        service, demand = _service_and_demand(problem, layout)
        self._add_arc_costs(km)
        self._add_time(travel + service[:, None])
        self._add_load(demand)
        self._add_tasks()

    def _add_arc_costs(self, km: np.ndarray) -> None:
        callbacks: dict[float, int] = {}
        for v, vehicle in enumerate(self.problem.vehicles):
            rate = vehicle.cost_per_km
            if rate not in callbacks:
                cost = np.rint(km * rate * COST_UNITS_PER_MONEY).astype(np.int64)
                callbacks[rate] = self.routing.RegisterTransitMatrix(cost.tolist())
            self.routing.SetArcCostEvaluatorOfVehicle(callbacks[rate], v)
            if vehicle.fixed_cost:
                self.routing.SetFixedCostOfVehicle(
                    int(round(vehicle.fixed_cost * COST_UNITS_PER_MONEY)), v)

    def _add_time(self, transit: np.ndarray) -> None:
        self.horizon = horizon_min(self.problem)
        horizon = time_units(self.horizon)
        callback = self.routing.RegisterTransitMatrix(transit.tolist())
        self.routing.AddDimension(callback, horizon, horizon, False, "time")
        self.time = self.routing.GetDimensionOrDie("time")
        for v, vehicle in enumerate(self.problem.vehicles):
            end = time_units(min(vehicle.shift_end_min, self.horizon))
            self.time.CumulVar(self.routing.Start(v)).SetRange(time_units(vehicle.start_min), end)
            self.time.CumulVar(self.routing.End(v)).SetMax(end)

    def _add_load(self, demand: list[int]) -> None:
        vehicles = self.problem.vehicles
        callback = self.routing.RegisterUnaryTransitVector(demand)
        self.routing.AddDimensionWithVehicleCapacity(
            callback, 0, [v.capacity for v in vehicles], False, "load")
        load = self.routing.GetDimensionOrDie("load")
        for v, vehicle in enumerate(vehicles):
            load.CumulVar(self.routing.Start(v)).SetRange(vehicle.current_load, vehicle.capacity)
            load.CumulVar(self.routing.End(v)).SetMin(self.problem.residual_load(v))

    def _add_tasks(self) -> None:
        problem, routing, solver = self.problem, self.routing, self.routing.solver()
        lateness_rate = problem.objective.lateness_cost_per_min * COST_UNITS_PER_MONEY / TIME_UNITS_PER_MIN
        self.unservable = unservable_tasks(problem, self.horizon)
        for task in problem.tasks:
            kinds = stop_kinds(task)
            indices = [self.manager.NodeToIndex(self.layout.node_of_stop[(task.id, k)]) for k in kinds]
            if task.id in self.unservable:
                for index in indices:
                    routing.AddDisjunction([index], 0)
                    solver.Add(routing.ActiveVar(index) == 0)
                continue
            for index, kind in zip(indices, kinds):
                window = stop_window(problem, task, kind, self.horizon)
                self.time.CumulVar(index).SetRange(time_units(window.earliest_min),
                                                   time_units(window.latest_min))
                if window.soft_due_min is not None and lateness_rate > 0:
                    self.time.SetCumulVarSoftUpperBound(
                        index, time_units(window.soft_due_min), max(1, int(round(lateness_rate))))
            if task.kind is TaskKind.ONBOARD:
                # SetAllowedVehiclesForIndex takes an absl::Span the Python wrapper of this OR-Tools
                # release cannot build; fixing the vehicle variable is equivalent for a stop that is
                # always performed, and the routing local search filters on it as well.
                routing.VehicleVar(indices[0]).SetValue(problem.pinned_vehicle(task.id))
            if task.optional:
                half = int(round(task.drop_penalty * COST_UNITS_PER_MONEY / len(indices)))
                for index in indices:
                    routing.AddDisjunction([index], half)
            if len(indices) == 2:
                pickup, delivery = indices
                routing.AddPickupAndDelivery(pickup, delivery)
                solver.Add(routing.VehicleVar(pickup) == routing.VehicleVar(delivery))
                solver.Add(routing.ActiveVar(pickup) == routing.ActiveVar(delivery))
                solver.Add(self.time.CumulVar(pickup) <= self.time.CumulVar(delivery))

    def warm_routes(self, previous: Plan) -> list[list[int]]:
        """The previous plan's routes as routing indices, keeping only stops that still exist."""
        by_vehicle = previous.task_sequences()
        routes = []
        for vehicle in self.problem.vehicles:
            nodes = [self.layout.node_of_stop.get(stop) for stop in by_vehicle.get(vehicle.id, [])]
            routes.append([self.manager.NodeToIndex(n) for n in nodes if n is not None])
        return routes

    def sequences(self, solution) -> tuple[list[list[tuple[TaskId, StopKind]]], list[TaskId]]:
        """Stop order per vehicle and the tasks left out, read from an OR-Tools assignment."""
        sequences = []
        served: set[TaskId] = set()
        for v in range(len(self.problem.vehicles)):
            index = solution.Value(self.routing.NextVar(self.routing.Start(v)))
            sequence = []
            while not self.routing.IsEnd(index):
                stop = self.layout.stops[self.manager.IndexToNode(index)]
                sequence.append(stop)
                served.add(stop[0])
                index = solution.Value(self.routing.NextVar(index))
            sequences.append(sequence)
        dropped = [t.id for t in self.problem.tasks if t.id not in served]
        return sequences, dropped


def _has_pairs(problem: Problem) -> bool:
    return any(task.kind is TaskKind.PICKUP_DELIVERY for task in problem.tasks)


def _search(problem: Problem, time_limit_s: float, warm_start: Plan | None,
            settings: OrToolsSettings, solution_limit: int | None = None) -> tuple[list, list, int, int] | None:
    """One OR-Tools search: (stop sequences, dropped tasks, integer objective, solutions found), or None."""
    model = _Model(problem)
    params = search_parameters(settings, time_limit_s, has_pairs=_has_pairs(problem),
                               solution_limit=solution_limit)
    solution = None
    if warm_start is not None:
        model.routing.CloseModelWithParameters(params)
        seed = model.routing.ReadAssignmentFromRoutes(model.warm_routes(warm_start), True)
        if seed is not None:
            solution = model.routing.SolveFromAssignmentWithParameters(seed, params)
    if solution is None:
        solution = model.routing.SolveWithParameters(params)
    if solution is None:
        return None
    sequences, dropped = model.sequences(solution)
    return sequences, dropped, solution.ObjectiveValue(), model.routing.solver().Solutions()


def solve_ortools(problem: Problem, time_limit_s: float = 10.0, *,
                  warm_start: Plan | None = None,
                  settings: OrToolsSettings | None = None,
                  work_limit: int | None = None) -> Plan:
    """Plan with OR-Tools within ``time_limit_s`` seconds of search (wall clock).

    ``work_limit``: stop each search after that many solutions as well (see ``search_parameters``;
    each member of a portfolio searches that much); a plan that this limit ends, not the clock, is the
    same on every machine and under any load. ``Plan.work`` counts the solutions of all members.

    With ``settings.workers > 1`` the searches of the portfolio run in forked processes for the
    same time and the cheapest result wins; one worker searches in this process.

    ``warm_start``: a previous plan whose routes (by vehicle id and task id) seed the search when
    they are still feasible for this problem; stops of tasks that no longer exist are skipped, and
    an infeasible seed is silently ignored in favour of the first-solution strategy. In a
    portfolio only the first member starts from the seed, the others from their own strategies,
    so that the parallel searches stay different.
    """
    started = time.perf_counter()
    members = portfolio(settings or OrToolsSettings())
    for member in members:
        search_parameters(member, time_limit_s, solution_limit=work_limit)  # reject bad settings before forking
    if multiprocessing.current_process().daemon:
        members = members[:1]  # daemonic workers (e.g. vectorised envs) may not fork children
    if len(members) == 1:
        outcomes = [_search(problem, time_limit_s, warm_start, members[0], work_limit)]
    else:
        budget = max(time_limit_s - (time.perf_counter() - started) - FORK_OVERHEAD_S, 0.05)
        with multiprocessing.get_context("fork").Pool(len(members)) as pool:
            jobs = [(problem, budget, warm_start if i == 0 else None, member, work_limit)
                    for i, member in enumerate(members)]
            outcomes = pool.starmap(_search, jobs)
    found = [outcome for outcome in outcomes if outcome is not None]
    wall = time.perf_counter() - started
    if not found:
        return empty_plan(problem, engine=ENGINE_NAME, wall_time_s=wall)
    sequences, dropped, _, _ = min(found, key=lambda outcome: outcome[2])
    result = build_plan(problem, sequences, dropped, engine=ENGINE_NAME, wall_time_s=wall)
    result.work = sum(outcome[3] for outcome in found)
    return result
