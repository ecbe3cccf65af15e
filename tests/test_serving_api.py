"""The policy server over real HTTP: every endpoint, refused inputs (422), token (401) and body limit (413)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from qlog_cli.app import main

import qmix_logistics
from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import OBSERVATION_LAYOUT, DispatchEnv
from qmix_logistics.marl import load_policy
from qmix_logistics.policies.learned import recorded_action_meanings
from qmix_logistics.scenario import scenario_from_dict
from qmix_logistics.serving.api import create_app
from qmix_logistics.serving.server import BackgroundServer, check_host, is_loopback
from tests.conftest import TINY_HIDDEN as HIDDEN
from tests.conftest import small_scenario_dict, train_tiny_checkpoint

TOKEN = "test-token-123"
MAX_BODY_BYTES = 16 * 1024


def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tiny checkpoint for modules that import it from here rather than use the conftest
    fixture of the same name (same folder, so it is still trained once)."""
    return train_tiny_checkpoint(tmp_path_factory.getbasetemp() / "tiny_checkpoint")


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """Run ``qlog ARGS`` in this process the way the console script does; return the exit code."""
    monkeypatch.setattr(sys, "argv", ["qlog", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code or 0)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny forward passes run fastest on one thread; on a busy 2-core machine a second one stalls them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def checkpoint(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


@pytest.fixture(scope="module")
def server(checkpoint: Path):
    with BackgroundServer(create_app(checkpoint, token=TOKEN, max_body_bytes=MAX_BODY_BYTES)) as url:
        yield url


@pytest.fixture
def client(server: str):
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10.0) as c:
        yield c


@pytest.fixture(scope="module")
def fleet_inputs():
    """A real first-step observation and mask for every vehicle of the small scenario."""
    env = DispatchEnv(scenario_from_dict(small_scenario_dict()))
    obs, masks = env.reset(seed=3)
    return env, obs, masks


def act_body(obs: np.ndarray, masks: np.ndarray, v: int, **changes) -> dict:
    return {"agent": v, "observation": obs[v].tolist(), "action_mask": masks[v].astype(int).tolist(),
            "hidden": None, "last_action": None, **changes}


def test_probes_are_open_without_token(server: str) -> None:
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server}/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_policy_describes_sizes_agents_and_actions(client: httpx.Client, fleet_inputs) -> None:
    env, _, _ = fleet_inputs
    info = client.get("/v1/policy").json()
    assert info == {
        "scenario": "small",
        "observation_size": env.obs_size,
        "n_agents": env.n_agents,
        "agents": env.agents,
        "n_actions": env.n_actions,
        "action_meanings": env.action_meanings(),
        "observation_layout": OBSERVATION_LAYOUT,
        "hidden_size": HIDDEN,
        "mixer": "qmix",
        "version": qmix_logistics.__version__,
    }


def test_action_meanings_come_from_metadata_else_the_scenario_layout(fleet_inputs) -> None:
    env, _, _ = fleet_inputs
    n = env.n_actions
    meanings = [f"a{i}" for i in range(n)]
    assert recorded_action_meanings({"action_meanings": meanings}, n) == meanings
    elsewhere = small_scenario_dict()
    elsewhere["network"] = {"kind": "graphml", "path": "/not/on/this/machine.graphml"}  # no file needed
    assert recorded_action_meanings({"scenario": elsewhere}, n) == env.action_meanings()
    assert recorded_action_meanings({}, 3) == ["action 0", "action 1", "action 2"]


def test_act_equals_in_process_fleet_step_bit_for_bit(client: httpx.Client, checkpoint: Path, fleet_inputs) -> None:
    env, obs, masks = fleet_inputs
    policy, _ = load_policy(checkpoint)
    ids = np.arange(env.n_agents)
    hidden = np.zeros((env.n_agents, HIDDEN), dtype=np.float32)
    last = np.full(env.n_agents, -1)
    remote_hidden: list[list[float] | None] = [None] * env.n_agents
    remote_last: list[int | None] = [None] * env.n_agents
    for _step in range(3):  # the second and third steps feed the returned hidden state back
        actions, q, hidden = policy.act_batch(obs, masks, ids, last, hidden)
        last = actions
        for v in ids:
            body = act_body(obs, masks, int(v), hidden=remote_hidden[v], last_action=remote_last[v])
            answer = client.post("/v1/act", json=body).json()
            assert answer["action"] == actions[v]
            assert np.array_equal(np.asarray(answer["q_values"], dtype=np.float32), q[v])
            assert np.array_equal(np.asarray(answer["hidden"], dtype=np.float32), hidden[v])
            remote_hidden[v], remote_last[v] = answer["hidden"], answer["action"]


def test_agent_by_name_equals_agent_by_index(client: httpx.Client, fleet_inputs) -> None:
    env, obs, masks = fleet_inputs
    by_index = client.post("/v1/act", json=act_body(obs, masks, 2)).json()
    by_name = client.post("/v1/act", json=act_body(obs, masks, 2, agent=env.agents[2])).json()
    assert by_index == by_name


def test_batch_equals_single_calls_in_order(client: httpx.Client, fleet_inputs) -> None:
    env, obs, masks = fleet_inputs
    bodies = [act_body(obs, masks, v) for v in reversed(range(env.n_agents))]
    bodies.append(act_body(obs, masks, 0, last_action=0, hidden=[0.25] * HIDDEN))
    batch = client.post("/v1/act/batch", json=bodies)
    assert batch.status_code == 200
    assert batch.json() == [client.post("/v1/act", json=b).json() for b in bodies]
    assert client.post("/v1/act/batch", json=[]).json() == []


def _nan(body: dict) -> dict:
    body["observation"][3] = float("nan")
    return body


def _inf(body: dict) -> dict:
    body["hidden"] = [0.0] * HIDDEN
    body["hidden"][5] = float("inf")
    return body


INVALID = {
    "short observation": (lambda b: {**b, "observation": b["observation"][:-1]}, "observation:"),
    "long mask": (lambda b: {**b, "action_mask": b["action_mask"] + [1]}, "action_mask:"),
    "short hidden": (lambda b: {**b, "hidden": [0.0] * (HIDDEN - 1)}, "hidden:"),
    "NaN observation": (_nan, "observation[3]:"),
    "inf hidden": (_inf, "hidden[5]:"),
    "all-zero mask": (lambda b: {**b, "action_mask": [0] * len(b["action_mask"])}, "action_mask:"),
    "mask value 2": (lambda b: {**b, "action_mask": [2] + b["action_mask"][1:]}, "action_mask[0]:"),
    "unknown agent name": (lambda b: {**b, "agent": "truck_9"}, "agent:"),
    "agent index out of range": (lambda b: {**b, "agent": 4}, "agent:"),
    "last action out of range": (lambda b: {**b, "last_action": 99}, "last_action:"),
    "missing observation": (lambda b: {k: v for k, v in b.items() if k != "observation"}, "observation:"),
    "unknown field": (lambda b: {**b, "mask": [1]}, "mask:"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_input_answers_422_naming_the_field(client: httpx.Client, fleet_inputs, case: str) -> None:
    env, obs, masks = fleet_inputs
    mutate, field = INVALID[case]
    body = mutate(act_body(obs, masks, 0, action_mask=[1] * env.n_actions))
    # json.dumps writes NaN and Infinity literals, which a server must refuse rather than compute with.
    answer = client.post("/v1/act", content=json.dumps(body), headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"].startswith(field), answer.json()
    batch = client.post("/v1/act/batch", content=json.dumps([act_body(obs, masks, 1), body]),
                        headers={"content-type": "application/json"})
    assert batch.status_code == 422
    assert batch.json()["message"].startswith(f"[1].{field}"), batch.json()


@pytest.mark.parametrize("content", [b'{"agent": 0, "observation": [0.1,', b"not json", b'{"agent": 0}}'])
def test_malformed_json_answers_422(client: httpx.Client, content: bytes) -> None:
    answer = client.post("/v1/act", content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["message"].startswith("body: malformed JSON")


def test_body_that_is_not_json_answers_422(client: httpx.Client) -> None:
    answer = client.post("/v1/act", content=b"agent=0", headers={"content-type": "text/plain"})
    assert answer.status_code == 422
    assert "Content-Type: application/json" in answer.json()["message"]


def test_token_is_required_on_v1(server: str, fleet_inputs) -> None:
    _, obs, masks = fleet_inputs
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = httpx.post(f"{server}/v1/act", json=act_body(obs, masks, 0), headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{server}/v1/policy").status_code == 401
    good = httpx.post(f"{server}/v1/act", json=act_body(obs, masks, 0), headers={"Authorization": f"Bearer {TOKEN}"})
    assert good.status_code == 200


def test_oversized_body_answers_413(client: httpx.Client, fleet_inputs) -> None:
    _, obs, masks = fleet_inputs
    too_many = json.dumps([act_body(obs, masks, 0)] * 80).encode()
    assert len(too_many) > MAX_BODY_BYTES
    answer = client.post("/v1/act/batch", content=too_many, headers={"content-type": "application/json"})
    assert answer.status_code == 413

    def chunks():  # no Content-Length: the limit must hold while the body streams in
        for _ in range(MAX_BODY_BYTES // 1000 + 2):
            yield b" " * 1000

    assert client.post("/v1/act", content=chunks(), headers={"content-type": "application/json"}).status_code == 413


def test_openapi_documents_models_exact_lengths_and_bearer_auth(server: str, fleet_inputs) -> None:
    env, _, _ = fleet_inputs
    spec = httpx.get(f"{server}/openapi.json").json()
    assert {"/healthz", "/readyz", "/v1/policy", "/v1/act", "/v1/act/batch"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    act = schemas["ActRequest"]["properties"]
    assert all(act[name].get("description") for name in ("agent", "observation", "action_mask", "hidden",
                                                           "last_action"))
    for name, size in (("observation", env.obs_size), ("action_mask", env.n_actions)):
        assert act[name]["minItems"] == act[name]["maxItems"] == size, name
    hidden = next(s for s in act["hidden"]["anyOf"] if s.get("type") == "array")
    assert hidden["minItems"] == hidden["maxItems"] == HIDDEN
    answer = schemas["ActResponse"]["properties"]
    assert answer["q_values"]["minItems"] == answer["q_values"]["maxItems"] == env.n_actions
    assert "observation_layout" in schemas["PolicyDescription"]["properties"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, method in (("/v1/policy", "get"), ("/v1/act", "post"), ("/v1/act/batch", "post")):
        assert spec["paths"][path][method]["security"] == [{"HTTPBearer": []}]
        assert "401" in spec["paths"][path][method]["responses"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert "422" in spec["paths"]["/v1/act"]["post"]["responses"]
    assert httpx.get(f"{server}/docs").status_code == 200


def test_openapi_declares_no_auth_when_the_server_has_no_token(checkpoint: Path) -> None:
    with BackgroundServer(create_app(checkpoint)) as url:
        spec = httpx.get(f"{url}/openapi.json").json()
        assert "securitySchemes" not in spec.get("components", {})
        assert all("security" not in operation and "401" not in operation["responses"]
                   for item in spec["paths"].values() for operation in item.values())
        assert httpx.get(f"{url}/v1/policy").status_code == 200  # and indeed none is enforced


def test_only_loopback_is_served_without_allow_remote(monkeypatch: pytest.MonkeyPatch, checkpoint: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.5", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.4", "example.org"))
    check_host("0.0.0.0", allow_remote=True)
    with pytest.raises(QlogError, match="--allow-remote"):
        check_host("0.0.0.0", allow_remote=False)
    assert run_cli(monkeypatch, "serve", str(checkpoint), "--host", "0.0.0.0") == 2
    err = capsys.readouterr().err
    assert "--allow-remote" in err and "Traceback" not in err


def test_serving_a_missing_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(QlogError, match="no checkpoint"):
        create_app(tmp_path / "nothing.pt")


def test_a_server_given_a_scenario_refuses_a_policy_for_another_fleet(checkpoint: Path) -> None:
    from qmix_logistics.scenario import scenario_from_dict
    from tests.conftest import small_scenario_dict

    create_app(checkpoint, scenario=scenario_from_dict(small_scenario_dict()))  # the fleet it was trained for
    bigger = scenario_from_dict(small_scenario_dict(fleet=[{"name": "van", "count": 6, "capacity": 4}]))
    with pytest.raises(QlogError, match="4 vehicles"):
        create_app(checkpoint, scenario=bigger)
