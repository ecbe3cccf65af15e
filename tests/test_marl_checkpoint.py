"""Checkpoints: one atomic file, safe loading of bad files, and exact resume."""

from __future__ import annotations

import csv
import pickle

import numpy as np
import pytest
import torch

from qmix_logistics.common.errors import QlogError
from qmix_logistics.marl import (
    DecentralizedPolicy,
    RNNAgent,
    load_checkpoint,
    load_policy,
    save_checkpoint,
    train,
)
from qmix_logistics.marl.testing import make_two_step_game, two_step_config

METADATA = {"scenario": {"name": "toy depot", "vehicles": 2, "speeds_kmh": [30.0, 45.5]}, "note": None}


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    result = train(make_two_step_game, two_step_config(total_env_steps=120), run_dir, extra_metadata=METADATA)
    return result.checkpoint_path


def assert_same(a, b, where="checkpoint"):
    """Recursive equality of nested containers holding tensors."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_checkpoint_carries_everything_and_round_trips(trained_checkpoint, tmp_path):
    data = load_checkpoint(trained_checkpoint)
    assert data["metadata"] == METADATA
    assert data["counters"]["env_steps"] == 120 and data["counters"]["episodes"] == 60
    assert set(data["versions"]) == {"python", "torch", "numpy", "qmix_logistics"}
    assert data["config"]["total_env_steps"] == 120
    assert {"agent", "mixer", "target_agent", "target_mixer", "optimizer"} <= data["learner"].keys()
    assert data["rng"].keys() == {"torch", "torch_cuda", "generators"}  # all the randomness training draws

    payload = {k: v for k, v in data.items() if k not in ("format", "format_version", "versions")}
    copy_path = save_checkpoint(tmp_path / "copy.pt", payload)
    assert_same(load_checkpoint(copy_path), data)


def test_loaded_policy_acts_like_the_trained_agent_without_an_env(trained_checkpoint):
    policy, metadata = load_policy(trained_checkpoint)
    assert metadata == METADATA and policy.agent_names == ["agent_0", "agent_1"]
    agent = RNNAgent(4, 2, 2, hidden_dim=16)
    agent.load_state_dict(load_checkpoint(trained_checkpoint)["learner"]["agent"])
    reference = DecentralizedPolicy(agent)
    start = np.array([1, 0, 0, 0], dtype=np.float32)
    for index in range(2):
        a1, q1, h1 = policy.act(start, [1, 1], index)
        a2, q2, h2 = reference.act(start, [1, 1], index)
        assert a1 == a2 and np.array_equal(q1, q2) and np.array_equal(h1, h2)


def test_write_is_atomic_and_leaves_no_temp_file(trained_checkpoint, tmp_path, monkeypatch):
    payload = {"config": {}, "env_spec": {}, "learner": {}, "counters": {"env_steps": 1}, "metadata": {}}
    target = save_checkpoint(tmp_path / "checkpoint.pt", payload)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
    before = target.read_bytes()

    def failing_save(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(target, {**payload, "counters": {"env_steps": 2}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
    assert target.read_bytes() == before


def test_truncated_and_garbage_files_raise_a_clear_error(trained_checkpoint, tmp_path):
    whole = trained_checkpoint.read_bytes()
    cases = {"truncated.pt": whole[: len(whole) // 2], "garbage.pt": b"\x00\x17not a checkpoint" * 50, "empty.pt": b""}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(QlogError, match="truncated or corrupt") as info:
            load_checkpoint(path)
        assert info.value.source == str(path)
    with pytest.raises(QlogError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")


class Tampered:
    """Unpickling this would create a file: it must never be unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_files_with_arbitrary_objects_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "code-ran"
    via_torch, via_pickle = tmp_path / "torch.pt", tmp_path / "raw.pkl"
    torch.save({"format": "qmix_logistics.marl.checkpoint", "x": Tampered(marker)}, via_torch)
    with via_pickle.open("wb") as handle:
        pickle.dump({"x": Tampered(marker)}, handle)
    for path in (via_torch, via_pickle):
        with pytest.raises(QlogError) as info:
            load_checkpoint(path)
        assert info.value.source == str(path)
    assert not marker.exists()


def test_foreign_or_newer_files_are_refused(tmp_path):
    foreign, newer = tmp_path / "foreign.pt", tmp_path / "newer.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    torch.save({"format": "qmix_logistics.marl.checkpoint", "format_version": 99}, newer)
    with pytest.raises(QlogError, match="not a qmix-logistics"):
        load_checkpoint(foreign)
    with pytest.raises(QlogError, match="newer") as info:
        load_checkpoint(newer)
    assert info.value.field == "format_version"


def read_rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    def config(total):
        return two_step_config(total_env_steps=total, checkpoint_interval_steps=200, save_buffer=True)

    straight = train(make_two_step_game, config(400), tmp_path / "straight")
    first = train(make_two_step_game, config(200), tmp_path / "split")
    first_rows = read_rows(tmp_path / "split" / "progress.csv")
    resumed = train(make_two_step_game, config(400), tmp_path / "split", resume=True)

    assert (first.env_steps, resumed.env_steps) == (200, straight.env_steps)
    assert (resumed.episodes, resumed.updates) == (straight.episodes, straight.updates)
    a, b = load_checkpoint(straight.checkpoint_path), load_checkpoint(resumed.checkpoint_path)
    assert_same(a["learner"], b["learner"], "learner")
    assert_same(a["counters"], b["counters"], "counters")
    rows = read_rows(tmp_path / "split" / "progress.csv")
    assert rows[: len(first_rows)] == first_rows  # appended, not overwritten
    assert [r["env_steps"] for r in rows] == [r["env_steps"] for r in read_rows(tmp_path / "straight" / "progress.csv")]


def test_resume_refuses_changed_learning_settings_and_missing_or_existing_runs(tmp_path):
    train(make_two_step_game, two_step_config(total_env_steps=20), tmp_path / "run")
    with pytest.raises(QlogError) as info:
        config = two_step_config(total_env_steps=40, lr=0.1)
        train(make_two_step_game, config, tmp_path / "run", resume=True)
    assert info.value.field == "training.lr"
    with pytest.raises(QlogError, match="already holds a checkpoint"):
        train(make_two_step_game, two_step_config(total_env_steps=40), tmp_path / "run")
    with pytest.raises(QlogError, match="nothing to resume"):
        train(make_two_step_game, two_step_config(), tmp_path / "fresh", resume=True)


def test_the_best_evaluation_is_kept_and_a_run_folder_stands_for_it(tmp_path):
    from qmix_logistics.policies.learned import checkpoint_file

    config = two_step_config(total_env_steps=400, eval_interval_steps=40)
    result = train(make_two_step_game, config, tmp_path / "run")
    returns = {}  # env step -> mean return of that evaluation
    for row in read_rows(tmp_path / "run" / "eval.csv"):
        if row["metric"] == "return":
            returns[int(row["env_steps"])] = float(row["value"])
    best_step = max(returns, key=lambda step: (returns[step], -step))  # the first evaluation reaching the maximum
    assert len(returns) >= 5 and result.best_env_steps == best_step
    best = load_checkpoint(result.best_path)
    assert best["counters"]["env_steps"] == best_step and best["counters"]["best_return"] == returns[best_step]
    assert best["buffer"] is None
    assert checkpoint_file(tmp_path / "run") == result.best_path
    assert checkpoint_file(result.checkpoint_path) == result.checkpoint_path
    last = load_checkpoint(result.checkpoint_path)
    assert last["counters"]["best_step"] == best_step  # a resumed run compares with the best so far

    off = train(make_two_step_game, two_step_config(total_env_steps=400, eval_interval_steps=40, keep_best=False),
                tmp_path / "off")
    assert off.best_path is None and not (tmp_path / "off" / "best.pt").exists()
    assert checkpoint_file(tmp_path / "off") == off.checkpoint_path


def test_eval_names_the_best_policy_after_its_run_and_the_last_one_after_its_file(tmp_path):
    from qmix_logistics.policies.learned import _policy_name

    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"")
    assert _policy_name(run / "checkpoint.pt", {"mixer": "qmix"}) == "qmix:run"
    (run / "best.pt").write_bytes(b"")
    assert _policy_name(run / "best.pt", {"mixer": "qmix"}) == "qmix:run"
    assert _policy_name(run / "checkpoint.pt", {"mixer": "vdn"}) == "vdn:run/checkpoint"
    assert _policy_name(tmp_path / "elsewhere" / "model.pt", {}) == "learned:elsewhere/model"


def test_candidate_pool_keeps_the_best_scores_and_deletes_the_files_it_drops(tmp_path):
    from qmix_logistics.marl.selection import CandidatePool

    pool = CandidatePool(tmp_path, size=2)
    for steps, score in [(10, 1.0), (20, 3.0), (30, float("nan")), (40, 2.0), (50, 0.5), (60, 2.5)]:
        pool.offer(steps, score, lambda path: path.write_text("policy"))
    assert [(c.env_steps, c.score) for c in pool.candidates] == [(20, 3.0), (60, 2.5)]
    assert sorted(p.name for p in (tmp_path / "candidates").iterdir()) == ["step_0000000020.pt", "step_0000000060.pt"]
    restored = CandidatePool(tmp_path, 2, CandidatePool.candidates_from(pool.to_list()))
    assert restored.candidates == pool.candidates
    choices = restored.choose(lambda path: 10.0 if path.name.endswith("60.pt") else 0.0, eval_days=4, select_days=12)
    assert [c.candidate.env_steps for c in choices] == [60, 20]
    assert choices[0].combined == pytest.approx((2.5 * 4 + 10.0 * 12) / 16)
    assert CandidatePool(tmp_path, 0).offer(70, 9.0, lambda path: path.write_text("x")) is False


def test_the_kept_policy_is_chosen_among_the_best_evaluations_on_more_days(tmp_path):
    from qmix_logistics.marl.selection import SELECTION_FILE

    played = []

    def select_fn(policy):  # the first candidate played (the earliest) does best on the selection days
        played.append(policy)
        return {"return": 1_000.0 if len(played) == 1 else 0.0}

    config = two_step_config(total_env_steps=400, eval_interval_steps=40, select_candidates=3, select_episodes=5)
    result = train(make_two_step_game, config, tmp_path / "run", select_fn=select_fn)
    returns = {int(r["env_steps"]): float(r["value"]) for r in read_rows(tmp_path / "run" / "eval.csv")
               if r["metric"] == "return"}
    files = sorted((tmp_path / "run" / "candidates").iterdir())
    steps = sorted(int(p.stem.split("_")[1]) for p in files)
    assert len(played) == 3 and result.selected_from == 3 and len(steps) == 3
    assert min(returns[s] for s in steps) >= max(r for s, r in returns.items() if s not in steps)
    assert result.best_env_steps == steps[0]
    assert load_checkpoint(result.best_path)["counters"]["env_steps"] == steps[0]
    assert load_checkpoint(result.checkpoint_path)["counters"]["best_step"] == steps[0]
    rows = read_rows(tmp_path / "run" / SELECTION_FILE)
    assert [int(r["env_steps"]) for r in rows] == steps and [r["kept"] for r in rows] == ["1", "0", "0"]

    # without a select_fn the learner plays the candidates itself, on seeds after the evaluation's
    own = train(make_two_step_game, config, tmp_path / "own")
    assert own.selected_from == 3 and (tmp_path / "own" / SELECTION_FILE).is_file()
    with pytest.raises(QlogError, match="keep_best"):
        two_step_config(select_candidates=2, keep_best=False)
