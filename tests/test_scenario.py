"""Scenario validation: bad input is rejected with the file, the field path and the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from qlog_cli.app import main

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.network.nodes import check_references
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
        ({"batching": {"hold_slack_min": -5}}, "batching.hold_slack_min"),
        ({"batching": {"hold_slack": 5}}, "batching.hold_slack"),
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


@pytest.mark.parametrize("section", ["network", "depots", "fleet", "demand"])
def test_a_missing_section_is_named_not_defaulted(section: str) -> None:
    data = small_scenario_dict()
    del data[section]
    with pytest.raises(QlogError) as info:
        scenario_from_dict(data, source="x.yaml")
    assert info.value.field == section
    assert str(info.value) == f"x.yaml: {section}: Field required"


def test_node_references_are_checked_against_the_network_naming_the_file() -> None:
    data = small_scenario_dict()
    data["demand"]["hotspots"] = [{"node": "center"}, {"node": 999}]
    sc = scenario_from_dict(data, source="x.yaml")  # loading needs no network, so it cannot tell
    with pytest.raises(QlogError) as info:
        check_references(sc, source="x.yaml")
    assert info.value.field == "demand.hotspots.1.node"
    assert str(info.value).startswith("x.yaml: demand.hotspots.1.node: node 999 is not in the road network")
    assert check_references(scenario_from_dict(small_scenario_dict())).n_nodes == 36  # the 6x6 grid


def _validate_in_process(path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                         ) -> tuple[int, str, str]:
    """Run ``qlog validate PATH`` the way the console script does; return (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["qlog", "validate", str(path)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


def _write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_qlog_validate_names_a_missing_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    data = small_scenario_dict()
    del data["fleet"]
    path = _write(tmp_path, "no_fleet.yaml", data)
    code, _, err = _validate_in_process(path, monkeypatch, capsys)
    assert code == 2
    assert f"{path}: fleet: Field required" in err and "Traceback" not in err


@pytest.mark.parametrize("batch_size, reason", [(-3, "greater than or equal to 1"), ("lots", "valid integer")])
def test_qlog_validate_checks_the_training_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str], batch_size: object,
                                                reason: str) -> None:
    path = _write(tmp_path, "bad_training.yaml", small_scenario_dict(training={"batch_size": batch_size}))
    load_scenario(path)  # the scenario schema leaves the block to the learner...
    code, out, err = _validate_in_process(path, monkeypatch, capsys)
    assert code == 2 and "ok" not in out  # ...and validate asks the learner
    assert err.startswith(f"error: {path}: training.batch_size: ") and reason in err
    assert "Traceback" not in err


def test_qlog_validate_checks_node_references_and_passes_good_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = small_scenario_dict(training={"batch_size": 16})
    data["demand"]["hotspots"] = [{"node": 999}]
    code, _, err = _validate_in_process(_write(tmp_path, "hotspot.yaml", data), monkeypatch, capsys)
    assert code == 2 and "hotspot.yaml: demand.hotspots.0.node: node 999" in err
    del data["demand"]["hotspots"]
    code, out, _ = _validate_in_process(_write(tmp_path, "good.yaml", data), monkeypatch, capsys)
    assert code == 0 and "ok" in out and "4 vehicles" in out


def _qlog(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qlog_cli.app", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_cli_validate_in_a_fresh_process_exits_2_on_a_missing_section_and_bad_training(tmp_path: Path) -> None:
    data = small_scenario_dict()
    del data["demand"]
    res = _qlog("validate", str(_write(tmp_path, "no_demand.yaml", data)))
    assert res.returncode == 2 and "no_demand.yaml: demand: Field required" in res.stderr
    res = _qlog("validate", str(_write(tmp_path, "neg.yaml", small_scenario_dict(training={"batch_size": -1}))))
    assert res.returncode == 2 and "neg.yaml: training.batch_size:" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_cli_validate_rejects_bad_file_with_exit_2(tmp_path: Path) -> None:
    data = small_scenario_dict()
    data["fleet"][0]["capacity"] = -4
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    res = _qlog("validate", str(bad))
    assert res.returncode == 2
    assert "bad.yaml" in res.stderr and "fleet.0.capacity" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout


@pytest.mark.slow
def test_cli_validate_rejects_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    res = _qlog("validate", str(broken))
    assert res.returncode == 2 and "not valid YAML" in res.stderr and "Traceback" not in res.stderr
    res = _qlog("simulate", str(tmp_path / "missing.yaml"))
    assert res.returncode == 2 and "not found" in res.stderr


@pytest.mark.slow
def test_cli_validate_and_simulate_ok(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(small_scenario_dict()))
    assert _qlog("validate", str(good)).returncode == 0
    out = tmp_path / "res.json"
    res = _qlog("simulate", str(good), "--policy", "greedy", "--episodes", "2", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "service_level" in res.stdout and out.exists()
