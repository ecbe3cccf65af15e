"""Paired evaluation (reproducible, same days for every policy), `qlog eval` and `qlog solve`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from qlog_cli.app import app, main
from typer.testing import CliRunner

from qmix_logistics.evaluation import compare
from qmix_logistics.evaluation.compare import evaluate
from qmix_logistics.evaluation.render import display_rows, pair_rows, save_report
from qmix_logistics.scenario import scenario_from_dict
from tests.conftest import small_scenario_dict

SOLOMON = """TINY

VEHICLE
NUMBER     CAPACITY
  3         10

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME

    0      0         0          0          0       1000          0
    1      3         4          4          0       1000          1
    2      6         8          4          0       1000          1
    3      -3        4          5          0       1000          1
    4      0         -5         3          0       1000          1
"""


def short_day_dict() -> dict:
    """Ninety minutes of the small scenario: about 30 orders for 4 vans."""
    return small_scenario_dict(horizon={"start_min": 0, "end_min": 90}, demand={"last_order_min": 60})


def without_timing(report) -> str:
    data = report.to_dict()
    data.pop("timing")
    return json.dumps(data, sort_keys=True)


def test_evaluation_is_reproducible_and_paired_by_seed():
    scenario = scenario_from_dict(short_day_dict())
    first = evaluate(scenario, ["greedy", "random"], 3, seed=4)
    second = evaluate(scenario, ["greedy", "random"], 3, seed=4)
    assert without_timing(first) == without_timing(second)
    assert first.seeds == [4, 5, 6]
    created = {p: first.values(p, "orders_created").tolist() for p in first.policies}
    assert created["greedy"] == created["random"] and len(set(created["greedy"])) > 1
    summary = first.summary()["greedy"]["total_cost"]
    assert summary["ci_low"] <= summary["mean"] <= summary["ci_high"]
    wins = first.wins()
    for metric in ("total_cost", "service_level"):
        ab, ba = wins[metric]["greedy"]["random"], wins[metric]["random"]["greedy"]
        assert ab["wins"] == ba["losses"] and ab["ties"] == ba["ties"]
        assert ab["wins"] + ab["ties"] + ab["losses"] == 3
    assert wins["total_cost"]["greedy"]["random"]["wins"] == 3
    diffs = first.paired_differences()["total_cost"]
    gap = first.values("greedy", "total_cost") - first.values("random", "total_cost")
    ab, ba = diffs["greedy"]["random"], diffs["random"]["greedy"]
    assert ab["mean"] == pytest.approx(gap.mean()) and ba["mean"] == pytest.approx(-gap.mean())
    assert ab["ci_low"] <= ab["mean"] <= ab["ci_high"] < 0  # greedy beat random on all 3 days
    assert ab["ci_low"] == pytest.approx(-ba["ci_high"]) and ab["ci_high"] == pytest.approx(-ba["ci_low"])
    rows = first.to_rows()
    assert len(rows) == 6 and {r["policy"] for r in rows} == {"greedy", "random"}


@pytest.mark.slow
def test_days_played_by_a_process_pool_equal_the_days_played_here(tmp_path):
    from qmix_logistics.evaluation.journal import DayJournal

    scenario = scenario_from_dict(short_day_dict())
    here = evaluate(scenario, ["greedy", "random"], 3, seed=4)
    settings = {"test": 1}
    with DayJournal.open(tmp_path, "eval", settings) as journal:
        pooled = evaluate(scenario, ["greedy", "random"], 3, seed=4, workers=2, journal=journal)
    assert without_timing(pooled) == without_timing(here)
    with DayJournal.open(tmp_path, "eval", settings) as journal:  # every day was journaled as it ended
        assert len(journal.rows) == 6


def test_statistics_are_computed_once_per_report(monkeypatch, tmp_path):
    scenario = scenario_from_dict(short_day_dict())
    report = evaluate(scenario, ["greedy", "random"], 2, seed=4)
    calls = []
    real = compare.mean_interval
    monkeypatch.setattr(compare, "mean_interval", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    first = display_rows(report)
    computed = len(calls)
    assert computed == 2 * 11 + 2 * 2  # every KPI of both policies, both metrics of both orders of the pair
    assert display_rows(report) == first and pair_rows(report) and report.to_dict()
    save_report(report, tmp_path)
    assert len(calls) == computed


def test_a_single_day_has_means_but_no_intervals(tmp_path):
    report = evaluate(scenario_from_dict(short_day_dict()), ["greedy", "random"], 1, seed=4)
    data = report.to_dict()
    assert data["summary"]["greedy"]["total_cost"]["ci_low"] is None
    assert "±" not in display_rows(report)[0]["greedy"]
    json.loads((save_report(report, tmp_path)["json"]).read_text())  # strict JSON: no NaN


def test_qlog_eval_writes_json_csv_and_chart(tmp_path):
    scenario_file = tmp_path / "small.yaml"
    scenario_file.write_text(yaml.safe_dump(short_day_dict()))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "eval", str(scenario_file), "--policies", "greedy,random,ortools", "--episodes", "2",
        "--seed", "3", "--out-dir", str(out), "--planner-time-limit", "0.05", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "random vs greedy" in result.output and "cost W-T-L" in result.output
    data = json.loads((out / "eval.json").read_text())
    assert data["policies"] == ["greedy", "random", "ortools"] and data["seeds"] == [3, 4]
    assert data["planner_time_limit_s"] == 0.05
    assert set(data["timing"]["ortools"]) == {"decision_ms_mean", "decision_ms_p99", "compute_s"}
    with open(out / "eval.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    by_seed = {}
    for row in rows:
        by_seed.setdefault(row["seed"], set()).add(row["orders_created"])
    assert all(len(values) == 1 for values in by_seed.values())  # the same days for every policy
    assert (out / "eval.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert (out / "eval.html").read_text().count("<table>") == 3
    assert len((out / "days.jsonl").read_text().splitlines()) == 1 + 6  # header, then one line per day


@pytest.mark.slow
def test_qlog_eval_writes_plain_progress_lines_when_stderr_is_a_file(tmp_path, monkeypatch):
    scenario_file = tmp_path / "small.yaml"
    scenario_file.write_text(yaml.safe_dump(short_day_dict()))
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "log"
    with open(log, "w") as stderr:
        done = subprocess.run([sys.executable, "-m", "qlog_cli.app", "eval", str(scenario_file),
                               "--policies", "greedy,random", "--episodes", "2", "--workers", "1"],
                              stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=300)
    assert done.returncode == 0, log.read_text()
    lines = log.read_text().splitlines()
    assert lines[0].startswith("eval greedy 1/4 days, ") and ", eta " in lines[0]
    assert lines[-1].startswith("eval random 4/4 days, ") and lines[-1].endswith(", done")
    assert not any("\x1b" in line or "━" in line for line in lines)  # no bar, no terminal codes
    folders = list((tmp_path / "reports").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("eval__small__1__")
    assert f"json: reports/{folders[0].name}/eval.json" in done.stdout


def qlog(monkeypatch, capsys, *args: str) -> subprocess.CompletedProcess:
    """Run the `qlog` entry point in this process, as the console script would."""
    monkeypatch.setattr(sys, "argv", ["qlog", *args])
    with pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, done.value.code or 0, out.out, out.err)


def test_qlog_solve_prints_one_json_object(tmp_path, monkeypatch, capsys):
    instance = tmp_path / "tiny.txt"
    instance.write_text(SOLOMON)
    routes = tmp_path / "tiny.sol"
    done = qlog(monkeypatch, capsys, "solve", str(instance), "--json", "--time-limit", "0.2",
                "--routes-out", str(routes))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["feasible"] and answer["vehicles"] == 2
    assert sorted(c for route in answer["routes"] for c in route) == [1, 2, 3, 4]
    # the optimum: {1, 2} out and back along one ray (20) and {3, 4} (5 + sqrt(90) + 5)
    assert answer["cost"] == pytest.approx(30 + np.sqrt(90), abs=1e-6)
    assert routes.read_text().splitlines()[-1].startswith("Cost ")


@pytest.mark.slow
def test_qlog_solve_rejects_a_malformed_file_in_one_line(tmp_path):
    instance = tmp_path / "bad.txt"
    instance.write_text("VEHICLE\nCUSTOMER\n garbage\n1 2\n")
    done = subprocess.run([sys.executable, "-m", "qlog_cli.app", "solve", str(instance), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "bad.txt" in lines[0] and "Traceback" not in done.stderr


@pytest.mark.parametrize("content", [b"hello world\n", b"\x7fELF\x02\x01\x01\x00\xd0\xff binary"])
def test_qlog_solve_names_the_file_of_a_bad_instance(tmp_path, monkeypatch, capsys, content):
    instance = tmp_path / "bad.txt"
    instance.write_bytes(content)
    done = qlog(monkeypatch, capsys, "solve", str(instance), "--time-limit", "0.2")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "bad.txt" in lines[0] and "Traceback" not in done.stderr


def test_eval_reports_how_often_each_planner_fell_back(small_scenario) -> None:
    from qmix_logistics.evaluation.compare import evaluate

    report = evaluate(small_scenario, ["greedy", "ortools"], episodes=1, seed=2, planner_time_limit_s=0.05)
    stats = report.planner_stats()
    assert list(stats) == ["ortools"]  # greedy does not plan
    ortools = stats["ortools"]
    assert ortools["plans"] >= 1 and 0.0 <= ortools["fallback_share"] <= 1.0
    assert ortools["fallback_share"] == (ortools["retries"] + ortools["failures"]) / ortools["plans"]
    assert report.to_dict()["planners"]["ortools"]["plans"] == ortools["plans"]


def planner_days(report) -> str:
    """What a planner's days decided: KPIs, returns, re-plans and the work each search did (not its seconds)."""
    days = [(e.policy, e.seed, e.kpis, e.episode_return, e.planner["plans"], e.planner["work"])
            for label in report.policies for e in report.episodes[label]]
    return json.dumps(days, sort_keys=True)


def test_planner_days_with_a_work_budget_are_the_same_in_a_process_pool_and_here():
    scenario = scenario_from_dict(short_day_dict())
    kwargs = {"planner_time_limit_s": 0.05, "planner_budget": "work"}
    here = evaluate(scenario, ["ortools", "pyvrp"], 2, seed=4, **kwargs)
    pooled = evaluate(scenario, ["ortools", "pyvrp"], 2, seed=4, workers=2, **kwargs)
    assert planner_days(pooled) == planner_days(here)
    assert here.planner_budget == "work" and here.to_dict()["planner_budget"] == "work"
    stats = here.planner_stats()
    assert all(stats[engine]["work"] > 0 for engine in ("ortools", "pyvrp"))


def test_qlog_eval_rejects_an_unknown_planner_budget(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(short_day_dict()))
    done = subprocess.run([sys.executable, "-m", "qlog_cli.app", "eval", str(scenario), "--policies", "ortools",
                           "--planner-budget", "solutions", "--out-dir", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "--planner-budget" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
