"""Scenario validation: bad input is rejected with the file, the field path and the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.scenario import load_scenario, scenario_from_dict
from tests.conftest import ROOT, small_scenario_dict


@pytest.mark.parametrize("name", ["depot.yaml", "multi_warehouse.yaml", "rush_hour.yaml"])
def test_bundled_scenarios_load_and_build(name: str) -> None:
    sc = load_scenario(ROOT / "scenarios" / name)
    env = DispatchEnv(sc)
    obs, masks = env.reset()
    assert obs.shape == (sc.n_vehicles, env.obs_size)
    assert masks.shape == (sc.n_vehicles, env.n_actions)


def test_depot_scenario_matches_the_brief() -> None:
    sc = load_scenario(ROOT / "scenarios" / "depot.yaml")
    assert len(sc.depots) == 1 and 6 <= sc.n_vehicles <= 10
    assert sc.horizon.end_min - sc.horizon.start_min == 480
    assert sc.network.kind == "grid"


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"fleet": [{"name": "van", "count": 2, "capacity": -1}]}, "fleet.0.capacity"),
        ({"fleet": [{"name": "van", "count": 2, "capacty": 3}]}, "fleet.0.capacty"),
        ({"horizon": {"start_min": 0, "end_min": "late"}}, "horizon.end_min"),
        ({"demand": {"rate_per_hour": -3}}, "demand.rate_per_hour"),
        ({"colour": "red"}, "colour"),
        ({"network": {"kind": "tntp", "path": "/nonexistent/x_net.tntp"}}, "network.path"),
    ],
)
def test_invalid_values_name_the_field(patch: dict, field: str) -> None:
    data = small_scenario_dict()
    data.update(patch)
    with pytest.raises(QlogError) as info:
        scenario_from_dict(data, source="s.yaml")
    assert info.value.field == field
    assert str(info.value).startswith("s.yaml: " + field)


def test_depot_node_not_in_graph_is_rejected() -> None:
    data = small_scenario_dict()
    data["depots"][0]["node"] = 999
    with pytest.raises(QlogError, match="depots.0.node"):
        DispatchEnv(scenario_from_dict(data))


def _qlog(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qlog_cli.app", *args], capture_output=True, text=True, timeout=120)


def test_cli_validate_rejects_bad_file_with_exit_2(tmp_path: Path) -> None:
    data = small_scenario_dict()
    data["fleet"][0]["capacity"] = -4
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    res = _qlog("validate", str(bad))
    assert res.returncode == 2
    assert "bad.yaml" in res.stderr and "fleet.0.capacity" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout


def test_cli_validate_rejects_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    res = _qlog("validate", str(broken))
    assert res.returncode == 2 and "not valid YAML" in res.stderr and "Traceback" not in res.stderr
    res = _qlog("simulate", str(tmp_path / "missing.yaml"))
    assert res.returncode == 2 and "not found" in res.stderr


def test_cli_validate_and_simulate_ok(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(small_scenario_dict()))
    assert _qlog("validate", str(good)).returncode == 0
    out = tmp_path / "res.json"
    res = _qlog("simulate", str(good), "--policy", "greedy", "--episodes", "2", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "service_level" in res.stdout and out.exists()
