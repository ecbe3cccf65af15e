"""Training reports progress only through its callback: silent without one, one snapshot per round with."""

from __future__ import annotations

import csv
import itertools
import math

import pytest

from qmix_logistics.marl import TrainProgress, train
from qmix_logistics.marl.testing import make_two_step_game, two_step_config


def test_training_without_a_callback_prints_nothing(tmp_path, capfd):
    train(make_two_step_game, two_step_config(total_env_steps=40), tmp_path)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_the_callback_sees_every_round_and_the_final_evaluation(tmp_path):
    seen: list[TrainProgress] = []
    config = two_step_config(total_env_steps=60, eval_interval_steps=30)
    result = train(make_two_step_game, config, tmp_path, on_progress=seen.append)

    assert len(seen) == 30 + 1  # one round of one 2-step episode each, then the closing snapshot
    assert [p.env_steps for p in seen[:-1]] == list(range(2, 61, 2)) and seen[-1].env_steps == 60
    assert all(p.total_env_steps == 60 and p.epsilon == 1.0 for p in seen)
    assert [p.episodes for p in seen[:3]] == [1, 2, 3]
    assert all(a.elapsed_s <= b.elapsed_s for a, b in itertools.pairwise(seen))
    assert seen[0].note is not None and seen[0].note.startswith("replay buffer:")
    assert all(p.note is None for p in seen[1:])
    assert seen[0].last_eval == {} and "return" in seen[15].last_eval  # evaluated at 30 steps
    assert seen[-1].last_eval == result.last_eval and seen[-1].fraction == 1.0
    assert seen[-1].recent_return == pytest.approx(result.recent_return)


def test_resumed_training_reports_the_run_totals_and_losses_apart(tmp_path):
    config = two_step_config(total_env_steps=100, checkpoint_interval_steps=50)
    train(make_two_step_game, two_step_config(total_env_steps=50, checkpoint_interval_steps=50), tmp_path)
    seen: list[TrainProgress] = []
    train(make_two_step_game, config, tmp_path, resume=True, on_progress=seen.append)
    assert seen[0].env_steps == 52 and seen[0].note is not None  # counts from the checkpoint on
    with (tmp_path / "progress.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {"td_loss", "margin_loss", "total_loss"} <= rows[-1].keys()
    assert float(rows[-1]["total_loss"]) == pytest.approx(float(rows[-1]["td_loss"]), rel=1e-4)  # no demos here


def test_a_wall_clock_stop_is_a_note_not_a_print(tmp_path, capfd):
    seen: list[TrainProgress] = []
    config = two_step_config(total_env_steps=10_000, max_wall_minutes=1e-6)  # spent before the first round
    result = train(make_two_step_game, config, tmp_path, on_progress=seen.append)
    assert result.env_steps < 10_000 and result.checkpoint_path.is_file()
    assert [p.note for p in seen if p.note] == [f"wall-clock budget of 1e-06 min reached at {result.env_steps:,} env steps"]
    assert capfd.readouterr() == ("", "")


def test_progress_fraction_and_time_left():
    snapshot = TrainProgress(env_steps=300, total_env_steps=1000, episodes=3, sps=70.0, epsilon=0.5,
                             recent_return=1.0, elapsed_s=4.0)
    assert snapshot.fraction == pytest.approx(0.3) and snapshot.eta_s == pytest.approx(10.0)
    assert math.isnan(TrainProgress(0, 10, 0, 0.0, 1.0, math.nan, 0.0).eta_s)


def test_resuming_a_log_written_before_the_total_loss_column_keeps_its_rows_under_the_new_header(tmp_path):
    from qmix_logistics.marl.run_log import PROGRESS_COLUMNS, CsvLog

    path = tmp_path / "progress.csv"
    old_columns = [c for c in PROGRESS_COLUMNS if c != "total_loss"]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=old_columns)
        writer.writeheader()
        writer.writerow({c: 1 for c in old_columns} | {"env_steps": 10, "td_loss": 0.5})
    log = CsvLog(path, PROGRESS_COLUMNS, keep_until_step=10)
    log.write({c: 2 for c in PROGRESS_COLUMNS} | {"env_steps": 20, "total_loss": 0.75})
    log.close()
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        assert tuple(reader.fieldnames) == PROGRESS_COLUMNS
    assert [(r["env_steps"], r["td_loss"], r["total_loss"]) for r in rows] == [("10", "0.5", ""), ("20", "2", "0.75")]
