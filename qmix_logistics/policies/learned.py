"""Decentralized execution of a trained policy in the simulator.

Each vehicle acts greedily on its own Q-values, computed from its own observation, its own last action
and its own GRU state. No global state and no mixer are used. The forward pass is batched over vehicles
for speed only: no vehicle's decision reads another vehicle's inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import OBSERVATION_LAYOUT, DispatchEnv
from qmix_logistics.policies.base import ActionPolicy
from qmix_logistics.scenario import Scenario


def checkpoint_file(path: str | Path) -> Path:
    """A checkpoint file, or the checkpoint inside a run folder."""
    from qmix_logistics.marl import CHECKPOINT_NAME

    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise QlogError("no checkpoint found", source=str(path))
    return path


class LearnedPolicy(ActionPolicy):
    """A QMIX/VDN/IQL agent network run per vehicle; holds each vehicle's recurrent state between steps."""

    def __init__(self, policy: Any, metadata: dict[str, Any], name: str = "learned") -> None:
        import torch

        # A per-step forward pass of a small GRU is fastest on one thread; more threads only add
        # synchronisation (tens of ms per call on a busy machine).
        torch.set_num_threads(1)
        self.policy = policy
        self.metadata = metadata
        self.name = name
        self._hidden = np.zeros((policy.n_agents, policy.hidden_dim), dtype=np.float32)
        self._last = np.full(policy.n_agents, -1, dtype=np.int64)
        self._ids = np.arange(policy.n_agents)

    @classmethod
    def from_checkpoint(cls, path: str | Path, scenario: Scenario | None = None, device: str = "cpu") -> "LearnedPolicy":
        from qmix_logistics.marl import load_policy

        file = checkpoint_file(path)
        policy, metadata = load_policy(file, device=device)
        learned = cls(policy, metadata, name=_policy_name(file, metadata))
        layout = metadata.get("observation_layout")
        if "scenario" in metadata and layout != OBSERVATION_LAYOUT:
            raise QlogError(
                f"checkpoint was trained on observation layout {layout or '1 (before layouts were recorded)'!r}; "
                f"this version builds {OBSERVATION_LAYOUT!r}: retrain with qlog train",
                source=str(file), field="--policy",
            )
        if scenario is not None:
            learned.check_compatible(DispatchEnv(scenario))
        return learned

    def check_compatible(self, env: DispatchEnv) -> None:
        p = self.policy
        theirs = (env.n_agents, env.obs_size, env.n_actions)
        ours = (p.n_agents, p.obs_dim, p.n_actions)
        if theirs != ours:
            raise QlogError(
                f"checkpoint was trained for {ours[0]} vehicles, {ours[1]} observation floats and {ours[2]} actions; "
                f"this scenario has {theirs[0]}, {theirs[1]} and {theirs[2]}",
                field="--policy",
            )

    def reset(self, env: DispatchEnv, seed: int) -> None:
        self.check_compatible(env)
        self._hidden[:] = 0.0
        self._last[:] = -1

    def select_actions(self, obs: np.ndarray, masks: np.ndarray) -> np.ndarray:
        actions, _q, hidden = self.policy.act_batch(obs, masks, self._ids, self._last, self._hidden)
        self._hidden = hidden
        self._last = actions.astype(np.int64)
        return actions


def _policy_name(file: Path, metadata: dict[str, Any]) -> str:
    mixer = str(metadata.get("mixer", "learned"))
    return f"{mixer}:{file.parent.name}" if file.parent.name else mixer
