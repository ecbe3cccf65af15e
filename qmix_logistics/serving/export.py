"""Export the agent network for running on the vehicles themselves: ONNX (the default), or TorchScript.

ONNX goes through torch's current exporter (``torch.onnx.export(..., dynamo=True)``, built on
``torch.export`` and onnxscript). TorchScript is deprecated in torch 2.13; it is still offered, and tested
to choose the same actions, for vehicles that already run libtorch.

The exported model is one decision step of one or more vehicles, with no Python and no qmix-logistics needed
to run it::

    q_values, new_hidden = model(observation, last_action, agent_id, hidden)

    observation  float32 [B, observation_size]   the vehicle's own observation
    last_action  int64   [B]                     its previous action, -1 at the start of a day
    agent_id     int64   [B]                     its index in [0, n_agents)
    hidden       float32 [B, hidden_size]        its previous new_hidden, zeros at the start of a day
    -> q_values  float32 [B, n_actions]          pick argmax over the actions its mask allows
       new_hidden float32 [B, hidden_size]       keep it for the next step

B (the batch) is dynamic: B = 1 on a vehicle. The greedy action is ``argmax(where(mask, q_values, -inf))``,
ties going to the lowest index, exactly as the server and the in-process policy choose.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from qmix_logistics.common.atomic_io import atomic_path
from qmix_logistics.common.errors import QlogError

ExportFormat = Literal["onnx", "torchscript"]
FORMATS: tuple[str, ...] = ("onnx", "torchscript")
DEFAULT_FORMAT: ExportFormat = "onnx"
SUFFIX = {"torchscript": ".pt", "onnx": ".onnx"}
INPUT_NAMES = ("observation", "last_action", "agent_id", "hidden")
OUTPUT_NAMES = ("q_values", "new_hidden")
#: The oldest opset the current exporter writes natively (onnxruntime 1.14 and later run it).
ONNX_OPSET = 18
#: Batch of the example inputs: torch.export would fix an axis of size 1 as a constant, so trace with two.
_EXAMPLE_BATCH = 2


class AgentStep(nn.Module):
    """One decision step of the shared agent network, with indices instead of one-hot inputs.

    Computes exactly what ``RNNAgent`` computes for a sequence of length one; the one-hot vectors are built
    by comparing with an index range, which every exporter and runtime supports (an index of -1 matches
    nothing, giving the all-zero "no last action" vector).
    """

    def __init__(self, agent: nn.Module) -> None:
        super().__init__()
        self.fc_in, self.gru, self.fc_out = agent.fc_in, agent.gru, agent.fc_out
        self.register_buffer("action_range", torch.arange(agent.n_actions), persistent=False)
        self.register_buffer("agent_range", torch.arange(agent.n_agents), persistent=False)

    def forward(self, observation: torch.Tensor, last_action: torch.Tensor, agent_id: torch.Tensor,
                hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        last_onehot = (last_action.unsqueeze(-1) == self.action_range).to(observation.dtype)
        id_onehot = (agent_id.unsqueeze(-1) == self.agent_range).to(observation.dtype)
        x = torch.relu(self.fc_in(torch.cat([observation, last_onehot, id_onehot], dim=-1)))
        out, new_hidden = self.gru(x.unsqueeze(1), hidden.unsqueeze(0))
        return self.fc_out(out.squeeze(1)), new_hidden.squeeze(0)


def agent_step(checkpoint: str | Path) -> AgentStep:
    """The checkpoint's agent network as an :class:`AgentStep` on CPU, in eval mode, without gradients."""
    from qmix_logistics.marl import load_policy
    from qmix_logistics.policies.learned import checkpoint_file

    policy, _metadata = load_policy(checkpoint_file(checkpoint))
    step = AgentStep(policy.agent).cpu().eval()
    for param in step.parameters():
        param.requires_grad_(False)
    return step


def example_inputs(step: AgentStep, batch: int = 1) -> tuple[torch.Tensor, ...]:
    """Inputs of the right shapes and dtypes (start of a day, agent 0..batch-1) for tracing and checks."""
    n_agents = step.agent_range.numel()
    return (
        torch.zeros(batch, step.fc_in.in_features - step.action_range.numel() - n_agents),
        torch.full((batch,), -1, dtype=torch.int64),
        torch.arange(batch, dtype=torch.int64) % n_agents,
        torch.zeros(batch, step.gru.hidden_size),
    )


def export_policy(checkpoint: str | Path, fmt: str = DEFAULT_FORMAT, out: str | Path | None = None) -> Path:
    """Write the checkpoint's agent step as ``fmt`` to ``out`` (default: beside the checkpoint) atomically."""
    if fmt not in FORMATS:
        raise QlogError(f"unknown format {fmt!r}: use {' or '.join(FORMATS)}", field="--format")
    step = agent_step(checkpoint)
    if out is None:
        base = Path(checkpoint)
        out = (base if base.is_dir() else base.parent) / f"agent_step{SUFFIX[fmt]}"
    out = Path(out)
    with atomic_path(out) as tmp:
        if fmt == "torchscript":
            save_torchscript(step, tmp)
        else:
            save_onnx(step, tmp)
    return out


def save_torchscript(step: AgentStep, path: str | Path) -> None:
    """Script (not trace) the step, so nothing depends on the example batch size.

    TorchScript is deprecated in torch 2.13; prefer :func:`save_onnx` for new deployments.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # TorchScript is deprecated, still supported
        scripted = torch.jit.script(step)
    scripted.save(str(path))


def save_onnx(step: AgentStep, path: str | Path) -> None:
    """ONNX with a dynamic batch axis through torch's current exporter, checked with ``onnx.checker``.

    The weights are stored inside the one file (no external data file), so the atomic rename moves all of it.
    """
    if importlib.util.find_spec("onnxscript") is None:
        raise QlogError("ONNX export needs the onnxscript package: pip install onnxscript", field="--format")
    import onnx

    batch = torch.export.Dim("batch", min=1)
    with _quiet_exporter():
        program = torch.onnx.export(
            step, example_inputs(step, batch=_EXAMPLE_BATCH), dynamo=True, external_data=False, verbose=False,
            input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES), opset_version=ONNX_OPSET,
            dynamic_shapes={name: {0: batch} for name in INPUT_NAMES},
        )
    model = program.model_proto
    onnx.checker.check_model(model, full_check=True)
    Path(path).write_bytes(model.SerializeToString())


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence what the exporter says about its own internals, which a user can do nothing about: skipped
    torchvision operators, torch's deprecation notices, and the GRU's weight list being rebuilt while tracing."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*_flat_weights.*", category=UserWarning)
            warnings.filterwarnings("ignore", message=".*axis name.*", category=UserWarning)
            yield
    finally:
        logger.setLevel(level)
