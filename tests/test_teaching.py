"""Teachers: planner decisions mapped onto each vehicle's actions, demonstration days and their cache."""

from __future__ import annotations

import numpy as np
import pytest

from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.rolling_horizon import RollingHorizonConfig
from qmix_logistics.scenario import Scenario, scenario_from_dict
from qmix_logistics.sim.world import Deliver, Load, ReturnToDepot, Wait
from qmix_logistics.teaching.demonstrations import TeacherSettings, demonstrations, load_day, record_day
from qmix_logistics.teaching.teacher import PlannerTeacher, make_teacher, playable
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
    assert cov.inexpressible_share < 0.1


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


def test_a_demonstration_plays_only_valid_actions_and_falls_back_where_the_teacher_cannot_say() -> None:
    scenario = _waiting_allowed()
    day = record_day(scenario, make_teacher("ortools", planner_time_limit_s=0.05), seed=4)
    ep = day.episode
    t = ep.length
    assert ep.obs.shape[0] == t + 1 and ep.avail.shape[0] == t + 1 and ep.state.shape[0] == t + 1
    assert ep.avail[np.arange(t)[:, None], np.arange(ep.actions.shape[1])[None, :], ep.actions].all()
    labelled = ep.expert >= 0
    assert (ep.actions[labelled] == ep.expert[labelled]).all()
    assert day.kpis["delivered"] > 0 and sum(day.coverage.values()) > 0


def test_playable_keeps_labels_and_fills_the_gaps_with_the_batching_rule() -> None:
    env = DispatchEnv(_waiting_allowed())
    env.reset(seed=5)
    labels = np.full(env.n_agents, -1)
    actions = playable(env, labels)
    assert env.action_masks()[np.arange(env.n_agents), actions].all()


def test_demonstrations_are_cached_and_a_second_call_plays_no_day(tmp_path) -> None:
    scenario = _waiting_allowed()
    teacher = TeacherSettings("batching")
    first = demonstrations(scenario, teacher, 2, workers=1, cache=tmp_path)
    assert first.played == 2 and len(first.episodes) == 2
    again = demonstrations(scenario, teacher, 3, workers=1, cache=tmp_path)
    assert again.played == 1  # only the new day
    for a, b in zip(first.episodes, again.episodes[:2]):
        assert a.seed == b.seed and np.array_equal(a.actions, b.actions) and np.array_equal(a.obs, b.obs)
    other = demonstrations(scenario, TeacherSettings("ortools", 0.05), 1, workers=1, cache=tmp_path)
    assert other.played == 1 and other.cache_dir != first.cache_dir
    saved = load_day(first.cache_dir / f"{first.episodes[0].seed}.npz")
    assert saved.cached and saved.episode.demo


def test_unknown_teacher_is_a_user_error() -> None:
    from qmix_logistics.common.errors import QlogError

    with pytest.raises(QlogError, match="teacher"):
        make_teacher("oracle")
