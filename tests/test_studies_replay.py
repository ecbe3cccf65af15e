"""Real demand: an order CSV replaces the generator; lat/lon snap to nodes of geographic networks."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from qlog_cli.app import main

from qmix_logistics.common.errors import QlogError
from qmix_logistics.evaluation.simulate import simulate
from qmix_logistics.network.cache import network_for
from qmix_logistics.scenario import load_scenario, scenario_from_dict
from qmix_logistics.sim.demand import read_orders_csv
from qmix_logistics.studies.replay import replay_orders

ROOT_SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["qlog", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code or 0), capsys.readouterr().err


def lonlat_graphml(path, lon0=10.0, lat0=50.0, step_deg=0.01, n=5):
    """A small n x n street grid with lon/lat node coordinates and edge lengths in metres."""
    g = nx.Graph()
    for r in range(n):
        for c in range(n):
            g.add_node(f"n{r}_{c}", x=lon0 + c * step_deg, y=lat0 + r * step_deg)
    for r in range(n):
        for c in range(n):
            for rr, cc in ((r, c + 1), (r + 1, c)):
                if rr < n and cc < n:
                    g.add_edge(f"n{r}_{c}", f"n{rr}_{cc}", length=800.0)
    nx.write_graphml(g, path)


def test_bundled_replay_scenario_runs():
    scenario = load_scenario(ROOT_SCENARIOS / "depot_replay.yaml")
    report = simulate(scenario, "greedy", episodes=1)
    lines = (ROOT_SCENARIOS / "orders_example.csv").read_text().splitlines()
    assert report.episodes[0].kpis["orders_created"] == len(lines) - 1


def test_orders_flag_overrides_generated_demand(small_scenario, tmp_path):
    csv = tmp_path / "orders.csv"
    csv.write_text("time_min,node,size,due_in_min\n5,0,1,60\n12,35,2,45\n30,7,1,90\n")
    replay = replay_orders(small_scenario, csv)
    assert replay.demand.kind == "csv" and small_scenario.demand.kind == "poisson"
    assert simulate(replay, "greedy", episodes=1).episodes[0].kpis["orders_created"] == 3


def test_lat_lon_snaps_on_a_lonlat_graphml(small_scenario, tmp_path):
    graphml = tmp_path / "city.graphml"
    lonlat_graphml(graphml)
    data = small_scenario.model_dump()
    data["network"] = {"kind": "graphml", "path": str(graphml), "coords": "lonlat"}
    data["depots"][0]["node"] = "n2_2"
    scenario = scenario_from_dict(data)
    csv = tmp_path / "orders.csv"
    # each point lies within a few metres of one node (0.00003 deg is ~3 m)
    csv.write_text("timestamp,lat,lon,size,due_in_min\n"
                   "2024-05-06T00:05:00,50.00003,10.00002,1,60\n"
                   "2024-05-06T00:20:00,50.03998,10.04001,1,60\n"
                   "2024-05-06T00:40:00,50.02001,10.00999,2,60\n")
    replay = replay_orders(scenario, csv)
    net = network_for(replay)
    stream = read_orders_csv(csv, replay, net, net.shortest_paths().time_min)
    assert [net.labels[d] for d in stream.dest] == ["n0_0", "n4_4", "n2_1"]
    assert stream.arrival_min.tolist() == [5.0, 20.0, 40.0]
    assert simulate(replay, "greedy", episodes=1).episodes[0].kpis["orders_created"] == 3


def test_lat_lon_snaps_on_sioux_falls(small_scenario, shared_data, tmp_path):
    nets = shared_data / "networks"
    for name in ("SiouxFalls_net.tntp", "SiouxFalls_node.tntp"):
        shutil.copy(nets / name, tmp_path / name)
    data = small_scenario.model_dump()
    data["network"] = {"kind": "tntp", "path": str(tmp_path / "SiouxFalls_net.tntp"),
                       "nodes_path": str(tmp_path / "SiouxFalls_node.tntp"), "length_unit": "mi", "coords": "lonlat"}
    data["depots"][0]["node"] = 10
    scenario = scenario_from_dict(data)
    net = network_for(scenario)
    targets = [1, 13, 24]
    rows = ["time_min,lat,lon,size"]
    for k, label in enumerate(targets):
        lon, lat = net.lonlat[net.index_of(label)]
        rows.append(f"{10 * (k + 1)},{lat + 1e-4},{lon - 1e-4},1")
    csv = tmp_path / "orders.csv"
    csv.write_text("\n".join(rows) + "\n")
    replay = replay_orders(scenario, csv)
    stream = read_orders_csv(csv, replay, net, net.shortest_paths().time_min)
    assert [int(net.labels[d]) for d in stream.dest] == targets
    assert np.all(stream.due_min > stream.arrival_min)


def test_lat_lon_on_a_planar_network_is_a_clear_error(small_scenario, tmp_path):
    csv = tmp_path / "orders.csv"
    csv.write_text("time_min,lat,lon,size\n1,50.0,10.0,1\n")
    with pytest.raises(QlogError, match="geographic"):
        replay_orders(small_scenario, csv)


def test_bad_order_file_exits_2_naming_file_and_line(monkeypatch, capsys, tmp_path):
    csv = tmp_path / "bad_orders.csv"
    csv.write_text("time_min,node,size\n5,3,1\n9,4,lots\n")
    code, err = run_cli(monkeypatch, capsys, "simulate", str(ROOT_SCENARIOS / "depot.yaml"), "--orders", str(csv),
                        "-n", "1", "-o", str(tmp_path / "out.json"))
    assert code == 2
    assert "bad_orders.csv" in err and "line 3" in err and "Traceback" not in err
    code, err = run_cli(monkeypatch, capsys, "simulate", str(ROOT_SCENARIOS / "depot.yaml"),
                        "--orders", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv" in err and "not found" in err
