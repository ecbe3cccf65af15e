"""Exported agent steps (ONNX from the current exporter, TorchScript) choose exactly the trained policy's actions."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.marl import greedy_actions, load_policy
from qmix_logistics.policies.learned import LearnedPolicy
from qmix_logistics.scenario import scenario_from_dict
from qmix_logistics.serving import export
from qmix_logistics.serving.export import (
    INPUT_NAMES,
    ONNX_OPSET,
    OUTPUT_NAMES,
    agent_step,
    export_policy,
)
from tests.conftest import small_scenario_dict
from tests.test_serving_api import one_torch_thread, run_cli  # noqa: F401 (fixture)

RANDOM_CASES = 400


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint: Path) -> Path:
    """The session's tiny checkpoint (tests/conftest.py); read-only here, every export goes to tmp_path."""
    return tiny_checkpoint


@pytest.fixture(scope="module")
def random_inputs(checkpoint: Path) -> tuple[np.ndarray, ...]:
    """Random observations, masks (never empty), agents, last actions (-1 included) and GRU states."""
    policy, _ = load_policy(checkpoint)
    rng = np.random.default_rng(0)
    n = RANDOM_CASES
    masks = rng.random((n, policy.n_actions)) < 0.5
    masks[np.arange(n), rng.integers(0, policy.n_actions, n)] = True
    return (rng.normal(size=(n, policy.obs_dim)).astype(np.float32), masks,
            rng.integers(0, policy.n_agents, n), rng.integers(-1, policy.n_actions, n),
            rng.uniform(-1, 1, (n, policy.hidden_dim)).astype(np.float32))


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # deprecated in torch 2.13, still supported
        return torch.jit.load(str(path))


def torchscript_runner(path: Path):
    model = load_torchscript(path)

    def run(obs, last, ids, hidden):
        with torch.no_grad():
            q, h = model(torch.from_numpy(obs), torch.from_numpy(last), torch.from_numpy(ids), torch.from_numpy(hidden))
        return q.numpy(), h.numpy()

    return run


def onnx_runner(path: Path):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(INPUT_NAMES)
    assert [o.name for o in session.get_outputs()] == list(OUTPUT_NAMES)

    def run(obs, last, ids, hidden):
        return tuple(session.run(None, dict(zip(INPUT_NAMES, (obs, last, ids, hidden)))))

    return run


RUNNERS = {"torchscript": torchscript_runner, "onnx": onnx_runner}


@pytest.fixture(scope="module")
def exported_files(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each format exported once through ``qlog export``: ONNX without ``--format`` (the default), then TorchScript.

    One export per format for the whole module: the ONNX exporter takes seconds.
    """
    folder = tmp_path_factory.mktemp("export")
    files = {"onnx": folder / "agent_step.onnx", "torchscript": folder / "agent_step.pt"}
    with pytest.MonkeyPatch.context() as mp:
        assert run_cli(mp, "export", str(checkpoint), "--out", str(files["onnx"])) == 0
        assert run_cli(mp, "export", str(checkpoint), "--format", "torchscript", "--out", str(files["torchscript"])) == 0
    return files


@pytest.fixture(scope="module", params=list(RUNNERS))
def exported(request: pytest.FixtureRequest, exported_files: dict[str, Path]):
    return request.param, RUNNERS[request.param](exported_files[request.param])


def test_torchscript_computes_exactly_what_the_network_computes(checkpoint: Path, exported_files,
                                                                random_inputs) -> None:
    obs, _, ids, last, hidden = (torch.from_numpy(a) for a in random_inputs)
    model = load_torchscript(exported_files["torchscript"])
    step = agent_step(checkpoint)
    with torch.no_grad():
        for got, want in zip(model(obs, last, ids, hidden), step(obs, last, ids, hidden)):
            assert torch.equal(got, want)
        policy, _ = load_policy(checkpoint)  # the step must equal the training network's T = 1 unroll
        q_seq, h_seq = policy.agent(obs.unsqueeze(1), last.unsqueeze(1), ids, hidden)
        q_step, h_step = step(obs, last, ids, hidden)
    assert torch.equal(q_seq.squeeze(1), q_step) and torch.equal(h_seq, h_step)


def test_greedy_actions_match_on_random_inputs_one_vehicle_at_a_time(checkpoint: Path, exported,
                                                                     random_inputs) -> None:
    _fmt, run = exported
    obs, masks, ids, last, hidden = random_inputs
    policy, _ = load_policy(checkpoint)
    want, q_want, h_want = policy.act_batch(obs, masks, ids, last, hidden)
    for i in range(RANDOM_CASES):  # B = 1, as on a vehicle
        q, h = run(obs[i:i + 1], last[i:i + 1], ids[i:i + 1], hidden[i:i + 1])
        assert greedy_actions(q, masks[i:i + 1])[0] == want[i], f"case {i}"
        np.testing.assert_allclose(q[0], q_want[i], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(h[0], h_want[i], rtol=1e-5, atol=1e-5)


def test_greedy_actions_match_over_a_real_episode(checkpoint: Path, exported) -> None:
    """Each vehicle runs the exported step on its own, carrying its own state through a whole day."""
    _fmt, run = exported
    scenario = scenario_from_dict(small_scenario_dict())
    env = DispatchEnv(scenario)
    learned = LearnedPolicy.from_checkpoint(checkpoint, scenario)
    obs, masks = env.reset(seed=5)
    learned.reset(env, 5)
    n = env.n_agents
    hidden = np.zeros((n, learned.policy.hidden_dim), dtype=np.float32)
    last = np.full(n, -1, dtype=np.int64)
    done, steps = False, 0
    while not done:
        want = learned.select_actions(obs, masks)
        for v in range(n):
            q, h = run(obs[v:v + 1], last[v:v + 1], np.array([v]), hidden[v:v + 1])
            assert greedy_actions(q, masks[v:v + 1])[0] == want[v], f"step {steps}, vehicle {v}"
            hidden[v], last[v] = h[0], want[v]
        obs, masks, _, done, _ = env.step(want)
        steps += 1
    assert steps > 50


def test_qlog_export_writes_a_self_contained_onnx_file_by_default(exported_files: dict[str, Path]) -> None:
    import onnx

    path = exported_files["onnx"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["agent_step.onnx", "agent_step.pt"]  # no external data
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [ONNX_OPSET]
    for value in list(model.graph.input) + list(model.graph.output):
        batch = value.type.tensor_type.shape.dim[0]
        assert batch.dim_param and not batch.HasField("dim_value"), value.name  # B is dynamic
    assert isinstance(load_torchscript(exported_files["torchscript"]), torch.jit.ScriptModule)


def test_onnx_without_onnxscript_is_a_one_line_error(checkpoint: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = export.importlib.util.find_spec
    monkeypatch.setattr(export.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else real_find_spec(name, *a))
    out = tmp_path / "never.onnx"
    with pytest.raises(QlogError, match="pip install onnxscript"):
        export_policy(checkpoint, "onnx", out)
    assert not out.exists()


def test_truncated_checkpoint_exits_2_without_traceback(checkpoint: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(checkpoint.read_bytes()[:2000])
    out = tmp_path / "never.pt"
    assert run_cli(monkeypatch, "export", str(broken), "--format", "torchscript", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "broken.pt" in err and "truncated or corrupt" in err and "Traceback" not in err
    assert not out.exists()
    assert run_cli(monkeypatch, "export", str(checkpoint), "--format", "tflite", "--out", str(out)) == 2
    assert "--format" in capsys.readouterr().err
