"""Vehicles querying the server one by one act exactly like the in-process learned policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.simulate import simulate
from qmix_logistics.marl.checkpoint import load_checkpoint, save_checkpoint
from qmix_logistics.policies.learned import LearnedPolicy
from qmix_logistics.policies.remote import RemotePolicy
from qmix_logistics.scenario import scenario_from_dict
from qmix_logistics.serving.api import create_app
from qmix_logistics.serving.server import BackgroundServer, free_port
from tests.conftest import small_scenario_dict
from tests.test_serving_api import one_torch_thread, run_cli  # noqa: F401 (fixture)

SEED = 11


class RecordingPolicy:
    """Wraps an ActionPolicy and keeps every step's actions and the hidden state it ends a day with."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, inner.name
        self.actions: list[np.ndarray] = []

    def reset(self, env: DispatchEnv, seed: int) -> None:
        self.inner.reset(env, seed)

    def act(self, env: DispatchEnv):
        actions = self.inner.select_actions(env.observations(), env.action_masks())
        self.actions.append(actions.copy())
        return env.actions_to_commands(actions)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


@pytest.fixture(scope="module")
def scenario():
    return scenario_from_dict(small_scenario_dict())


@pytest.fixture(scope="module")
def server(checkpoint: Path):
    with BackgroundServer(create_app(checkpoint)) as url:
        yield url


def test_remote_vehicles_act_exactly_like_in_process_policy(checkpoint: Path, scenario, server: str) -> None:
    local = RecordingPolicy(LearnedPolicy.from_checkpoint(checkpoint, scenario))
    remote = RecordingPolicy(RemotePolicy(server, scenario))
    local_report = simulate(scenario, local, episodes=2, seed=SEED)
    remote_report = simulate(scenario, remote, episodes=2, seed=SEED)
    assert len(local.actions) == len(remote.actions) > 100
    for step, (a, b) in enumerate(zip(local.actions, remote.actions)):
        assert np.array_equal(a, b), f"step {step}: {a} != {b}"
    for ours, theirs in zip(local_report.episodes, remote_report.episodes):
        assert ours.kpis == theirs.kpis
        assert ours.episode_return == theirs.episode_return
        assert ours.steps == theirs.steps
    # The recurrent state made the JSON round trip at every step without losing a bit.
    remote_hidden = np.stack([vehicle.hidden for vehicle in remote.inner.vehicles])
    assert remote_hidden.tobytes() == local.inner._hidden.tobytes()


def test_policy_url_works_in_qlog_simulate(checkpoint: Path, scenario, server: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    scenario_file = tmp_path / "small.yaml"
    scenario_file.write_text(yaml.safe_dump(small_scenario_dict()))
    out = tmp_path / "remote.json"
    assert run_cli(monkeypatch, "simulate", str(scenario_file), "--policy", server, "--episodes", "1",
                   "--seed", str(SEED), "--out", str(out)) == 0
    by_url = json.loads(out.read_text())["episodes"][0]["kpis"]
    assert by_url == simulate(scenario, str(checkpoint), episodes=1, seed=SEED).episodes[0].kpis


def test_token_comes_from_the_environment(checkpoint: Path, scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    with BackgroundServer(create_app(checkpoint, token="abc")) as url:
        with pytest.raises(QlogError, match="HTTP 401"):
            RemotePolicy(url, scenario)
        monkeypatch.setenv("QLOG_TOKEN", "abc")
        policy = RemotePolicy(url, scenario)
        assert policy.info["n_agents"] == scenario.n_vehicles
        policy.close()


def test_mismatched_scenario_and_unreachable_server_are_user_errors(scenario, server: str) -> None:
    bigger = scenario_from_dict(small_scenario_dict(fleet=[{"name": "van", "count": 5, "capacity": 4,
                                                            "speed_kmh": 30, "cost_per_km": 0.5}]))
    with pytest.raises(QlogError, match=r"trained for 4 vehicles \(this scenario has 5\)"):
        RemotePolicy(server, bigger)
    with pytest.raises(QlogError, match="cannot reach the policy server"):
        RemotePolicy(f"http://127.0.0.1:{free_port()}", scenario, timeout_s=2.0)


def test_a_server_of_another_observation_layout_is_refused(checkpoint: Path, scenario, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Same sizes, other meaning of the floats: the client must refuse rather than misread."""
    data = load_checkpoint(checkpoint)
    data["metadata"]["policy_spec"]["observation_layout"] = "0: some older layout"
    save_checkpoint(tmp_path / "other" / "checkpoint.pt", data)
    with BackgroundServer(create_app(tmp_path / "other")) as url:
        with pytest.raises(QlogError, match="observation layout '0: some older layout'") as refused:
            RemotePolicy(url, scenario)
        assert url in str(refused.value) and "--policy" in str(refused.value)
        served = RemotePolicy(url)  # without a scenario nothing is checked yet; reset checks the env
        with pytest.raises(QlogError, match="observation layout"):
            served.reset(DispatchEnv(scenario), seed=0)
        served.close()
        scenario_file = tmp_path / "small.yaml"
        scenario_file.write_text(yaml.safe_dump(small_scenario_dict()))
        assert run_cli(monkeypatch, "simulate", str(scenario_file), "--policy", url, "--episodes", "1") == 2
        err = capsys.readouterr().err
        assert "observation layout" in err and "Traceback" not in err
