"""`qlog train` on a tiny scenario: run folder, checkpoint, evaluation against greedy, resume, bad flags."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from qlog_cli.train_progress import TrainProgressView, plain_line
from rich.console import Console

from qmix_logistics.common.errors import QlogError
from qmix_logistics.evaluation.simulate import simulate
from qmix_logistics.marl import TrainProgress, load_policy
from qmix_logistics.marl.checkpoint import load_checkpoint, save_checkpoint
from qmix_logistics.policies.learned import LearnedPolicy
from qmix_logistics.scenario import scenario_from_dict
from qmix_logistics.training import default_run_dir, train_scenario
from tests.conftest import small_scenario_dict

TINY = {"total_env_steps": 600, "learning_starts": 200, "batch_size": 4, "buffer_mb": 16,
        "eval_interval_steps": 300, "eval_episodes": 1, "checkpoint_interval_steps": 300,
        "log_interval_steps": 100, "agent_hidden_dim": 16, "mixer_embed_dim": 8, "hypernet_hidden_dim": 16,
        "expert_warmup_episodes": 1, "expert_share": 0.5, "margin_on_all_steps": True, "n_envs": 1,
        "updates_per_episode": 1.0}


def _scenario(**training):
    data = small_scenario_dict()
    data["horizon"] = {"start_min": 0, "end_min": 90}
    data["demand"]["last_order_min"] = 60
    data["training"] = {**TINY, **training}
    return scenario_from_dict(data)


def test_train_writes_a_loadable_checkpoint_and_compares_with_greedy(tmp_path: Path) -> None:
    sc = _scenario()
    result = train_scenario(sc, run_dir=tmp_path / "run")
    assert result.checkpoint_path.is_file()
    assert result.env_steps >= 600
    assert {"total_cost", "greedy_total_cost", "cost_vs_greedy", "service_level"} <= set(result.last_eval)
    assert result.best_path == tmp_path / "run" / "best.pt" and result.best_path.is_file()
    policy, metadata = load_policy(result.checkpoint_path)
    assert metadata["scenario"]["name"] == "small" and metadata["action_meanings"][0] == "wait"
    rows = list(csv.DictReader(open(tmp_path / "run" / "progress.csv")))
    assert rows and int(rows[-1]["env_steps"]) >= 500
    assert float(rows[-1]["margin_loss"]) > 0.0  # the env's suggestions reach the learner
    report = simulate(sc, LearnedPolicy.from_checkpoint(tmp_path / "run", sc), episodes=1, seed=3)
    assert report.episodes[0].kpis["orders_created"] > 0
    # same sizes, other meaning: a checkpoint of another observation layout is refused, not misread
    data = load_checkpoint(result.checkpoint_path)
    data["metadata"]["policy_spec"]["observation_layout"] = "0: some older layout"  # what loading checks
    data["metadata"]["observation_layout"] = "0: some older layout"  # and the key older readers use
    save_checkpoint(tmp_path / "other" / "checkpoint.pt", data)
    with pytest.raises(QlogError, match="observation layout"):
        LearnedPolicy.from_checkpoint(tmp_path / "other", sc)


def test_the_training_evaluation_and_the_selection_play_their_own_days(tmp_path: Path, monkeypatch) -> None:
    import qmix_logistics.training as training

    played = []

    class Recording(training.GreedyComparison):
        def __init__(self, scenario, seeds, **kwargs):
            played.append(seeds)
            super().__init__(scenario, seeds, **kwargs)

    monkeypatch.setattr(training, "GreedyComparison", Recording)
    train_scenario(_scenario(eval_episodes=2, total_env_steps=300), run_dir=tmp_path / "run")
    assert played == [(50_000, 50_001)]

    # the candidates for the kept policy play the days after those, and the run says which one it kept
    played.clear()
    result = train_scenario(_scenario(eval_episodes=2, total_env_steps=600, select_candidates=2, select_episodes=3),
                            run_dir=tmp_path / "chosen")
    assert played == [(50_000, 50_001), (50_002, 50_003, 50_004)]
    rows = list(csv.DictReader((tmp_path / "chosen" / "selection.csv").open()))
    assert result.selected_from == len(rows) == 2
    kept = [int(r["env_steps"]) for r in rows if r["kept"] == "1"]
    assert kept == [result.best_env_steps]


def test_default_run_dir_names_scenario_and_seed() -> None:
    assert default_run_dir(_scenario(), 4).name.startswith("small__4__")


def _qlog(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qlog_cli.app", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.mark.slow
def test_cli_train_then_resume_continues_the_counter(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(_scenario().model_dump(mode="json")))
    run = tmp_path / "run"
    res = _qlog("train", str(path), "--run-dir", str(run), "--steps", "300", "--no-eval", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    # stderr is a pipe here, not a terminal: plain progress lines, no bar frames
    lines = [line for line in res.stderr.splitlines() if line.startswith("train ")]
    assert lines and re.match(r"train \d{3}/300 env steps \(100%\), [\d,]+ steps/s", lines[-1]), res.stderr
    assert "\r" not in res.stderr
    rows_before = list(csv.DictReader(open(run / "progress.csv")))
    res = _qlog("train", "--resume", str(run), "--steps", "700", "--no-eval", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    rows_after = list(csv.DictReader(open(run / "progress.csv")))
    assert rows_after[: len(rows_before)] == rows_before  # appended, not overwritten
    assert int(rows_after[-1]["env_steps"]) >= 700


@pytest.mark.slow
@pytest.mark.parametrize("args, needle", [(["--set", "lr=-1"], "lr"), (["--set", "nonsense=1"], "nonsense"),
                                          (["--set", "lr"], "--set")])
def test_cli_train_rejects_bad_hyperparameters(tmp_path: Path, args: list[str], needle: str) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(_scenario().model_dump(mode="json")))
    res = _qlog("train", str(path), "--run-dir", str(tmp_path / "r"), *args, cwd=tmp_path)
    assert res.returncode == 2 and needle in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_resume_of_a_folder_without_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    res = _qlog("train", "--resume", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 2 and "nothing to resume" in res.stderr


def _snapshot(env_steps: int, **fields) -> TrainProgress:
    values = {"total_env_steps": 1000, "episodes": env_steps // 10, "sps": 50.0, "epsilon": 0.5,
              "recent_return": -3.5, "elapsed_s": env_steps / 50.0}
    return TrainProgress(env_steps=env_steps, **(values | fields))


def test_plain_progress_line_names_steps_speed_evaluation_and_time_left() -> None:
    line = plain_line(_snapshot(300, last_eval={"total_cost": 1900.4, "return": -3.5}))
    assert line == "train 300/1,000 env steps (30%), 50 steps/s, eval cost 1,900, eta 14 s"
    assert plain_line(_snapshot(300)).endswith("return -3.500, eta 14 s")  # before any evaluation
    assert plain_line(_snapshot(1000)) == "train 1,000/1,000 env steps (100%), 50 steps/s, return -3.500"
    assert plain_line(_snapshot(0, sps=0.0)) == "train 0/1,000 env steps (0%), 0 steps/s, return -3.500"


def test_off_a_terminal_progress_prints_a_line_per_five_percent_or_thirty_seconds() -> None:
    out = io.StringIO()
    now = [0.0]
    view = TrainProgressView(Console(file=out, force_terminal=False), clock=lambda: now[0])
    assert not view.live
    with view:
        view(_snapshot(10, note="replay buffer: 1 MiB"))
        for step in range(20, 1001, 10):  # 1 % of the budget per second
            now[0] += 1.0
            view(_snapshot(step))
        view(_snapshot(1000))  # the closing snapshot repeats the last step
    lines = out.getvalue().splitlines()
    assert lines[0] == "replay buffer: 1 MiB" and lines[1].startswith("train 10/1,000 ")
    steps = [int(line.split()[1].split("/")[0].replace(",", "")) for line in lines[1:]]
    assert steps == [10, *range(50, 1001, 50)]
    slow = io.StringIO()
    view = TrainProgressView(Console(file=slow, force_terminal=False), clock=lambda: now[0])
    for step in (1, 2, 3):  # far below 5 % per call: only the time interval prints
        view(_snapshot(step))
        now[0] += 20.0
    assert [line.split()[1] for line in slow.getvalue().splitlines()] == ["1/1,000", "3/1,000"]


def test_on_a_terminal_progress_draws_a_bar() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with TrainProgressView(console) as view:
        assert view.live
        view(_snapshot(500, last_eval={"total_cost": 1900.0}))
    text = out.getvalue()
    assert "train" in text and "500/1000" in text and "50 steps/s, eval cost 1,900" in text
