"""What a policy was trained for: PolicySpec, the one compatibility check, old checkpoints, torch threads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import OBSERVATION_LAYOUT, DispatchEnv
from qmix_logistics.evaluation.rollout import run_episode
from qmix_logistics.marl.checkpoint import load_checkpoint, save_checkpoint
from qmix_logistics.policies import BatchingPolicy, GreedyPolicy, Policy, RandomPolicy
from qmix_logistics.policies.base import PolicySpec, check_compatible
from qmix_logistics.policies.learned import (
    UNRECORDED_LAYOUT,
    LearnedPolicy,
    load_learned,
)
from qmix_logistics.policies.rolling_horizon import RollingHorizonPolicy
from qmix_logistics.scenario import scenario_from_dict
from qmix_logistics.serving.service import PolicyService
from qmix_logistics.training import GreedyComparison, run_metadata
from tests.conftest import small_scenario_dict


@pytest.fixture(scope="module")
def scenario():
    return scenario_from_dict(small_scenario_dict())


@pytest.fixture(scope="module")
def env_spec(scenario) -> PolicySpec:
    return PolicySpec.of_env(DispatchEnv(scenario))


def rewritten(checkpoint: Path, folder: Path, change) -> Path:
    """A copy of ``checkpoint`` whose metadata ``change(metadata)`` has edited in place."""
    data = load_checkpoint(checkpoint)
    change(data["metadata"])
    save_checkpoint(folder / "checkpoint.pt", data)
    return folder / "checkpoint.pt"


def test_spec_of_env_and_its_round_trip(scenario, env_spec: PolicySpec) -> None:
    env = DispatchEnv(scenario)
    assert env_spec == PolicySpec("small", env.obs_size, env.n_agents, tuple(env.action_meanings()), OBSERVATION_LAYOUT)
    assert env_spec.n_actions == env.n_actions
    assert PolicySpec.from_dict(env_spec.to_dict()) == env_spec
    assert PolicySpec.from_dict({**env_spec.to_dict(), "hidden_size": 32}) == env_spec  # other keys ignored
    assert run_metadata(scenario, "qmix")["policy_spec"] == env_spec.to_dict()


@pytest.mark.parametrize("key, value", [("n_agents", None), ("n_agents", 0), ("observation_size", True),
                                        ("action_meanings", "wait"), ("action_meanings", []),
                                        ("observation_layout", 2), ("scenario", 5)])
def test_from_dict_names_the_bad_key(env_spec: PolicySpec, key: str, value) -> None:
    data = env_spec.to_dict()
    if value is None:
        del data[key]
    else:
        data[key] = value
    with pytest.raises(QlogError) as error:
        PolicySpec.from_dict(data, source="run/checkpoint.pt")
    assert error.value.field == key and str(error.value).startswith("run/checkpoint.pt: ")


def test_check_compatible_names_every_difference(env_spec: PolicySpec) -> None:
    check_compatible(env_spec, replace(env_spec, scenario="another name"))  # the name is not compared
    cases = {
        "4 vehicles (this scenario has 5)": replace(env_spec, n_agents=5),
        f"{env_spec.observation_size} observation floats (this scenario builds 7)": replace(env_spec,
                                                                                             observation_size=7),
        f"{env_spec.n_actions} actions (this scenario has 3)": replace(env_spec, action_meanings=("a", "b", "c")),
        f"action 1 meaning {env_spec.action_meanings[1]!r} (here it means 'go')": replace(
            env_spec, action_meanings=(env_spec.action_meanings[0], "go", *env_spec.action_meanings[2:])),
        "observation layout": replace(env_spec, observation_layout="3: some future layout"),
    }
    for needle, other in cases.items():
        with pytest.raises(QlogError, match="the policy was trained for") as error:
            check_compatible(env_spec, other, source="http://127.0.0.1:8000")
        assert needle in str(error.value) and error.value.field == "--policy"
        assert str(error.value).startswith("http://127.0.0.1:8000: --policy: ")
    with pytest.raises(QlogError, match=rf"4 vehicles .*; {env_spec.n_actions} actions .*; observation layout"):
        check_compatible(env_spec, replace(env_spec, n_agents=5, action_meanings=("a", "b", "c"),
                                           observation_layout="3"))


def test_checkpoint_records_the_spec_and_old_ones_still_load(tiny_checkpoint: Path, scenario, env_spec: PolicySpec,
                                                             tmp_path: Path) -> None:
    assert load_checkpoint(tiny_checkpoint)["metadata"]["policy_spec"] == env_spec.to_dict()
    # Written before policy_spec existed: the spec comes from scenario, action_meanings and observation_layout.
    old = rewritten(tiny_checkpoint, tmp_path / "old", lambda m: m.pop("policy_spec"))
    assert LearnedPolicy.from_checkpoint(old, scenario).spec == env_spec
    assert PolicyService.from_checkpoint(old).info.spec == env_spec
    # Older still: no layout recorded, so it stands for the first layout and is refused, not misread.
    oldest = rewritten(old, tmp_path / "oldest", lambda m: m.pop("observation_layout"))
    assert load_learned(oldest)[1].observation_layout == UNRECORDED_LAYOUT
    with pytest.raises(QlogError, match="observation layout '1 "):
        LearnedPolicy.from_checkpoint(oldest, scenario)


def test_a_spec_that_contradicts_the_network_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    def more_vehicles(metadata: dict) -> None:
        metadata["policy_spec"]["n_agents"] += 1

    bad = rewritten(tiny_checkpoint, tmp_path / "bad", more_vehicles)
    with pytest.raises(QlogError, match="records 5 vehicles") as error:
        load_learned(bad)
    assert error.value.field == "metadata.policy_spec"


def test_every_policy_follows_the_protocol(tiny_checkpoint: Path) -> None:
    policies = [RandomPolicy(), GreedyPolicy(), BatchingPolicy(), RollingHorizonPolicy(),
                LearnedPolicy.from_checkpoint(tiny_checkpoint)]
    for policy in policies:
        assert isinstance(policy, Policy), policy.name
        policy.close()


def test_learned_policies_leave_the_process_thread_count_alone(tiny_checkpoint: Path, scenario) -> None:
    """Training with torch_threads: 4 evaluates through GreedyComparison; it must keep training on 4."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        learned = LearnedPolicy.from_checkpoint(tiny_checkpoint, scenario)
        result = run_episode(DispatchEnv(scenario), learned, 5)
        assert torch.get_num_threads() == 2
        comparison = GreedyComparison(scenario, seeds=(5,))
        assert comparison(learned.policy)["return"] == result.episode_return  # same actions as in process
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_learned_policy_keeps_the_q_values_its_actions_are_greedy_on(tiny_checkpoint: Path, scenario) -> None:
    """Diagnostics read ``last_q``: each deciding vehicle's action is the best valid one in it."""
    env = DispatchEnv(scenario)
    obs, masks = env.reset(seed=5)
    learned = LearnedPolicy.from_checkpoint(tiny_checkpoint, scenario)
    learned.reset(env, 5)
    actions = learned.select_actions(obs, masks)
    assert learned.last_q.shape == masks.shape
    for v in env.world.pending_decisions():
        valid = masks[v] != 0
        assert valid[actions[v]]
        assert learned.last_q[v, actions[v]] == learned.last_q[v][valid].max()
