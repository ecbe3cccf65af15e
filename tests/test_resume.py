"""Stopped runs keep their finished days and resume without playing them again, to the same results."""

from __future__ import annotations

import json

import pytest
import yaml
from qlog_cli.app import main

from qmix_logistics.common.errors import QlogError
from qmix_logistics.evaluation.eval_run import run_eval
from qmix_logistics.evaluation.journal import JOURNAL_NAME, DayJournal
from qmix_logistics.scenario import scenario_from_dict
from qmix_logistics.studies.sweep import plan_sweep, run_plan, sweep_settings
from tests.conftest import small_scenario_dict


def short_scenario():
    return scenario_from_dict(small_scenario_dict(horizon={"start_min": 0, "end_min": 90},
                                                  demand={"last_order_min": 60}))


def without_timing(report) -> dict:
    data = report.to_dict()
    data.pop("timing")
    return data


class StopAfter:
    """A progress callback that records the days played and stops the run like Ctrl-C after ``n``."""

    def __init__(self, n: int | None = None) -> None:
        self.n, self.played = n, []

    def __call__(self, event) -> None:
        if event.started:
            self.played.append((event.label, event.seed))
            if self.n is not None and len(self.played) >= self.n:
                raise KeyboardInterrupt


def test_eval_resumes_only_the_missing_days_and_matches_an_uninterrupted_run(tmp_path):
    scenario = short_scenario()
    whole = run_eval(scenario, ["greedy", "random"], 3, seed=4, out_dir=tmp_path / "whole")
    out = tmp_path / "stopped"
    stop = StopAfter(2)
    with pytest.raises(KeyboardInterrupt):
        run_eval(scenario, ["greedy", "random"], 3, seed=4, out_dir=out, on_progress=stop)
    assert stop.played == [("greedy", 4), ("greedy", 5)]
    assert len((out / JOURNAL_NAME).read_text().splitlines()) == 1 + 2 and not (out / "eval.json").exists()

    resumed = StopAfter()
    run = run_eval(scenario, ["greedy", "random"], 3, seed=4, out_dir=out, resume=True, on_progress=resumed)
    assert resumed.played == [("greedy", 6), ("random", 4), ("random", 5), ("random", 6)]
    assert run.report.resumed_days == 2
    assert without_timing(run.report) == without_timing(whole.report)
    saved = json.loads((out / "eval.json").read_text())
    saved.pop("timing")
    assert saved == json.loads(json.dumps(without_timing(whole.report)))
    again = StopAfter()  # a finished run: nothing left to play, the same report
    assert without_timing(run_eval(scenario, ["greedy", "random"], 3, seed=4, out_dir=out,
                                   on_progress=again).report) == without_timing(whole.report)
    assert again.played == []


def test_resume_finds_the_latest_stopped_run_and_refuses_other_settings(tmp_path):
    scenario = short_scenario()
    with pytest.raises(KeyboardInterrupt):
        run_eval(scenario, ["greedy"], 2, seed=4, reports_root=tmp_path, on_progress=StopAfter(1))
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("eval__small__4__")
    run = run_eval(scenario, ["greedy"], 2, seed=4, resume=True, reports_root=tmp_path)
    assert run.out_dir == folder and run.report.resumed_days == 1
    for kwargs, flag in (({"policies": ["random"]}, "--policies"), ({"episodes": 3}, "--episodes"),
                         ({"planner_time_limit_s": 0.1}, "--planner-time-limit")):
        args = {"policies": ["greedy"], "episodes": 2, **kwargs}
        with pytest.raises(QlogError) as err:
            run_eval(scenario, args["policies"], args["episodes"], seed=4, out_dir=folder,
                     planner_time_limit_s=kwargs.get("planner_time_limit_s"))
        assert err.value.field == flag
    other = scenario.model_copy(update={"seed": 99}, deep=True)
    with pytest.raises(QlogError) as err:
        run_eval(other, ["greedy"], 2, seed=4, out_dir=folder)
    assert err.value.field == "SCENARIO"
    with pytest.raises(QlogError) as err:
        run_eval(scenario, ["greedy"], 2, seed=5, resume=True, reports_root=tmp_path)
    assert err.value.field == "--resume"


def test_an_interrupted_append_loses_only_that_day(tmp_path):
    journal = DayJournal.open(tmp_path, "eval", {"--seed": 1})
    journal.append({"day": 1})
    journal.append({"day": 2})
    journal.close()
    path = tmp_path / JOURNAL_NAME
    path.write_bytes(path.read_bytes() + b'{"day": 3, "kp')  # the machine stopped mid-write
    reopened = DayJournal.open(tmp_path, "eval", {"--seed": 1})
    assert reopened.rows == [{"day": 1}, {"day": 2}]
    reopened.append({"day": 3})
    reopened.close()
    assert DayJournal.open(tmp_path, "eval", {"--seed": 1}).rows == [{"day": 1}, {"day": 2}, {"day": 3}]
    with pytest.raises(QlogError, match="sweep run"):
        DayJournal.open(tmp_path, "sweep", {"--seed": 1})


def test_a_run_that_fails_before_its_first_day_leaves_nothing_to_refuse(tmp_path):
    with pytest.raises(QlogError):
        run_eval(short_scenario(), ["greedy", "no-such-policy"], 1, out_dir=tmp_path)
    assert not (tmp_path / JOURNAL_NAME).exists()
    assert run_eval(short_scenario(), ["greedy"], 1, out_dir=tmp_path).report.resumed_days == 0


def deterministic(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "decision_ms_mean"} for r in rows]


def test_sweep_resumes_only_the_missing_episodes(small_scenario, tmp_path):
    plan = plan_sweep(small_scenario, ["greedy", "random"], sweeps=["fleet=2,4"], episodes=2, seed=3)
    whole = run_plan(plan, workers=1)
    seen = []

    def stop(outcome) -> None:
        seen.append(outcome.sort_key)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with DayJournal.open(tmp_path, "sweep", sweep_settings(plan)) as journal, pytest.raises(KeyboardInterrupt):
        run_plan(plan, workers=1, on_outcome=stop, journal=journal)
    rest = []
    with DayJournal.open(tmp_path, "sweep", sweep_settings(plan)) as journal:
        assert len(journal.rows) == 3
        result = run_plan(plan, workers=1, on_outcome=lambda o: rest.append(o.sort_key), journal=journal)
    assert sorted(seen + rest) == sorted(t.sort_key for t in plan.tasks) and not set(seen) & set(rest)
    assert result.resumed == 3
    assert deterministic(result.rows()) == deterministic(whole.rows())
    assert result.summary() == whole.summary()
    for a, b in zip(result.outcomes, whole.outcomes, strict=True):
        assert (a.lateness_min == b.lateness_min).all() and (a.busy_vehicle_min == b.busy_vehicle_min).all()
    other = plan_sweep(small_scenario, ["greedy", "random"], sweeps=["fleet=2,6"], episodes=2, seed=3)
    with pytest.raises(QlogError) as err:
        DayJournal.open(tmp_path, "sweep", sweep_settings(other))
    assert err.value.field == "--sweep"


def test_qlog_simulate_study_resumes_from_the_cli(monkeypatch, capsys, small_scenario, tmp_path):
    scenario_file = tmp_path / "small.yaml"
    scenario_file.write_text(yaml.safe_dump(small_scenario.model_dump(mode="json")))
    monkeypatch.chdir(tmp_path)
    args = ["qlog", "simulate", str(scenario_file), "-p", "greedy", "-p", "random", "-n", "1", "--workers", "1"]
    for extra in ([], ["--resume"]):
        monkeypatch.setattr("sys.argv", args + extra)
        with pytest.raises(SystemExit) as done:
            main()
        assert (done.value.code or 0) == 0
    out = capsys.readouterr().out
    assert "2 resumed from the earlier run" in out
    (folder,) = (tmp_path / "reports").iterdir()
    assert folder.name.startswith("sweep__small__1__") and (folder / "report.html").exists()
