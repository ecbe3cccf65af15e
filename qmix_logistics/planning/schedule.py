"""Turn stop sequences into a timed, costed :class:`Plan`.

Engines solve on scaled integers and each has its own idea of time; this module re-times every
route in floating point on the problem's own matrices, so the cost breakdown of a plan means the
same thing whichever engine produced it. It also re-checks the hard constraints of the problem
(windows, capacity, pairing, pinning, shift end) and lists what is broken, which is how a caller
learns about an engine approximation that went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from qmix_logistics.planning.problem import (
    CostBreakdown,
    Plan,
    PlannedStop,
    PlanStatus,
    Problem,
    StopKind,
    TaskId,
    TaskKind,
    VehicleRoute,
)

TOLERANCE_MIN = 1e-6
"""Float slack when comparing times, far below any engine's time resolution."""

Sequence = list[tuple[TaskId, StopKind]]


@dataclass
class _RouteCheck:
    route: VehicleRoute
    lateness_min: float
    violations: list[str]


def _time_route(problem: Problem, v: int, sequence: Sequence) -> _RouteCheck:
    """Schedule one vehicle's stops as early as possible and note every broken hard constraint."""
    vehicle = problem.vehicles[v]
    hard = problem.hard_time_windows
    where = f"vehicle {vehicle.id!r}"
    violations: list[str] = []
    load = vehicle.current_load + sum(
        problem.task(t).size for t, kind in sequence if kind is StopKind.VISIT)
    if load > vehicle.capacity:
        violations.append(f"{where}: starts with load {load} above capacity {vehicle.capacity}")
    time, here, distance, lateness_total = vehicle.start_min, vehicle.start_location, 0.0, 0.0
    picked: set[TaskId] = set()
    stops: list[PlannedStop] = []
    for task_id, kind in sequence:
        task = problem.task(task_id)
        if kind is StopKind.PICKUP:
            loc, early, due, service = (task.pickup_location, task.pickup_earliest_min,
                                        task.pickup_due_min, task.pickup_service_min)
        else:
            loc, early, due, service = task.location, task.earliest_min, task.due_min, task.service_min
        arrival = time + float(problem.travel_min[here, loc])
        distance += float(problem.distance_km[here, loc])
        start = max(arrival, early)
        late = max(0.0, start - due)
        if kind is StopKind.PICKUP:
            picked.add(task_id)
            load += task.size
            if late > TOLERANCE_MIN:
                violations.append(f"{where}: pickup of {task_id!r} starts {late:.3f} min late")
            late = 0.0
        else:
            load -= task.size
            if task.kind is TaskKind.PICKUP_DELIVERY and task_id not in picked:
                violations.append(f"{where}: delivers {task_id!r} before picking it up")
            if task.kind is TaskKind.ONBOARD and problem.pinned_vehicle(task_id) != v:
                violations.append(f"{where}: delivers {task_id!r} that is on another vehicle")
            if hard and late > TOLERANCE_MIN:
                violations.append(f"{where}: {task_id!r} starts {late:.3f} min after its due time")
            deadline = task.deadline_min
            if (not hard and deadline is not None and task.kind is not TaskKind.ONBOARD
                    and start > deadline + TOLERANCE_MIN):
                violations.append(f"{where}: {task_id!r} starts after its deadline")
        if load > vehicle.capacity:
            violations.append(f"{where}: load {load} above capacity after {task_id!r}")
        lateness_total += late
        stops.append(PlannedStop(task_id, kind, loc, arrival, start, late))
        time, here = start + service, loc
    if vehicle.end_location is not None:
        time += float(problem.travel_min[here, vehicle.end_location])
        distance += float(problem.distance_km[here, vehicle.end_location])
    if time > vehicle.shift_end_min + TOLERANCE_MIN:
        violations.append(f"{where}: route ends at {time:.3f}, after shift end")
    route = VehicleRoute(vehicle.id, stops, distance if stops else 0.0, time if stops else vehicle.start_min)
    return _RouteCheck(route, lateness_total, violations)


def _coverage_violations(problem: Problem, sequences: list[Sequence], dropped: list[TaskId]) -> list[str]:
    """Each task served once (both stops for pairs), and only optional tasks dropped."""
    violations: list[str] = []
    seen: dict[tuple[TaskId, StopKind], int] = {}
    for sequence in sequences:
        for stop in sequence:
            seen[stop] = seen.get(stop, 0) + 1
    dropped_set = set(dropped)
    for task in problem.tasks:
        needed = ([(task.id, StopKind.PICKUP), (task.id, StopKind.DELIVERY)]
                  if task.kind is TaskKind.PICKUP_DELIVERY
                  else [(task.id, StopKind.VISIT if task.kind is TaskKind.VISIT else StopKind.DELIVERY)])
        counts = [seen.get(stop, 0) for stop in needed]
        if task.id in dropped_set:
            if not task.optional:
                violations.append(f"required task {task.id!r} was dropped")
            if any(counts):
                violations.append(f"dropped task {task.id!r} is also routed")
        elif counts != [1] * len(needed):
            violations.append(f"task {task.id!r} is served {counts} times instead of once")
    return violations


def build_plan(problem: Problem, sequences: list[Sequence], dropped: list[TaskId], *,
               engine: str, wall_time_s: float) -> Plan:
    """Time and cost the engine's routes (one sequence per vehicle, in problem order).

    The status is FEASIBLE exactly when no hard constraint is broken; the cost breakdown is
    computed either way so that a caller can still inspect an imperfect plan.
    """
    checks = [_time_route(problem, v, seq) for v, seq in enumerate(sequences)]
    violations = [msg for check in checks for msg in check.violations]
    violations += _coverage_violations(problem, sequences, dropped)
    routes = [check.route for check in checks]
    used = [v for v, route in enumerate(routes) if route.stops]
    distance_cost = sum(routes[v].distance_km * problem.vehicles[v].cost_per_km for v in used)
    lateness_min = 0.0 if problem.hard_time_windows else sum(c.lateness_min for c in checks)
    cost = CostBreakdown(
        distance_km=sum(route.distance_km for route in routes),
        distance_cost=distance_cost,
        lateness_min=lateness_min,
        lateness_cost=lateness_min * problem.objective.lateness_cost_per_min,
        dropped=len(dropped),
        drop_cost=sum(problem.task(t).drop_penalty or 0.0 for t in dropped),
        fixed_cost=sum(problem.vehicles[v].fixed_cost for v in used),
        vehicles_used=len(used),
    )
    status = PlanStatus.FEASIBLE if not violations else PlanStatus.INFEASIBLE
    return Plan(routes, list(dropped), cost, engine, status, wall_time_s, violations)


def empty_plan(problem: Problem, *, engine: str, wall_time_s: float) -> Plan:
    """The answer when an engine found nothing: no routes, every task unplanned."""
    plan = build_plan(problem, [[] for _ in problem.vehicles], [], engine=engine,
                      wall_time_s=wall_time_s)
    plan.status = PlanStatus.NO_SOLUTION
    return plan
