"""Benchmark readers, the independent checker, and short real solves of shared instances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qmix_logistics.common.errors import QlogError
from qmix_logistics.planning.feasibility import check_routes
from qmix_logistics.planning.instances import (
    best_known_distance,
    read_instance,
    to_problem,
)
from qmix_logistics.planning.problem import TaskKind
from qmix_logistics.planning.solve import solve_instance

DATA = Path(__file__).parents[1] / ".." / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared benchmark data not found at {DATA}")
SOLOMON = ["C101", "C201", "R101", "R201", "RC101", "RC201"]
LILIM = ["lc101", "lr101", "lrc101"]


@needs_data
@pytest.mark.parametrize("name", SOLOMON)
def test_solomon_files_parse_into_100_customers_with_a_best_known_distance(name):
    instance = read_instance(DATA / "solomon" / f"{name}.txt")
    assert (instance.name, instance.kind, instance.num_nodes) == (name, "vrptw", 101)
    assert instance.num_vehicles == 25 and instance.capacity in (200, 700, 1000)
    problem = to_problem(instance)
    assert len(problem.tasks) == 100 and all(t.kind is TaskKind.VISIT for t in problem.tasks)
    assert problem.distance_km[0, 1] == pytest.approx(
        float(((instance.coords[0] - instance.coords[1]) ** 2).sum()) ** 0.5)
    assert best_known_distance(instance) > 0


@needs_data
@pytest.mark.parametrize("name", LILIM)
def test_li_lim_files_pair_every_pickup_with_its_delivery(name):
    instance = read_instance(DATA / "lilim" / f"{name}.txt")
    assert instance.kind == "pdptw" and instance.capacity == 200
    problem = to_problem(instance)
    assert 2 * len(problem.tasks) == instance.num_nodes - 1
    for task in problem.tasks:
        assert task.kind is TaskKind.PICKUP_DELIVERY
        assert instance.demand[task.pickup_location] == -instance.demand[task.location] == task.size


@needs_data
def test_c101_first_customer_matches_the_file():
    instance = read_instance(DATA / "solomon" / "C101.txt")
    # "1  45  68  10  912  967  90" in the file.
    assert list(instance.coords[1]) == [45, 68]
    assert (instance.demand[1], instance.ready_min[1], instance.due_min[1], instance.service_min[1]) == (
        10, 912, 967, 90)


@needs_data
@pytest.mark.parametrize("engine", ["ortools", "pyvrp"])
def test_c101_is_solved_feasibly_and_close_to_the_best_known(engine):
    result = solve_instance(DATA / "solomon" / "C101.txt", engine=engine, time_limit_s=2.5)
    assert result.feasible, result.feasibility.violations
    assert result.feasibility.distance == pytest.approx(result.cost, rel=1e-9)
    assert result.gap_pct is not None and result.gap_pct < 5.0
    payload = json.loads(json.dumps(result.to_dict()))
    assert {"cost", "vehicles", "routes", "gap_pct", "engine", "time_s", "feasible"} <= set(payload)


@needs_data
@pytest.mark.parametrize("engine", ["ortools", "pyvrp"])
def test_lc101_routes_pass_the_independent_checker(engine):
    result = solve_instance(DATA / "lilim" / "lc101.txt", engine=engine, time_limit_s=2.0)
    assert result.feasible, result.feasibility.violations
    assert result.feasibility.served == 106


@needs_data
def test_the_checker_catches_broken_routes():
    instance = read_instance(DATA / "lilim" / "lc101.txt")
    delivery_first = [int(instance.sibling[3]), 3]  # node 3 is a pickup
    report = check_routes(instance, [delivery_first])
    text = " ".join(report.violations)
    assert "without its pickup" in text and "never served" in text
    solomon = read_instance(DATA / "solomon" / "C101.txt")
    everyone = list(range(1, 101))
    report = check_routes(solomon, [everyone, [5]])
    text = " ".join(report.violations)
    assert "exceeds capacity" in text and "more than once" in text and "after due" in text


def test_a_malformed_li_lim_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text("25 200 1\n0 40 50 0 0 1236 0 0 0\n1 45 sixty-eight -10 912 967 90 2 0\n")
    with pytest.raises(QlogError) as error:
        read_instance(path)
    assert str(path) in str(error.value) and "line 3" in str(error.value)


def test_a_malformed_solomon_file_names_the_file(tmp_path):
    path = tmp_path / "C999.txt"
    path.write_text("C999\n\nVEHICLE\nNUMBER CAPACITY\n 25 200\n\nCUSTOMER\nCUST NO.\n 0 40 fifty 0\n")
    with pytest.raises(QlogError) as error:
        read_instance(path)
    assert str(path) in str(error.value)


def test_a_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(QlogError) as error:
        read_instance(tmp_path / "nowhere.txt")
    assert "nowhere.txt" in str(error.value)


VRPLIB_CVRP = """NAME : tiny
TYPE : CVRP
DIMENSION : 4
EDGE_WEIGHT_TYPE : EUC_2D
CAPACITY : 10
NODE_COORD_SECTION
1 0 0
2 3 4
3 6 8
4 0 5
DEMAND_SECTION
1 0
2 4
3 5
4 3
DEPOT_SECTION
1
-1
EOF
"""


def test_a_vrplib_cvrp_file_is_read_with_rounded_distances_and_solved(tmp_path):
    path = tmp_path / "tiny.vrp"
    path.write_text(VRPLIB_CVRP)
    instance = read_instance(path)
    assert (instance.kind, instance.num_nodes, instance.capacity) == ("cvrp", 4, 10)
    problem = to_problem(instance)
    assert problem.distance_km[2, 3] == 7.0  # sqrt(45) = 6.7, rounded as EUC_2D asks
    result = solve_instance(path, engine="ortools", time_limit_s=0.5)
    assert result.feasible, result.feasibility.violations
    assert result.vehicles == 2 and result.gap_pct is None


@needs_data
def test_minimising_vehicles_uses_the_hierarchical_best_known_entry():
    result = solve_instance(DATA / "solomon" / "R101.txt", engine="pyvrp", time_limit_s=1.5,
                            minimise_vehicles=True)
    assert result.feasible
    assert result.bks_distance == pytest.approx(1645.79)  # the "R101" entry, 19 vehicles
    assert result.vehicles <= 20
