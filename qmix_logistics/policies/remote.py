"""A simulator policy whose vehicles each ask a policy server for their own action.

This is decentralised execution over the network: at every step every vehicle sends one ``POST /v1/act``
with its own observation, its own mask, and the GRU state and last action it keeps itself. Nothing about
one vehicle reaches another vehicle's request. Given the same checkpoint and seed, the actions and KPIs
equal those of the in-process :class:`~qmix_logistics.policies.learned.LearnedPolicy`: floats travel as
full-precision JSON numbers, so the float32 recurrent state survives each round trip bit for bit.

The client lives with the policies (it is one) and needs nothing from the server's package: the two meet
only in the HTTP API, and in the :class:`~qmix_logistics.policies.base.PolicySpec` that ``GET /v1/policy``
returns and that is checked against the env like an in-process policy's.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.base import ActionPolicy, PolicySpec, check_compatible
from qmix_logistics.scenario import Scenario

#: Environment variable read for the bearer token when none is given.
TOKEN_ENV = "QLOG_TOKEN"


class VehicleMemory:
    """What one vehicle remembers between its decisions: its GRU state and its last action."""

    def __init__(self, hidden_size: int) -> None:
        self.hidden_size = hidden_size
        self.hidden: np.ndarray | None = None
        self.last_action: int | None = None

    def reset(self) -> None:
        """Start of a day: no state, no previous action."""
        self.hidden, self.last_action = None, None

    def request(self, index: int, observation: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
        """The body of this vehicle's ``/v1/act`` call (``tolist`` keeps every float32 exactly)."""
        return {
            "agent": index,
            "observation": observation.tolist(),
            "action_mask": mask.astype(np.int8).tolist(),
            "hidden": None if self.hidden is None else self.hidden.tolist(),
            "last_action": self.last_action,
        }

    def remember(self, answer: dict[str, Any]) -> int:
        """Keep the answer's state for the next step; return the action."""
        self.hidden = np.asarray(answer["hidden"], dtype=np.float32)
        self.last_action = int(answer["action"])
        return self.last_action


class RemotePolicy(ActionPolicy):
    """Every vehicle queries ``url`` with its own view only; one persistent HTTP client for all of them."""

    def __init__(self, url: str, scenario: Scenario | None = None, *, token: str | None = None,
                 timeout_s: float = 10.0) -> None:
        """Connect and read ``GET /v1/policy``; QlogError if the server is unreachable or its policy does not
        fit ``scenario`` (fleet, observation size, actions or observation layout).

        ``token`` defaults to the QLOG_TOKEN environment variable. ``timeout_s`` bounds each request.
        """
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        try:
            self.info = self._call("GET", "/v1/policy")
            self.spec = PolicySpec.from_dict(self.info, source=f"{self.url}/v1/policy")
            self.name = f"{self.info.get('mixer', 'remote')}@{self.url}"
            hidden_size = self.info.get("hidden_size")
            if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
                raise QlogError(f"expected a positive integer, got {hidden_size!r}",
                                source=f"{self.url}/v1/policy", field="hidden_size")
            self.vehicles = [VehicleMemory(hidden_size) for _ in range(self.spec.n_agents)]
            if scenario is not None:
                self.check_compatible(DispatchEnv(scenario))
        except BaseException:
            self._client.close()
            raise

    def check_compatible(self, env: DispatchEnv) -> None:
        """The served policy must have been trained for this fleet, observation, actions and layout."""
        check_compatible(self.spec, PolicySpec.of_env(env), source=self.url)

    def reset(self, env: DispatchEnv, seed: int) -> None:
        self.check_compatible(env)
        for vehicle in self.vehicles:
            vehicle.reset()

    def select_actions(self, obs: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """One request per vehicle, each carrying only that vehicle's row and memory."""
        actions = np.zeros(len(self.vehicles), dtype=np.int64)
        for v, vehicle in enumerate(self.vehicles):
            answer = self._call("POST", "/v1/act", json=vehicle.request(v, obs[v], masks[v]))
            actions[v] = vehicle.remember(answer)
        return actions

    def close(self) -> None:
        """Close the HTTP connection."""
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; connection problems and refusals become QlogError naming the URL."""
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise QlogError(f"cannot reach the policy server ({type(exc).__name__}: {exc})",
                            source=f"{self.url}{path}") from None
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            reason = body.get("message") if isinstance(body, dict) else None
            reason = reason or response.text[:200]
            raise QlogError(f"HTTP {response.status_code}: {reason}", source=f"{self.url}{path}")
        return response.json()
