"""Checkpoints: one self-describing file, written atomically, read without executing code.

A checkpoint carries everything needed to resume training exactly (config, weights, targets, optimiser,
counters, RNG states, optionally the replay buffer) and to serve the policy without the env (env sizes,
agent weights, the caller's metadata such as the scenario). It holds only tensors and plain containers and
is read with ``torch.load(weights_only=True)``, so a tampered file cannot run code; any unreadable file
raises QlogError naming it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qmix_logistics.common.atomic_io import atomic_path
from qmix_logistics.common.errors import QlogError

from .config import LearnerConfig
from .controller import DecentralizedPolicy
from .env_contract import EnvSpec
from .networks import RNNAgent

CHECKPOINT_NAME = "checkpoint.pt"
#: The policy of a run's best evaluation so far (``LearnerConfig.keep_best``), beside the last checkpoint.
BEST_CHECKPOINT_NAME = "best.pt"
FORMAT_NAME = "qmix_logistics.marl.checkpoint"
FORMAT_VERSION = 1
_REQUIRED = {"config": dict, "env_spec": dict, "learner": dict, "counters": dict, "metadata": dict}


#: The installed distribution this learner ships in; its version is recorded as the writer's.
DISTRIBUTION = "qmix-logistics"


def package_versions() -> dict[str, str]:
    """Versions that explain a checkpoint's provenance (checked by humans, not enforced).

    The learner's own version comes from the installed distribution's metadata, so recording it needs
    nothing from the rest of the package; a source tree that is not installed records "unknown".
    """
    try:
        own_version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        own_version = "unknown"
    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "qmix_logistics": own_version,
    }


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """Raise TypeError unless ``value`` is tensors and plain containers only (what weights_only can read)."""
    # Exact types: subclasses such as numpy.float64 or torch's version string pickle as foreign globals.
    if value is None or type(value) in (bool, int, float, str) or isinstance(value, torch.Tensor):
        return
    if type(value) in (dict, OrderedDict):  # module state_dicts are OrderedDicts
        for key, item in value.items():
            if type(key) not in (str, int):
                raise TypeError(f"{where}: key {key!r} is not a str or int")
            check_plain(item, f"{where}.{key}")
        return
    if type(value) in (list, tuple):
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
        return
    raise TypeError(f"{where}: {type(value).__name__} cannot go into a checkpoint (use plain types or tensors)")


def capture_rng_states(generators: dict[str, np.random.Generator]) -> dict[str, Any]:
    """Torch's global generators and the given numpy Generators, as plain containers.

    These are all the randomness training draws: torch's for network initialisation, the Generators for
    exploration and replay. Python's ``random`` and numpy's global state are neither seeded nor used.
    """
    return {
        "torch": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: gen.bit_generator.state for name, gen in generators.items()},
    }


def restore_rng_states(states: dict[str, Any], generators: dict[str, np.random.Generator]) -> None:
    """Inverse of :meth:`capture_rng_states`; the Generators are restored in place.

    Older checkpoints also hold Python and numpy-global states; nothing draws from those, so they are ignored.
    """
    torch.set_rng_state(states["torch"].cpu())
    if states["torch_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states["torch_cuda"]])
    for name, gen in generators.items():
        gen.bit_generator.state = states["generators"][name]


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` plus format and version keys to ``path`` atomically.

    The bytes go to a temp file in the same folder, are fsynced, then renamed over the target
    (``atomic_io.atomic_path``), so a crash leaves either the old checkpoint or the new one, never half a file.
    """
    path = Path(path)
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "versions": package_versions(), **payload}
    check_plain(document)
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        torch.save(document, handle)
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint; any problem with the file raises QlogError naming it."""
    source = str(path)
    if not Path(path).is_file():
        raise QlogError("no checkpoint file here", source=source)
    try:
        with warnings.catch_warnings():  # a foreign pickle protocol is reported through the error, if at all
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            data = torch.load(path, weights_only=True, map_location=map_location)
    except Exception as exc:  # every way a file can be unreadable is the user's to fix
        raise QlogError(f"cannot load checkpoint: {_load_failure_reason(exc)}", source=source) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise QlogError("not a qmix-logistics MARL checkpoint (wrong or missing 'format' key)", source=source)
    version = data.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise QlogError(f"bad format_version {version!r}", source=source, field="format_version")
    if version > FORMAT_VERSION:
        raise QlogError(
            f"format version {version} is newer than this code reads ({FORMAT_VERSION}); upgrade qmix-logistics",
            source=source,
            field="format_version",
        )
    for key, kind in _REQUIRED.items():
        if not isinstance(data.get(key), kind):
            raise QlogError(f"missing or malformed section {key!r}", source=source, field=key)
    return data


def _load_failure_reason(exc: Exception) -> str:
    """A one-line reason from torch.load's (long, multi-paragraph) error text."""
    text = str(exc)
    detail = text.split("WeightsUnpickler error:", 1)[-1]
    lines = [line.strip() for line in detail.strip().splitlines() if line.strip()]
    summary = lines[0] if lines else type(exc).__name__
    if "Unsupported global" in text or "Unsupported class" in text:
        return f"it holds objects other than tensors and plain data and is refused (untrusted file?): {summary}"
    return f"it is truncated or corrupt ({summary})"


@contextlib.contextmanager
def checkpoint_contents(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn errors from using a checkpoint's contents (missing keys, wrong shapes) into QlogError."""
    try:
        yield
    except QlogError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise QlogError(
            f"checkpoint contents do not fit this code ({type(exc).__name__}: {first_line})", source=str(path)
        ) from None


def config_and_spec(data: dict[str, Any], path: str | os.PathLike[str]) -> tuple[LearnerConfig, EnvSpec]:
    """The learner config and env sizes a checkpoint was trained with."""
    config = LearnerConfig.from_dict(data["config"], source=str(path), prefix="config")
    with checkpoint_contents(path):
        spec = EnvSpec.from_dict(data["env_spec"])
    return config, spec


def load_policy(path: str | os.PathLike[str], device: str = "cpu") -> tuple[DecentralizedPolicy, dict[str, Any]]:
    """Rebuild the greedy decentralised policy (agent network only) and the caller's metadata.

    Needs no env: the checkpoint carries the observation/action sizes and agent names.
    """
    data = load_checkpoint(path, map_location=device)
    config, spec = config_and_spec(data, path)
    with checkpoint_contents(path):
        agent = RNNAgent(spec.obs_dim, spec.n_actions, spec.n_agents, config.agent_hidden_dim)
        agent.load_state_dict(data["learner"]["agent"])
    return DecentralizedPolicy(agent, agent_names=spec.agents, device=device), data["metadata"]
