"""`qlog simulate` as a planner uses it: sweeps write every file, flags fail cleanly, single runs still work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from qlog_cli.app import main


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["qlog", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


@pytest.fixture
def scenario_file(small_scenario, tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_scenario.model_dump(mode="json")))
    return path


def test_sweep_writes_csv_json_png_html(monkeypatch, capsys, scenario_file, tmp_path):
    out_dir = tmp_path / "study"
    code, out, err = run_cli(monkeypatch, capsys, "simulate", str(scenario_file), "-p", "greedy", "-p", "random",
                             "--sweep", "fleet=2:4:2", "--sweep", "demand=0.5,1", "-n", "1", "--seed", "1",
                             "--workers", "1", "--out-dir", str(out_dir))
    assert code == 0, err
    for name in ("results.csv", "results.json", "summary.csv", "kpi_curves.png", "lateness.png",
                 "utilization.png", "report.html"):
        assert (out_dir / name).stat().st_size > 0, name
    data = json.loads((out_dir / "results.json").read_text())
    assert len(data["rows"]) == 2 * 2 * 2 and data["summary"][0]["service_level_ci95"] is None  # one seed: no CI
    assert "greedy" in out and "service" in out and "±" in out


def test_single_policy_keeps_working_and_traces(monkeypatch, capsys, scenario_file, tmp_path):
    out = tmp_path / "r.json"
    code, stdout, err = run_cli(monkeypatch, capsys, "simulate", str(scenario_file), "-p", "greedy", "-n", "2",
                                "-o", str(out), "--trace", str(tmp_path / "t.csv"), "--map", str(tmp_path / "m.png"),
                                "--window", "30:90", "--gif", str(tmp_path / "s.gif"))
    assert code == 0, err
    data = json.loads(out.read_text())
    assert data["policy"] == "greedy" and len(data["episodes"]) == 2
    assert (tmp_path / "t.csv").stat().st_size > 1000 and (tmp_path / "m.png").stat().st_size > 5000
    assert (tmp_path / "s.gif").read_bytes()[:6] == b"GIF89a"
    assert "service_level" in stdout


def test_single_run_writes_to_its_run_folder_by_default(monkeypatch, capsys, scenario_file, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli(monkeypatch, capsys, "simulate", str(scenario_file), "-n", "1", "--seed", "5")
    assert code == 0, err
    (folder,) = (tmp_path / "reports").iterdir()
    assert folder.name.startswith("simulate__small__5__")
    assert json.loads((folder / "results.json").read_text())["episodes"][0]["seed"] == 5
    assert f"results: reports/{folder.name}/results.json" in stdout
    (progress,) = err.strip().splitlines()  # stderr is not a terminal here: one plain line, no bar
    assert progress.startswith("simulate greedy 1/1 days, ") and progress.endswith(", done")


@pytest.mark.parametrize("args,needle", [
    (["--sweep", "fleet=4:2:1"], "--sweep"),
    (["--sweep", "speed=1:2:1"], "unknown key"),
    (["--sweep", "fleet=x"], "--sweep"),
    (["-p", "greedy", "-p", "random", "--trace", "t.csv"], "--trace"),
    (["--executor", "dask", "-p", "greedy"], "--executor"),
    (["--window", "9:1", "--map", "m.png"], "--window"),
    (["--window", "10:20"], "--window"),
    (["--gif", "shift.png"], "--gif"),
    (["--resume"], "--resume"),
    (["--out-dir", "study", "-o", "r.json"], "--out"),
])
def test_bad_flags_exit_2_without_traceback(monkeypatch, capsys, scenario_file, tmp_path, args, needle):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "simulate", str(scenario_file), "-n", "1", *args)
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_malformed_sweep_from_the_shell(scenario_file):
    qlog = [sys.executable, "-c", "from qlog_cli.app import main; main()"]
    proc = subprocess.run([*qlog, "simulate", str(scenario_file), "--sweep", "fleet=1:x:2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--sweep" in proc.stderr and "Traceback" not in proc.stderr
