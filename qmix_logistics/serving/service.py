"""The served policy: a checkpoint loaded once, its description, and stateless per-agent decisions.

The server keeps no per-vehicle state: every request carries the vehicle's own observation, mask, GRU state
and last action, and the answer carries the new GRU state back. The service checks each row before the
network sees it, so bad input becomes an error naming the field instead of a crash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.policies.base import PolicySpec


@dataclass(frozen=True)
class RowError:
    """One invalid input value: which request item, which field, and why."""

    item: int | None
    """Index in a batch request, or None for a single request."""
    field: str
    """Field name, with an element index where one element is wrong (``observation[3]``)."""
    message: str
    """Why the value is refused."""

    @property
    def where(self) -> str:
        """``field`` for a single request, ``[item].field`` in a batch."""
        return self.field if self.item is None else f"[{self.item}].{self.field}"


class AgentInputs(Protocol):
    """One agent's inputs as a request carries them (the API's ActRequest has these attributes)."""

    agent: int | str
    observation: Sequence[float]
    action_mask: Sequence[int | bool]
    hidden: Sequence[float] | None
    last_action: int | None


@dataclass
class AgentRequest:
    """One agent's inputs for calling the service from Python (plain lists or arrays, not yet checked)."""

    agent: int | str
    observation: Sequence[float]
    action_mask: Sequence[int | bool]
    hidden: Sequence[float] | None = None
    last_action: int | None = None


@dataclass
class PolicyInfo:
    """What a client needs to talk to the policy: the spec it was trained for, agent names, state size."""

    spec: PolicySpec
    agents: list[str]
    hidden_size: int
    mixer: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        """The body of ``GET /v1/policy``: the spec's keys (``PolicySpec.from_dict`` reads them back) and more."""
        spec = self.spec.to_dict()
        return {**spec, "agents": list(self.agents), "n_actions": self.spec.n_actions,
                "hidden_size": self.hidden_size, "mixer": self.mixer, "version": self.version}


class PolicyService:
    """A DecentralizedPolicy from a checkpoint, answering checked, independent per-agent decisions."""

    def __init__(self, policy: Any, info: PolicyInfo) -> None:
        self.policy = policy
        self.info = info
        self._agent_index = {name: i for i, name in enumerate(info.agents)}

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> PolicyService:
        """Load the agent network and describe it; a missing or corrupt file raises QlogError naming it.

        The spec comes from the same loader as the in-process policy's, so both describe a checkpoint alike.
        """
        import qmix_logistics
        from qmix_logistics.marl import load_checkpoint
        from qmix_logistics.policies.learned import load_learned

        policy, spec, _metadata, file = load_learned(path)
        mixer = str(load_checkpoint(file)["config"].get("mixer", "unknown"))
        info = PolicyInfo(spec=spec, agents=list(policy.agent_names), hidden_size=policy.hidden_dim, mixer=mixer,
                          version=getattr(qmix_logistics, "__version__", "unknown"))
        return cls(policy, info)

    # ------------------------------------------------------------------ checking
    def check(self, requests: Sequence[AgentInputs], *, batch: bool) -> list[RowError]:
        """Every problem with the requests (lengths, finiteness, agent, last action, mask), first ones first."""
        errors: list[RowError] = []
        for i, request in enumerate(requests):
            item = i if batch else None
            for message_field, message in self._check_one(request):
                errors.append(RowError(item, message_field, message))
        return errors

    def _check_one(self, r: AgentInputs) -> list[tuple[str, str]]:
        p = self.policy
        problems: list[tuple[str, str]] = []
        if self.agent_index(r.agent) is None:
            names = ", ".join(self.info.agents[:3]) + (", ..." if p.n_agents > 3 else "")
            reason = f"unknown agent {r.agent!r}: use an index in [0, {p.n_agents}) or a name ({names})"
            problems.append(("agent", reason))
        sizes = (("observation", r.observation, p.obs_dim), ("action_mask", r.action_mask, p.n_actions),
                 ("hidden", r.hidden, p.hidden_dim))
        for name, values, size in sizes:
            if values is not None and len(values) != size:
                problems.append((name, f"expected {size} values, got {len(values)}"))
        for name, values in (("observation", r.observation), ("hidden", r.hidden)):
            bad = _first_non_finite(values)
            if bad is not None:
                problems.append((f"{name}[{bad}]", f"must be a finite number, got {values[bad]!r}"))
        if len(r.action_mask) == p.n_actions and not any(r.action_mask):
            problems.append(("action_mask", "allows no action: at least one entry must be 1"))
        if r.last_action is not None and not -1 <= r.last_action < p.n_actions:
            problems.append(("last_action", f"must be null, -1 or in [0, {p.n_actions}), got {r.last_action}"))
        return problems

    def agent_index(self, agent: int | str) -> int | None:
        """The index of an agent given by index or name, or None if there is no such agent."""
        if isinstance(agent, int) and not isinstance(agent, bool):
            return agent if 0 <= agent < self.policy.n_agents else None
        return self._agent_index.get(str(agent))

    # ------------------------------------------------------------------ acting
    def act(self, requests: Sequence[AgentInputs]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Checked requests -> (actions [B], q_values [B, n_actions], new hidden [B, hidden]), one forward pass.

        Raises QlogError on the first invalid row (callers that want every error call :meth:`check`).
        """
        errors = self.check(requests, batch=True)
        if errors:
            raise QlogError(errors[0].message, field=errors[0].where)
        return self.decide(requests)

    def decide(self, requests: Sequence[AgentInputs]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Like :meth:`act` for requests that already passed :meth:`check`."""
        p = self.policy
        observations = np.array([r.observation for r in requests], dtype=np.float32).reshape(-1, p.obs_dim)
        masks = np.array([r.action_mask for r in requests], dtype=bool).reshape(-1, p.n_actions)
        ids = np.array([self.agent_index(r.agent) for r in requests], dtype=np.int64)
        last = np.array([-1 if r.last_action is None else r.last_action for r in requests], dtype=np.int64)
        hidden = np.zeros((len(requests), p.hidden_dim), dtype=np.float32)
        for i, r in enumerate(requests):
            if r.hidden is not None:
                hidden[i] = r.hidden
        return self.forward(observations, masks, ids, last, hidden)

    def forward(self, observations: np.ndarray, masks: np.ndarray, ids: np.ndarray, last: np.ndarray,
                hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The policy's batched step, run on a batch padded to a whole number of fleets.

        BLAS picks different kernels for products with very few rows than for larger ones, so the same
        vehicle's Q-values can differ in the last bits depending on how many rows share the call. In-process
        execution evaluates the whole fleet (n_agents rows) at once; padding every call up to a multiple of
        n_agents rows (repeating the first row) makes a lone vehicle's answer bit-identical to that.
        """
        rows = observations.shape[0]
        fleet = self.policy.n_agents
        padded = max(fleet, -(-rows // fleet) * fleet)
        arrays = [observations, masks, ids, last, hidden]
        if padded > rows:
            arrays = [np.concatenate([a, np.repeat(a[:1], padded - rows, axis=0)]) for a in arrays]
        actions, q, new_hidden = self.policy.act_batch(*arrays)
        if not (np.isfinite(q).all() and np.isfinite(new_hidden).all()):
            # finite but huge inputs can overflow float32 inside the network; JSON cannot carry the result
            raise QlogError("values too large for the network: its outputs overflow float32", field="observation")
        return actions[:rows], q[:rows], new_hidden[:rows]


def _first_non_finite(values: Sequence[float] | None) -> int | None:
    """Index of the first NaN or infinite value, or None."""
    if values is None or math.isfinite(sum(values)):  # a NaN or inf anywhere makes the sum non-finite
        return None
    for i, value in enumerate(values):
        if not math.isfinite(value):
            return i
    return None
