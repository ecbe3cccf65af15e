"""Per-source travel times: rows equal one batched search, km follow the path, worlds compute only their sources."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.rollout import run_episode
from qmix_logistics.network import build_network
from qmix_logistics.network.travel_times import EXACT_PERCENTILE_NODES
from qmix_logistics.policies.heuristics import GreedyPolicy
from qmix_logistics.scenario import (
    GridNetwork,
    RandomGeometricNetwork,
    TNTPNetwork,
    scenario_from_dict,
)
from tests.conftest import small_scenario_dict


def _zoned_network(tmp_path: Path):
    """A 5x5 grid in TNTP form whose first three nodes are zones with cheap links: fastest paths would
    run along them, but may not pass through them."""
    links = []
    for r in range(5):
        for c in range(5):
            u = r * 5 + c + 1
            if c < 4:
                links += [(u, u + 1, 1 + (r + c) % 3), (u + 1, u, 1 + (r * c) % 2)]
            if r < 4:
                links += [(u, u + 5, 2), (u + 5, u, 1 + c % 2)]
    links = [(u, v, 0.1 if min(u, v) <= 3 else km) for u, v, km in links]
    text = "<NUMBER OF NODES> 25\n<FIRST THRU NODE> 4\n<END OF METADATA>\n\n"
    text += "".join(f"\t{u}\t{v}\t1000\t{km}\t0\t0.15\t4\t0\t0\t1\t;\n" for u, v, km in links)
    path = tmp_path / "zoned_net.tntp"
    path.write_text(text)
    net = build_network(TNTPNetwork(path=path, length_unit="km", speed_kmh=40))
    assert np.count_nonzero(~net.through) == 3
    return net


def test_rows_do_not_depend_on_which_sources_are_searched_together(tmp_path: Path) -> None:
    all_at_once = _zoned_network(tmp_path).travel_times((20.0, 40.0))
    one_by_one = _zoned_network(tmp_path).travel_times((20.0, 40.0))
    n = all_at_once.n_nodes
    all_at_once.ensure(np.arange(n))
    for u in np.random.default_rng(3).permutation(n):
        one_by_one.ensure([u])
    nodes = np.arange(n)
    for t in range(2):
        assert np.array_equal(all_at_once.time_min[t, nodes], one_by_one.time_min[t, nodes])
        assert np.array_equal(all_at_once.dist_km[t, nodes], one_by_one.dist_km[t, nodes])
    assert one_by_one.n_rows == n


def test_times_match_networkx_and_km_follow_the_path() -> None:
    net = build_network(RandomGeometricNetwork(nodes=150, radius=0.15, seed=5))
    sp = net.shortest_paths(25.0)
    rng = np.random.default_rng(0)
    for u in rng.choice(net.n_nodes, size=5, replace=False):
        ref = nx.single_source_dijkstra_path_length(
            net.graph, int(u), weight=lambda a, b, d: d["length_km"] / min(d["speed_kmh"], 25.0) * 60.0)
        assert sp.time_min[u, list(ref)] == pytest.approx(list(ref.values()))
        for v in rng.choice(net.n_nodes, size=5):
            path = net.path(u, v, 25.0)
            assert path[0] == u and path[-1] == v
            km = sum(net.graph[a][b]["length_km"] for a, b in pairwise(path))
            assert sp.dist_km[u, v] == pytest.approx(km)


def test_zones_are_never_passed_through(tmp_path: Path) -> None:
    net = _zoned_network(tmp_path)
    zones = {net.index_of(z) for z in (1, 2, 3)}
    for u in range(net.n_nodes):
        for v in range(net.n_nodes):
            assert not zones & set(net.path(u, v, 40.0)[1:-1])
    one, two, four = net.index_of(1), net.index_of(2), net.index_of(4)
    assert net.path(one, two, 40.0) == [one, two]  # a zone may start and end a path
    assert net.shortest_paths(40.0).dist_km[two, four] > 1.0  # not 2 -> 3 -> 4 (0.2 km) through zone 3


def test_views_index_like_the_old_matrices() -> None:
    net = build_network(GridNetwork(rows=4, cols=5, spacing_km=0.5, speed_kmh=30))
    table = net.travel_times((15.0, 30.0))
    assert table.time_min.shape == (2, 20, 20) and table.time_min[1].shape == (20, 20)
    assert table.time_min[1, 0, 19] == pytest.approx(7.0)  # 7 blocks of 0.5 km at 30 km/h
    assert table.time_min[0, 0, 19] == pytest.approx(14.0)
    assert table.dist_km[0][0, 19] == pytest.approx(3.5)
    row = table.time_min[1, 19]
    assert row.shape == (20,) and row[19] == 0.0 and row[0] == pytest.approx(7.0)
    nodes = np.array([3, 0, 7])
    block = table.time_min[1][np.ix_(nodes, nodes)]
    assert block.shape == (3, 3) and block[1, 0] == pytest.approx(3.0) and np.all(np.diag(block) == 0.0)
    assert table.n_rows == 4  # only the from-nodes read so far: 0, 19, 3, 7
    with pytest.raises(TypeError):
        table.time_min[1][:, 0]
    with pytest.raises(IndexError):
        table.ensure([20])


def test_percentile_is_exact_on_small_networks(tmp_path: Path) -> None:
    net = _zoned_network(tmp_path)
    assert net.n_nodes <= EXACT_PERCENTILE_NODES
    table = net.travel_times((30.0,))
    full = table.time_min[0, np.arange(net.n_nodes)]
    assert table.percentile_min(95.0) == np.percentile(full, 95)
    fresh = _zoned_network(tmp_path).travel_times((30.0,))
    assert fresh.percentile_min(95.0) == np.percentile(full, 95) and fresh.n_rows == 0  # keeps no rows


def _city_scenario(network: dict, vehicles: int, hours: float, rate_per_vehicle: float = 4.5):
    data = small_scenario_dict()
    data["network"] = network
    data["horizon"] = {"start_min": 0, "end_min": 60 * hours}
    data["depots"] = [{"name": "a", "node": "center", "docks": 8, "workers": 12},
                      {"name": "b", "node": 0, "docks": 4, "workers": 6}]
    data["fleet"] = [{"name": "van", "count": vehicles, "capacity": 6, "speed_kmh": 40, "cost_per_km": 0.5}]
    data["demand"] = {**data["demand"], "rate_per_hour": rate_per_vehicle * vehicles, "last_order_min": 60 * hours - 30,
                      "due_window_min": {"min": 60, "max": 150}, "max_late_min": 60}
    return scenario_from_dict(data)


def _sources(env: DispatchEnv) -> set[int]:
    w = env.world
    return set(w.depot_node.tolist()) | set(w.orders.dest.tolist())


def test_a_day_computes_only_the_rows_of_its_sources() -> None:
    sc = _city_scenario({"kind": "grid", "rows": 45, "cols": 45, "spacing_km": 0.2, "speed_kmh": 30}, 6, 2.0)
    env = DispatchEnv(sc)
    n = env.net.n_nodes
    result = run_episode(env, GreedyPolicy(), seed=0)
    assert result.kpis["delivered"] > 0
    table = env.world.travel
    first = _sources(env)
    assert table.n_rows == len(first) < n / 10
    assert table.rows_min.shape == (1, table.n_rows, n)  # one batched search at construction, no slack
    assert table.nbytes < 2 * 8 * n * 1.5 * len(first) + 8 * n
    run_episode(env, GreedyPolicy(), seed=1)  # a second day reuses the shared rows and adds its new sources
    assert table.n_rows == len(first | _sources(env))
    assert env.world.travel is table


def test_a_full_shared_table_is_replaced_not_grown(monkeypatch: pytest.MonkeyPatch) -> None:
    import qmix_logistics.network.travel_times as travel_times

    sc = _city_scenario({"kind": "grid", "rows": 30, "cols": 30, "spacing_km": 0.2, "speed_kmh": 30}, 4, 2.0)
    monkeypatch.setattr(travel_times, "SHARED_BUDGET_BYTES", 16 * 900 * 20)  # room for 20 rows
    env = DispatchEnv(sc, build_network(sc.network))
    env.reset(seed=0)
    first = env.world.travel
    assert 20 < first.n_rows == len(_sources(env))  # a world always gets its own rows
    env.reset(seed=0)
    assert env.world.travel is first  # the same day needs no new rows
    env.reset(seed=1)
    second = env.world.travel
    assert second is not first and second.n_rows == len(_sources(env))
    assert env.net.travel_times((40.0,)) is second  # later worlds share the new one
    obs, _ = env.reset(seed=0)
    again = DispatchEnv(sc)  # the same day on a network whose table has room gives the same view
    assert np.array_equal(obs, again.reset(seed=0)[0])


# ---------------------------------------------------------------- city scale (slow)

def _city_day(network: dict, vehicles: int, hours: float) -> DispatchEnv:
    env = DispatchEnv(_city_scenario(network, vehicles, hours))
    result = run_episode(env, GreedyPolicy(), seed=0)
    assert result.kpis["orders_created"] > 0 and result.kpis["delivered"] > 0
    table = env.world.travel
    assert table.n_rows == len(_sources(env)) < env.net.n_nodes / 4
    assert table.rows_min.shape[1] == table.n_rows
    return env


@pytest.mark.slow
@pytest.mark.parametrize("network", [
    {"kind": "grid", "rows": 114, "cols": 114, "spacing_km": 0.1, "speed_kmh": 30, "arterial_every": 10},
    {"kind": "random_geometric", "nodes": 13000, "radius": 0.0156, "size_km": 12.0, "seed": 1},
], ids=["grid-13k", "random-geometric-13k"])
def test_13k_node_networks_run_a_day_with_50_vehicles(network: dict) -> None:
    env = _city_day(network, 50, 3.0)
    assert env.net.n_nodes > 12000


@pytest.mark.slow
@pytest.mark.parametrize("network", [
    {"kind": "grid", "rows": 224, "cols": 224, "spacing_km": 0.08, "speed_kmh": 30, "arterial_every": 12},
    {"kind": "random_geometric", "nodes": 50000, "radius": 0.0085, "size_km": 18.0, "seed": 2},
], ids=["grid-50k", "random-geometric-50k"])
def test_50k_node_networks_load_and_run(network: dict) -> None:
    env = _city_day(network, 10, 1.5)
    assert env.net.n_nodes > 48000


@pytest.mark.slow
def test_a_13k_node_graphml_loads_and_runs(tmp_path: Path) -> None:
    g = nx.relabel_nodes(nx.grid_2d_graph(114, 114).to_directed(), lambda rc: rc[0] * 114 + rc[1])
    for node in g.nodes:
        g.nodes[node].update(x=node % 114 * 0.1, y=node // 114 * 0.1)  # planar coordinates are km; lengths m
    nx.set_edge_attributes(g, 100.0, "length")
    path = tmp_path / "city.graphml"
    nx.write_graphml(g, path)
    network = {"kind": "graphml", "path": str(path), "coords": "planar", "speed_attr": None, "speed_kmh": 30}
    env = _city_day(network, 20, 2.0)
    assert env.net.n_nodes == 114 * 114
    assert env.world.time_min[0, env.net.index_of(0), env.net.index_of(3)] == pytest.approx(0.6)  # 300 m, 30 km/h
