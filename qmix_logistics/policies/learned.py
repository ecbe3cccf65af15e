"""Decentralized execution of a trained policy in the simulator.

Each vehicle acts greedily on its own Q-values, computed from its own observation, its own last action
and its own GRU state. No global state and no mixer are used. The forward pass is batched over vehicles
for speed only: no vehicle's decision reads another vehicle's inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.base import ActionPolicy, PolicySpec, check_compatible
from qmix_logistics.scenario import Scenario

#: The layout a dispatch checkpoint stands for when it records none (written before layouts were recorded).
UNRECORDED_LAYOUT = "1 (before layouts were recorded)"


def run_policy_file(run_dir: Path) -> Path:
    """The file a run folder stands for: its best evaluation's policy (``best.pt``) when the run kept one, else
    its last checkpoint (which may be missing)."""
    from qmix_logistics.marl import BEST_CHECKPOINT_NAME, CHECKPOINT_NAME

    best = run_dir / BEST_CHECKPOINT_NAME
    return best if best.is_file() else run_dir / CHECKPOINT_NAME


def checkpoint_file(path: str | Path) -> Path:
    """A checkpoint file, or the policy a run folder stands for (:func:`run_policy_file`)."""
    path = Path(path)
    if path.is_dir():
        path = run_policy_file(path)
    if not path.is_file():
        raise QlogError("no checkpoint found", source=str(path))
    return path


def load_learned(path: str | Path, device: str = "cpu") -> tuple[Any, PolicySpec, dict[str, Any], Path]:
    """Load a checkpoint's agent network and the spec it was trained for -> (network, spec, metadata, file).

    The one loader behind the in-process policy and the policy server, so both describe a checkpoint
    the same way. QlogError (naming the file) if it is missing, unreadable, or records a spec that
    does not match its own network.
    """
    from qmix_logistics.marl import load_policy

    file = checkpoint_file(path)
    network, metadata = load_policy(file, device=device)
    spec = spec_from_metadata(metadata, network, source=str(file))
    recorded = (spec.n_agents, spec.observation_size, spec.n_actions)
    built = (network.n_agents, network.obs_dim, network.n_actions)
    if recorded != built:
        raise QlogError(f"records {recorded[0]} vehicles, {recorded[1]} observation floats and {recorded[2]} "
                        f"actions, but its network has {built[0]}, {built[1]} and {built[2]}",
                        source=str(file), field="metadata.policy_spec")
    return network, spec, metadata, file


def spec_from_metadata(metadata: dict[str, Any], network: Any, *, source: str | None = None) -> PolicySpec:
    """The checkpoint's ``policy_spec``; for older checkpoints, rebuilt from the keys they do carry.

    Older runs recorded ``scenario``, ``action_meanings`` and ``observation_layout`` (the first runs not
    even the layout); the sizes come from the network itself.
    """
    stored = metadata.get("policy_spec")
    if stored is not None:
        return PolicySpec.from_dict(stored, source=source)
    scenario = metadata.get("scenario")
    name = scenario.get("name") if isinstance(scenario, dict) else None
    return PolicySpec(
        scenario=str(name) if name is not None else None,
        observation_size=int(network.obs_dim),
        n_agents=int(network.n_agents),
        action_meanings=tuple(recorded_action_meanings(metadata, int(network.n_actions))),
        observation_layout=str(metadata.get("observation_layout") or UNRECORDED_LAYOUT),
    )


def recorded_action_meanings(metadata: dict[str, Any], n_actions: int) -> list[str]:
    """The stored action meanings, else rebuilt from the stored scenario, else generic names.

    The scenario route builds only the action layout, not the env: a serving machine need not have the
    road network or order files the policy was trained with.
    """
    stored = metadata.get("action_meanings")
    if isinstance(stored, list) and len(stored) == n_actions:
        return [str(m) for m in stored]
    scenario = metadata.get("scenario")
    if isinstance(scenario, dict):
        from pydantic import ValidationError

        from qmix_logistics.env import ActionLayout

        try:
            trained_on = Scenario.model_validate(scenario)
        except ValidationError:  # written by another version of the scenario schema
            trained_on = None
        if trained_on is not None:
            layout = ActionLayout(trained_on.observation.pending_slots, trained_on.resolved_onboard_slots())
            if layout.n_actions == n_actions:
                return layout.meanings()
    return [f"action {a}" for a in range(n_actions)]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the enclosed torch work on one thread and restore the caller's thread count afterwards.

    A per-step forward pass of a small GRU is fastest on one thread: more threads only add
    synchronisation (tens of ms per call on a busy machine). Switching costs a few microseconds, and
    restoring keeps the process's setting (e.g. a training run's ``torch_threads``) untouched.
    """
    import torch

    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


class LearnedPolicy(ActionPolicy):
    """A QMIX/VDN/IQL agent network run per vehicle; holds each vehicle's recurrent state between steps."""

    def __init__(self, policy: Any, spec: PolicySpec, metadata: dict[str, Any] | None = None,
                 name: str = "learned", source: str | None = None) -> None:
        """``policy``: a ``DecentralizedPolicy``; ``spec``: what it was trained for (checked at each reset);
        ``source``: the checkpoint, named in errors."""
        self.policy = policy
        self.spec = spec
        self.metadata = metadata or {}
        self.name = name
        self.source = source
        self._hidden = np.zeros((policy.n_agents, policy.hidden_dim), dtype=np.float32)
        self._last = np.full(policy.n_agents, -1, dtype=np.int64)
        self._ids = np.arange(policy.n_agents)
        # each vehicle's Q-values at its last decision, [n_agents, n_actions] (read by diagnostics)
        self.last_q = np.zeros((policy.n_agents, policy.n_actions), dtype=np.float32)

    @classmethod
    def from_checkpoint(cls, path: str | Path, scenario: Scenario | None = None, device: str = "cpu") -> LearnedPolicy:
        """Load a checkpoint file or run folder; with ``scenario``, refuse it at once if it does not fit."""
        network, spec, metadata, file = load_learned(path, device=device)
        learned = cls(network, spec, metadata, name=_policy_name(file, metadata), source=str(file))
        if scenario is not None:
            learned.check_compatible(DispatchEnv(scenario))
        return learned

    def check_compatible(self, env: DispatchEnv) -> None:
        """QlogError naming every difference between what the policy was trained for and ``env``."""
        check_compatible(self.spec, PolicySpec.of_env(env), source=self.source)

    def reset(self, env: DispatchEnv, seed: int) -> None:
        self.check_compatible(env)
        self._hidden[:] = 0.0
        self._last[:] = -1

    def select_actions(self, obs: np.ndarray, masks: np.ndarray) -> np.ndarray:
        with one_torch_thread():
            actions, q, hidden = self.policy.act_batch(obs, masks, self._ids, self._last, self._hidden)
        self._hidden = hidden
        self.last_q = q
        self._last = actions.astype(np.int64)
        return actions


def _policy_name(file: Path, metadata: dict[str, Any]) -> str:
    """``qmix:RUN`` for the policy a run folder stands for, ``qmix:RUN/checkpoint`` for another file in it."""
    mixer = str(metadata.get("mixer", "learned"))
    if not file.parent.name:
        return mixer
    stands_for = file.resolve() == run_policy_file(file.parent).resolve()
    return f"{mixer}:{file.parent.name}" if stands_for else f"{mixer}:{file.parent.name}/{file.stem}"
