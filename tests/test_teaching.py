"""Teachers: planner decisions mapped onto each vehicle's actions, demonstration days and their cache."""

from __future__ import annotations

import numpy as np
import pytest

from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.rolling_horizon import RollingHorizonConfig
from qmix_logistics.scenario import Scenario, scenario_from_dict
from qmix_logistics.sim.world import Deliver, Load, ReturnToDepot, Wait
from qmix_logistics.teaching.demonstrations import TeacherSettings, demonstrations, load_day, record_day
from qmix_logistics.teaching.teacher import PlannerTeacher, make_teacher
from tests.conftest import small_scenario_dict


def _waiting_allowed() -> Scenario:
    return scenario_from_dict(small_scenario_dict(observation={"wait_with_work": True}))


def test_planner_labels_are_the_planned_commands_in_the_vehicles_action_space() -> None:
    env = DispatchEnv(_waiting_allowed())
    teacher = PlannerTeacher("ortools", RollingHorizonConfig(time_limit_s=0.05))
    _, masks = env.reset(seed=3)
    done, checked = False, 0
    while not done:
        labels, commands = teacher.decide(env)
        for v in env.world.pending_decisions():
            a = int(labels[v])
            if a < 0:
                continue
            assert masks[v, a]
            command, back = commands.get(v, Wait()), env.action_to_command(v, a)
            if isinstance(command, (Load, Deliver)):
                assert back == command
            elif isinstance(command, ReturnToDepot):
                assert isinstance(back, (ReturnToDepot, Wait))  # already home: a return is a wait
            else:
                assert isinstance(back, Wait)
            checked += 1
        _, masks, _, done, _ = env.step_commands(commands)
    cov = teacher.coverage
    assert checked > 50 and cov.decisions == checked + cov.inexpressible
    assert 0 <= cov.inexpressible_share < 0.3  # 4 slots on a busy small day; depot.yaml: about 3%


def test_masked_waits_are_counted_as_inexpressible() -> None:
    env = DispatchEnv(scenario_from_dict(small_scenario_dict(observation={"wait_with_work": False})))
    teacher = PlannerTeacher("ortools", RollingHorizonConfig(time_limit_s=0.05))
    env.reset(seed=3)
    for _ in range(40):
        _, commands = teacher.decide(env)
        if env.step_commands(commands)[3]:
            break
    assert teacher.coverage.counts["wait (masked)"] > 0
    assert teacher.coverage.inexpressible_share > 0


def test_a_demonstration_day_keeps_the_teachers_quality_and_records_only_expressible_steps() -> None:
    scenario = _waiting_allowed()
    day = record_day(scenario, make_teacher("ortools", planner_time_limit_s=0.05), seed=4)
    assert day.segments and day.kpis["delivered"] > 0 and sum(day.coverage.values()) > 0
    for ep in day.segments:
        t, n = ep.actions.shape
        assert ep.obs.shape[0] == t + 1 and ep.avail.shape[0] == t + 1 and ep.state.shape[0] == t + 1
        assert ep.avail[np.arange(t)[:, None], np.arange(n)[None, :], ep.actions].all()
        assert (ep.expert == ep.actions).all() and ep.demo
        assert ep.durations is not None and ep.durations.shape == (t,) and (ep.durations >= 0).all()
    assert [ep.terminated for ep in day.segments[:-1]] == [False] * (len(day.segments) - 1)
    # a segment ends at each step that was carried out but not recorded (short ones are dropped)
    assert day.skipped_steps >= len(day.segments) - 1
    assert day.steps > day.skipped_steps


def test_a_planner_teacher_on_a_work_budget_records_the_same_day_every_time() -> None:
    scenario = _waiting_allowed()
    days = [record_day(scenario, make_teacher("ortools", planner_time_limit_s=0.05, planner_search_budget="work"),
                       seed=4) for _ in range(2)]
    assert days[0].kpis == days[1].kpis
    assert [ep.actions.tolist() for ep in days[0].segments] == [ep.actions.tolist() for ep in days[1].segments]
    # the budget is part of the cache key only when it is not the default, so days cached before keep theirs
    assert TeacherSettings("ortools", 0.05).to_dict() == {"name": "ortools", "planner_time_limit_s": 0.05}
    assert TeacherSettings("ortools", 0.05, "work").to_dict()["planner_search_budget"] == "work"


def test_a_rule_teacher_records_one_whole_day() -> None:
    day = record_day(_waiting_allowed(), make_teacher("batching"), seed=5)
    assert len(day.segments) == 1 and day.segments[0].terminated


def test_demonstrations_are_cached_and_a_second_call_plays_no_day(tmp_path) -> None:
    scenario = _waiting_allowed()
    teacher = TeacherSettings("batching")
    first = demonstrations(scenario, teacher, 2, workers=1, cache=tmp_path)
    assert first.played == 2 and len(first.episodes) == 2
    again = demonstrations(scenario, teacher, 3, workers=1, cache=tmp_path)
    assert again.played == 1  # only the new day
    for a, b in zip(first.episodes, again.episodes[:2]):  # one segment per day for a rule teacher
        assert a.seed == b.seed and np.array_equal(a.actions, b.actions) and np.array_equal(a.obs, b.obs)
    other = demonstrations(scenario, TeacherSettings("ortools", 0.05), 1, workers=1, cache=tmp_path)
    assert other.played == 1 and other.cache_dir != first.cache_dir
    saved = load_day(first.cache_dir / f"{first.days[0].seed}.npz")
    assert saved.cached and all(e.demo for e in saved.segments)
    assert np.array_equal(saved.segments[0].rewards, first.episodes[0].rewards)


def test_unknown_teacher_is_a_user_error() -> None:
    from qmix_logistics.common.errors import QlogError

    with pytest.raises(QlogError, match="teacher"):
        make_teacher("oracle")


@pytest.mark.slow
def test_training_with_a_planner_teacher_records_its_days_once_and_says_so(tmp_path, monkeypatch) -> None:
    from qmix_logistics.marl import load_checkpoint
    from qmix_logistics.training import train_scenario

    monkeypatch.setenv("QLOG_CACHE_DIR", str(tmp_path / "cache"))
    scenario = _waiting_allowed()
    overrides = {"teacher": "ortools", "demo_days": 2, "teacher_time_limit_s": 0.05, "demo_workers": 1,
                 "total_env_steps": 300, "n_envs": 1, "learning_starts": 100, "pretrain_updates": 3,
                 "batch_size": 4, "chunk_len": 16, "burn_in": 4, "buffer_mb": 16, "eval_interval_steps": 10**9}
    seen: list[bool] = []
    first = train_scenario(scenario, run_dir=tmp_path / "a", overrides=overrides, evaluate_against_greedy=False,
                           on_demonstration=lambda day, ready, total: seen.append(day.cached))
    assert seen == [False, False] and first.updates >= 3
    record = load_checkpoint(first.checkpoint_path)["metadata"]["teaching"]
    assert record["config"]["teacher"] == "ortools" and record["days"] == 2 and record["played"] == 2
    assert 0.0 <= record["inexpressible_share"] < 0.3 and record["steps"] > 0
    seen.clear()
    train_scenario(scenario, run_dir=tmp_path / "b", overrides=overrides, evaluate_against_greedy=False,
                   on_demonstration=lambda day, ready, total: seen.append(day.cached))
    assert seen == [True, True]  # the second run plays no teacher day


def test_teaching_keys_are_validated_with_the_training_block() -> None:
    from qmix_logistics.common.errors import QlogError
    from qmix_logistics.training import learner_config, teaching_config

    scenario = scenario_from_dict(small_scenario_dict(training={"teacher": "ortools", "demo_days": 3, "lr": 1e-3}))
    assert teaching_config(scenario).recorded_days == 3 and learner_config(scenario).lr == 1e-3
    assert teaching_config(scenario, {"teacher": "none"}).recorded_days == 0
    bad = scenario_from_dict(small_scenario_dict(training={"teacher": "oracle"}))
    with pytest.raises(QlogError, match="training.teacher"):
        learner_config(bad)


def test_dagger_replays_the_learners_day_and_labels_each_step_with_a_fresh_plan() -> None:
    from qmix_logistics.policies.batching import batching_actions
    from qmix_logistics.teaching.dagger import replay_and_label

    scenario = _waiting_allowed()
    env = DispatchEnv(scenario)
    obs, _ = env.reset(seed=5)
    seen, actions, done = [obs.copy()], [], False
    while not done:  # the "learner" here is the batching rule: any recorded actions will do
        actions.append(batching_actions(env))
        obs, _, _, done, _ = env.step(actions[-1])
        seen.append(obs.copy())
    actions = np.stack(actions)
    start, steps = 40, 12
    teacher = PlannerTeacher("ortools", RollingHorizonConfig(time_limit_s=0.05))
    stretch = replay_and_label(scenario, teacher, 5, actions, start, steps)
    assert stretch.length == steps and not stretch.terminated and stretch.demo
    np.testing.assert_array_equal(stretch.obs, np.stack(seen[start : start + steps + 1]))  # the learner's path
    np.testing.assert_array_equal(stretch.actions, actions[start : start + steps])
    choices = stretch.avail[:-1].sum(axis=-1) > 1
    assert choices.any()
    labelled = stretch.expert >= 0
    t, v = np.nonzero(labelled)
    assert stretch.avail[t, v, stretch.expert[t, v]].all()  # every label is an action the vehicle may take
    assert labelled[choices].mean() > 0.9  # waiting allowed: almost every choice can be said


def test_dagger_needs_a_planner_teacher() -> None:
    from qmix_logistics.common.errors import QlogError
    from qmix_logistics.training import teaching_config

    scenario = scenario_from_dict(small_scenario_dict(training={"teacher": "ortools", "dagger_interval_episodes": 4}))
    assert teaching_config(scenario).dagger_interval_episodes == 4
    bad = scenario_from_dict(small_scenario_dict(training={"dagger_interval_episodes": 4}))
    with pytest.raises(QlogError, match="training"):
        teaching_config(bad)


@pytest.mark.slow
def test_training_with_dagger_labels_the_learners_own_states_and_reports_it(tmp_path, monkeypatch) -> None:
    from qmix_logistics.training import train_scenario

    monkeypatch.setenv("QLOG_CACHE_DIR", str(tmp_path / "cache"))
    overrides = {"teacher": "ortools", "demo_days": 1, "teacher_time_limit_s": 0.05, "demo_workers": 1,
                 "dagger_interval_episodes": 1, "dagger_steps": 5, "margin_on_all_steps": False,
                 "updates_per_episode": 2,
                 "total_env_steps": 300, "n_envs": 1, "learning_starts": 100, "batch_size": 4, "chunk_len": 16,
                 "burn_in": 4, "buffer_mb": 16, "eval_interval_steps": 10**9}
    notes: list[str] = []
    result = train_scenario(_waiting_allowed(), run_dir=tmp_path / "run", overrides=overrides,
                            evaluate_against_greedy=False, on_progress=lambda p: notes.append(p.note or ""))
    labelled = [n for n in notes if "teacher labelled" in n]
    assert len(labelled) == result.episodes  # one stretch after every episode
    assert "as the learner chose" in labelled[-1] and result.updates > 0


def test_a_hold_band_reaches_the_learner_as_a_second_accepted_label() -> None:
    """``hold_band_min`` in the training block: the rule's alternative rides with each step into the episode
    the learner stores, beside the rule's own label; a reversed band is refused naming the field."""
    from qmix_logistics.common.errors import QlogError
    from qmix_logistics.marl.env_contract import EnvAdapter
    from qmix_logistics.policies.batching import batching_actions
    from qmix_logistics.training import env_factory, learner_config, teaching_config

    scenario = scenario_from_dict(small_scenario_dict(training={"hold_band_min": "2,40", "expert_share": 0.5}))
    teaching = teaching_config(scenario)
    assert teaching.hold_band_min == (2.0, 40.0)
    adapter = EnvAdapter(env_factory(scenario, learner_config(scenario), teaching)(), probe_seed=1)
    arrays, alternatives = adapter.reset(1), 0
    while not arrays.done:
        assert arrays.expert is not None and arrays.expert_alt is not None
        assert np.array_equal(arrays.expert, batching_actions(adapter.env.core))
        alternatives += int((arrays.expert_alt >= 0).sum())
        arrays = adapter.step(arrays.expert)
    assert alternatives > 0
    with pytest.raises(QlogError, match="training.hold_band_min"):
        teaching_config(scenario_from_dict(small_scenario_dict(training={"hold_band_min": [30, 5]})))
    top_up = teaching_config(scenario_from_dict(small_scenario_dict(training={"top_up_band": "0.5,0.9"})))
    assert top_up.top_up_band == (0.5, 0.9) and top_up.hold_band_min is None
    with pytest.raises(QlogError, match="training.top_up_band"):
        teaching_config(scenario_from_dict(small_scenario_dict(training={"top_up_band": [0.9, 0.5]})))
