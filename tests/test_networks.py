"""Road networks: generated, GraphML and real TNTP networks load, route and simulate."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.rollout import run_episode
from qmix_logistics.network import build_network
from qmix_logistics.policies.heuristics import GreedyPolicy
from qmix_logistics.scenario import (
    GraphMLNetwork,
    GridNetwork,
    RandomGeometricNetwork,
    TNTPNetwork,
    scenario_from_dict,
)
from tests.conftest import small_scenario_dict


def test_grid_travel_times_match_manhattan_distance() -> None:
    net = build_network(GridNetwork(rows=4, cols=5, spacing_km=0.5, speed_kmh=30))
    sp = net.shortest_paths(30.0)
    # from corner (0,0) to (3,4): 7 blocks of 0.5 km at 30 km/h = 7 minutes
    assert sp.dist_km[0, 19] == pytest.approx(3.5)
    assert sp.time_min[0, 19] == pytest.approx(7.0)
    assert net.path(0, 19)[0] == 0 and net.path(0, 19)[-1] == 19 and len(net.path(0, 19)) == 8


def test_vehicle_speed_caps_edge_speed() -> None:
    net = build_network(GridNetwork(rows=3, cols=3, spacing_km=1.0, speed_kmh=60))
    assert net.shortest_paths(30.0).time_min[0, 1] == pytest.approx(2.0)
    assert net.shortest_paths(90.0).time_min[0, 1] == pytest.approx(1.0)


def test_random_geometric_is_strongly_connected() -> None:
    net = build_network(RandomGeometricNetwork(nodes=60, radius=0.25, seed=3))
    assert np.isfinite(net.shortest_paths(30.0).time_min[np.arange(net.n_nodes)]).all()


def test_graphml_round_trip(tmp_path: Path) -> None:
    g = nx.MultiDiGraph()
    for i, (x, y) in enumerate([(-96.70, 43.50), (-96.69, 43.50), (-96.69, 43.51)]):
        g.add_node(i, x=x, y=y)
    for u, v in [(0, 1), (1, 2), (2, 0), (1, 0), (2, 1), (0, 2)]:
        g.add_edge(u, v, length=900.0)
    path = tmp_path / "city.graphml"
    nx.write_graphml(g, path)
    net = build_network(GraphMLNetwork(path=path, speed_attr=None, speed_kmh=54))
    assert net.n_nodes == 3
    assert net.shortest_paths(54.0).time_min[0, 1] == pytest.approx(1.0)  # 0.9 km at 54 km/h
    assert net.nearest_node_lonlat(-96.6901, 43.5099) == net.index_of(2)


def test_tntp_zones_are_not_passed_through(tmp_path: Path) -> None:
    # zone 1 links 2 and 3 cheaply, but a path 2 -> 3 may not pass through it
    text = "<NUMBER OF NODES> 4\n<FIRST THRU NODE> 2\n<END OF METADATA>\n\n~ init term cap len fftt b p s t ty ;\n"
    links = [(1, 2, 1), (2, 1, 1), (1, 3, 1), (3, 1, 1), (2, 4, 5), (4, 3, 5), (3, 4, 5), (4, 2, 5)]
    text += "".join(f"\t{u}\t{v}\t1000\t{l}\t0\t0.15\t4\t0\t0\t1\t;\n" for u, v, l in links)
    path = tmp_path / "toy_net.tntp"
    path.write_text(text)
    net = build_network(TNTPNetwork(path=path, length_unit="km", speed_kmh=60))
    sp = net.shortest_paths(60.0)
    i2, i3 = net.index_of(2), net.index_of(3)
    assert sp.dist_km[i2, i3] == pytest.approx(10.0)
    assert sp.dist_km[net.index_of(1), i3] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "name, nodes, coords, unit",
    [("SiouxFalls", "SiouxFalls_node.tntp", "lonlat", "mi"), ("Anaheim", "Anaheim_nodes.geojson", "lonlat", "ft"),
     ("ChicagoSketch", "ChicagoSketch_node.tntp", "planar", "mi")],
)
def test_real_tntp_networks_load_and_simulate(shared_data: Path, name: str, nodes: str, coords: str, unit: str) -> None:
    folder = shared_data / "networks"
    data = small_scenario_dict()
    data["network"] = {"kind": "tntp", "path": str(folder / f"{name}_net.tntp"),
                       "nodes_path": str(folder / nodes), "coords": coords, "length_unit": unit}
    data["horizon"] = {"start_min": 0, "end_min": 120}
    data["demand"]["last_order_min"] = 90
    sc = scenario_from_dict(data)
    env = DispatchEnv(sc)
    assert np.isfinite(env.net.shortest_paths(30.0).time_min[np.arange(env.net.n_nodes)]).all()
    res = run_episode(env, GreedyPolicy(), seed=0)
    assert res.kpis["orders_created"] > 0
    assert res.kpis["delivered"] > 0
