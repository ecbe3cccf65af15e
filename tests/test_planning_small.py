"""Hand-checked tiny planning problems, solved for real by both engines."""

from __future__ import annotations

import itertools
import math
import multiprocessing

import numpy as np
import pytest

from qmix_logistics.common.errors import QlogError
from qmix_logistics.planning.engines import plan
from qmix_logistics.planning.ortools_engine import solve_ortools
from qmix_logistics.planning.ortools_settings import OrToolsSettings, portfolio
from qmix_logistics.planning.problem import (
    Objective,
    Plan,
    PlanStatus,
    Problem,
    StopKind,
    Task,
    TaskKind,
    Vehicle,
)

ENGINES = ["ortools", "pyvrp"]
LIMIT_S = 0.7


def euclid(points: list[tuple[float, float]]) -> np.ndarray:
    """Distance matrix (km); the tests drive at 1 km per minute so it is the travel time too."""
    xy = np.array(points, dtype=float)
    return np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))


def problem_on(points, vehicles, tasks, **kwargs) -> Problem:
    matrix = euclid(points)
    return Problem(travel_min=matrix, distance_km=matrix, vehicles=vehicles, tasks=tasks, **kwargs)


def route_of(result: Plan, vehicle_id) -> list[tuple[object, StopKind]]:
    return result.task_sequences()[vehicle_id]


def loads_along(problem: Problem, result: Plan, v: int) -> list[int]:
    """Physical load after each stop of vehicle v, starting from its current load + visit goods."""
    vehicle = problem.vehicles[v]
    stops = route_of(result, vehicle.id)
    load = vehicle.current_load + sum(problem.task(t).size for t, k in stops if k is StopKind.VISIT)
    loads = [load]
    for task_id, kind in stops:
        load += problem.task(task_id).size if kind is StopKind.PICKUP else -problem.task(task_id).size
        loads.append(load)
    return loads


@pytest.mark.parametrize("engine", ENGINES)
def test_orders_that_do_not_fit_together_go_on_two_vehicles(engine):
    points = [(0, 0), (5, 0), (5, 1)]
    vehicles = [Vehicle(id=v, start_location=0, end_location=0, capacity=10) for v in "ab"]
    tasks = [Task(id=i, kind=TaskKind.VISIT, location=i, size=6) for i in (1, 2)]
    problem = problem_on(points, vehicles, tasks)
    result = plan(problem, engine, LIMIT_S)
    assert result.status is PlanStatus.FEASIBLE
    assert sorted(len(r.stops) for r in result.routes) == [1, 1]
    assert result.cost.distance_km == pytest.approx(2 * 5 + 2 * math.hypot(5, 1))


@pytest.mark.parametrize("engine", ENGINES)
def test_hard_time_windows_force_the_visiting_order(engine):
    # Nearest-first would be 1 then 2, but customer 2 closes at 12 and customer 1 opens at 20.
    points = [(0, 0), (3, 0), (10, 0)]
    vehicles = [Vehicle(id=0, start_location=0, end_location=0, capacity=10)]
    tasks = [Task(id=1, kind=TaskKind.VISIT, location=1, earliest_min=20, due_min=40),
             Task(id=2, kind=TaskKind.VISIT, location=2, earliest_min=0, due_min=12)]
    problem = problem_on(points, vehicles, tasks)
    result = plan(problem, engine, LIMIT_S)
    assert result.status is PlanStatus.FEASIBLE
    assert [s.task_id for s in result.routes[0].stops] == [2, 1]
    for stop in result.routes[0].stops:
        task = problem.task(stop.task_id)
        assert task.earliest_min <= stop.start_min <= task.due_min


@pytest.mark.parametrize("engine", ENGINES)
def test_soft_due_time_prices_lateness_per_minute(engine):
    # 10 km away, due at 4: the best any plan can do is start 6 minutes late.
    points = [(0, 0), (10, 0)]
    vehicles = [Vehicle(id=0, start_location=0, end_location=0, capacity=10)]
    tasks = [Task(id=1, kind=TaskKind.VISIT, location=1, due_min=4)]
    problem = problem_on(points, vehicles, tasks, hard_time_windows=False,
                         objective=Objective(lateness_cost_per_min=2.5))
    result = plan(problem, engine, LIMIT_S)
    assert result.status is PlanStatus.FEASIBLE
    assert result.cost.lateness_min == pytest.approx(6.0)
    assert result.cost.lateness_cost == pytest.approx(15.0)
    assert result.cost.total == pytest.approx(20.0 + 15.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_onboard_orders_stay_on_their_vehicle_and_count_in_the_load(engine):
    # Vehicle "far" carries order 9 (8 of 10 units) to location 3, which is next to vehicle
    # "near"; it is still "far" that must deliver it. A new 5-unit order waits at far's start:
    # far can only take it after unloading, near can take it any time.
    points = [(0, 0), (20, 0), (20, 1), (21, 0), (0, 1)]
    vehicles = [Vehicle(id="far", start_location=0, capacity=10, current_load=8, onboard=(9,)),
                Vehicle(id="near", start_location=1, capacity=10)]
    tasks = [Task(id=9, kind=TaskKind.ONBOARD, location=3, size=8),
             Task(id=7, kind=TaskKind.PICKUP_DELIVERY, pickup_location=0, location=4, size=5)]
    problem = problem_on(points, vehicles, tasks, hard_time_windows=False)
    result = plan(problem, engine, LIMIT_S)
    assert result.status is PlanStatus.FEASIBLE
    assert (9, StopKind.DELIVERY) in route_of(result, "far")
    assert (9, StopKind.DELIVERY) not in route_of(result, "near")
    for v, vehicle in enumerate(problem.vehicles):
        assert max(loads_along(problem, result, v)) <= vehicle.capacity
    far = route_of(result, "far")
    if (7, StopKind.PICKUP) in far:
        assert far.index((9, StopKind.DELIVERY)) < far.index((7, StopKind.PICKUP))


@pytest.mark.parametrize("engine", ENGINES)
def test_pickup_precedes_delivery_on_the_same_vehicle(engine):
    points = [(0, 0), (4, 0), (8, 0), (4, 4), (8, 4), (0, 4)]
    vehicles = [Vehicle(id=v, start_location=0, end_location=0, capacity=3) for v in range(2)]
    pairs = [(1, 4), (3, 2), (5, 1)]
    tasks = [Task(id=i, kind=TaskKind.PICKUP_DELIVERY, pickup_location=p, location=d, size=2)
             for i, (p, d) in enumerate(pairs)]
    problem = problem_on(points, vehicles, tasks)
    result = plan(problem, engine, LIMIT_S)
    assert result.status is PlanStatus.FEASIBLE
    for route in result.routes:
        stops = [(s.task_id, s.kind) for s in route.stops]
        for task_id, kind in stops:
            if kind is StopKind.DELIVERY:
                assert stops.index((task_id, StopKind.PICKUP)) < stops.index((task_id, kind))
    served = [s.task_id for r in result.routes for s in r.stops if s.kind is StopKind.DELIVERY]
    assert sorted(served) == [0, 1, 2]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_order_is_dropped_exactly_when_serving_it_costs_more_than_its_penalty(engine):
    # Serving the far order costs a 100 km round trip; the near one costs 2 km.
    points = [(0, 0), (50, 0), (1, 0)]
    vehicles = [Vehicle(id=0, start_location=0, end_location=0, capacity=10)]
    cheap = [Task(id="far", kind=TaskKind.VISIT, location=1, drop_penalty=60.0),
             Task(id="near", kind=TaskKind.VISIT, location=2, drop_penalty=60.0)]
    result = plan(problem_on(points, vehicles, cheap, hard_time_windows=False), engine, LIMIT_S)
    assert result.dropped == ["far"]
    assert result.cost.drop_cost == pytest.approx(60.0)
    dear = [Task(id="far", kind=TaskKind.VISIT, location=1, drop_penalty=500.0)]
    result = plan(problem_on(points, vehicles, dear, hard_time_windows=False), engine, LIMIT_S)
    assert result.dropped == []
    assert result.cost.distance_km == pytest.approx(100.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_open_routes_end_at_the_last_stop(engine):
    points = [(0, 0), (3, 4)]
    vehicles = [Vehicle(id=0, start_location=0, end_location=None, capacity=5)]
    tasks = [Task(id=1, kind=TaskKind.VISIT, location=1, size=1, service_min=2)]
    result = plan(problem_on(points, vehicles, tasks), engine, LIMIT_S)
    assert result.cost.distance_km == pytest.approx(5.0)
    assert result.routes[0].end_min == pytest.approx(7.0)


def brute_force_optimum(problem: Problem) -> float:
    """Cheapest cost over every order of the customers split among two vehicles at the depot."""
    ids = [t.id for t in problem.tasks]
    best = math.inf
    for order in itertools.permutations(ids):
        for cut in range(len(ids) + 1):
            total = 0.0
            for v, part in enumerate((order[:cut], order[cut:])):
                if not part:
                    continue
                vehicle = problem.vehicles[v]
                if sum(problem.task(t).size for t in part) > vehicle.capacity:
                    total = math.inf
                    break
                path = [0] + [problem.task(t).location for t in part] + [0]
                km = sum(problem.distance_km[a, b] for a, b in zip(path, path[1:]))
                total += km * vehicle.cost_per_km + vehicle.fixed_cost
            best = min(best, total)
    return best


@pytest.mark.parametrize("engine", ENGINES)
def test_a_six_customer_instance_is_solved_to_the_brute_force_optimum(engine):
    rng = np.random.default_rng(7)
    points = [(50.0, 50.0)] + [tuple(p) for p in rng.uniform(0, 100, size=(6, 2))]
    sizes = [4, 3, 5, 2, 6, 3]
    vehicles = [Vehicle(id=v, start_location=0, end_location=0, capacity=12, fixed_cost=15.0)
                for v in range(2)]
    tasks = [Task(id=i, kind=TaskKind.VISIT, location=i, size=s) for i, s in enumerate(sizes, 1)]
    problem = problem_on(points, vehicles, tasks)
    result = plan(problem, engine, LIMIT_S)
    assert result.status is PlanStatus.FEASIBLE
    assert result.cost.total == pytest.approx(brute_force_optimum(problem), abs=1e-3)


@pytest.mark.parametrize("engine", ENGINES)
def test_warm_start_from_a_plan_with_a_task_that_is_gone(engine):
    rng = np.random.default_rng(3)
    points = [(50.0, 50.0)] + [tuple(p) for p in rng.uniform(0, 100, size=(8, 2))]
    vehicles = [Vehicle(id=v, start_location=0, end_location=0, capacity=20) for v in range(2)]
    tasks = [Task(id=i, kind=TaskKind.VISIT, location=i, size=4) for i in range(1, 9)]
    first = plan(problem_on(points, vehicles, tasks), engine, LIMIT_S)
    later = problem_on(points, vehicles, tasks[1:])
    second = plan(later, engine, LIMIT_S, warm_start=first)
    assert second.status is PlanStatus.FEASIBLE
    assert sorted(s.task_id for r in second.routes for s in r.stops) == list(range(2, 9))
    assert second.cost.total <= first.cost.total + 1e-6


@pytest.mark.parametrize("engine", ENGINES)
def test_a_task_that_cannot_meet_its_hard_deadline_is_dropped(engine):
    points = [(0, 0), (10, 0), (2, 0)]
    vehicles = [Vehicle(id=0, start_location=0, end_location=0, capacity=10)]
    tasks = [Task(id="late", kind=TaskKind.VISIT, location=1, due_min=4, deadline_min=8,
                  drop_penalty=1000.0),
             Task(id="fine", kind=TaskKind.VISIT, location=2, due_min=4, deadline_min=8,
                  drop_penalty=1000.0)]
    result = plan(problem_on(points, vehicles, tasks, hard_time_windows=False), engine, LIMIT_S)
    assert result.status is PlanStatus.FEASIBLE
    assert result.dropped == ["late"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_work_limit_ends_the_search_after_that_much_work_with_the_same_plan_each_time(engine):
    rng = np.random.default_rng(5)
    points = [(50.0, 50.0)] + [tuple(p) for p in rng.uniform(0, 100, size=(15, 2))]
    vehicles = [Vehicle(id=v, start_location=0, end_location=0, capacity=20) for v in range(3)]
    tasks = [Task(id=i, kind=TaskKind.VISIT, location=i, size=4, due_min=60 + 10 * i, drop_penalty=500.0)
             for i in range(1, 16)]
    problem = problem_on(points, vehicles, tasks, hard_time_windows=False)
    plans = [plan(problem, engine, 30.0, work_limit=40) for _ in range(3)]
    searches = len(portfolio(OrToolsSettings())) if engine == "ortools" else 1  # each member of a portfolio
    assert all(p.status is PlanStatus.FEASIBLE and p.work == 40 * searches for p in plans)
    assert all(p.wall_time_s < 10.0 for p in plans)  # ended by the work, far from the clock
    assert plans[0].task_sequences() == plans[1].task_sequences() == plans[2].task_sequences()
    assert plan(problem, engine, LIMIT_S).work > 0  # work is counted under a time limit too
    with pytest.raises(QlogError, match="work"):
        plan(problem, engine, LIMIT_S, work_limit=0)


def test_a_required_task_with_an_empty_window_is_a_user_error():
    points = [(0, 0), (1, 0)]
    vehicles = [Vehicle(id=0, start_location=0, capacity=10)]
    tasks = [Task(id="x", kind=TaskKind.VISIT, location=1, earliest_min=50, due_min=20)]
    with pytest.raises(QlogError, match="x"):
        plan(problem_on(points, vehicles, tasks), "ortools", LIMIT_S)


def test_unknown_engine_is_a_user_error():
    points = [(0, 0), (1, 0)]
    problem = problem_on(points, [Vehicle(id=0, start_location=0, capacity=1)],
                         [Task(id=1, kind=TaskKind.VISIT, location=1)])
    with pytest.raises(QlogError, match="engine"):
        plan(problem, "gurobi", LIMIT_S)


def test_an_ortools_portfolio_of_two_workers_returns_the_better_plan():
    rng = np.random.default_rng(11)
    points = [(50.0, 50.0)] + [tuple(p) for p in rng.uniform(0, 100, size=(12, 2))]
    vehicles = [Vehicle(id=v, start_location=0, end_location=0, capacity=30) for v in range(3)]
    tasks = [Task(id=i, kind=TaskKind.VISIT, location=i, size=5) for i in range(1, 13)]
    problem = problem_on(points, vehicles, tasks)
    result = solve_ortools(problem, LIMIT_S, settings=OrToolsSettings(workers=2))
    assert result.status is PlanStatus.FEASIBLE
    assert sorted(s.task_id for r in result.routes for s in r.stops) == list(range(1, 13))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_mixed_dispatch_snapshot_is_planned_without_breaking_hard_rules(engine):
    # Two vehicles mid-shift (one carrying an order), a warehouse, eight customers; new orders
    # have soft due times, deadlines and drop penalties; routes are open.
    rng = np.random.default_rng(5)
    points = [(0.0, 0.0)] + [tuple(p) for p in rng.uniform(-20, 20, size=(10, 2))]
    vehicles = [Vehicle(id="v1", start_location=9, start_min=30, capacity=10, current_load=6,
                        onboard=("o1",), cost_per_km=1.0),
                Vehicle(id="v2", start_location=10, start_min=35, capacity=8, cost_per_km=1.5,
                        fixed_cost=5.0, shift_end_min=300)]
    tasks = [Task(id="o1", kind=TaskKind.ONBOARD, location=1, size=4, due_min=60)]
    tasks += [Task(id=f"n{i}", kind=TaskKind.PICKUP_DELIVERY, pickup_location=0, location=i,
                   size=3, pickup_earliest_min=40, due_min=90 + 10 * i, deadline_min=200,
                   service_min=2, pickup_service_min=3, drop_penalty=80.0)
              for i in range(2, 9)]
    problem = problem_on(points, vehicles, tasks, hard_time_windows=False,
                         objective=Objective(lateness_cost_per_min=0.5))
    result = plan(problem, engine, 1.0)
    assert result.status is PlanStatus.FEASIBLE, result.violations
    assert (("o1", StopKind.DELIVERY)) in route_of(result, "v1")
    for v in range(2):
        assert max(loads_along(problem, result, v)) <= problem.vehicles[v].capacity
    served = {s.task_id for r in result.routes for s in r.stops}
    assert served | set(result.dropped) == {t.id for t in tasks}
    assert result.cost.total == pytest.approx(
        result.cost.distance_cost + result.cost.lateness_cost + result.cost.drop_cost
        + result.cost.fixed_cost)


def _plan_in_daemon(queue) -> None:
    points = [(0, 0), (3, 4)]
    problem = problem_on(points, [Vehicle(id=0, start_location=0, end_location=0, capacity=5)],
                         [Task(id=1, kind=TaskKind.VISIT, location=1, size=1)])
    queue.put(plan(problem, "ortools", 0.3).status.value)


def test_ortools_inside_a_daemonic_worker_falls_back_to_one_search():
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    worker = context.Process(target=_plan_in_daemon, args=(queue,), daemon=True)
    worker.start()
    assert queue.get(timeout=30) == "feasible"
    worker.join(timeout=30)


def mixed_fleet_problem(required: bool) -> Problem:
    """Two warehouses 12 km apart, two vans (capacity 6, 0.6 per km) at one and two cargo bikes
    (capacity 3, 0.1 per km) at the other; 24 orders of 1-2 units, each from its nearer warehouse,
    with windows wide enough for every order. Like a dispatch snapshot, the problem carries the
    slowest type's travel times (bikes at 20 km/h, 3 min per km) for the whole fleet."""
    rng = np.random.default_rng(2)
    points = [(0.0, 0.0), (12.0, 0.0)] + [(x, 0.6 * y) for x, y in rng.uniform(-3, 15, size=(24, 2))]
    km = euclid(points)
    vehicles = [Vehicle(id=f"van{k}", start_location=0, end_location=0, capacity=6,
                        cost_per_km=0.6, shift_end_min=480) for k in range(2)]
    vehicles += [Vehicle(id=f"bike{k}", start_location=1, end_location=1, capacity=3,
                         cost_per_km=0.1, shift_end_min=480) for k in range(2)]
    tasks = [Task(id=i, kind=TaskKind.PICKUP_DELIVERY, location=i, pickup_location=int(points[i][0] > 6),
                  size=int(rng.integers(1, 3)), due_min=300, deadline_min=360, service_min=1,
                  pickup_service_min=1.5, drop_penalty=None if required else 35.0)
             for i in range(2, len(points))]
    return Problem(travel_min=3 * km, distance_km=km, vehicles=vehicles, tasks=tasks,
                   hard_time_windows=False, objective=Objective(lateness_cost_per_min=0.2))


@pytest.mark.parametrize("required", [False, True])
@pytest.mark.parametrize("engine", ENGINES)
def test_a_fleet_with_two_per_km_rates_keeps_capacity_and_serves_every_order(engine, required):
    # Overloading a bike instead of sending it twice, or sending a van, saves kilometres at up to
    # six times the rate. PyVRP used to take that shortcut: its load penalty was worth less than
    # 1 km of van driving once the rates differed, so it returned overloaded plans (or feasible
    # ones that dropped orders). Serving all orders within capacity is possible and cheapest.
    problem = mixed_fleet_problem(required)
    result = plan(problem, engine, LIMIT_S)
    assert result.status is PlanStatus.FEASIBLE, result.violations
    for v, vehicle in enumerate(problem.vehicles):
        assert max(loads_along(problem, result, v)) <= vehicle.capacity
    assert result.dropped == []
    bike_stops = sum(len(r.stops) for r in result.routes if str(r.vehicle_id).startswith("bike"))
    assert bike_stops > 0  # the cheap vehicles do part of the work
