"""Request and response bodies of the policy API; they double as its OpenAPI documentation.

Sizes that depend on the checkpoint (observation, mask and hidden lengths, agent names) are checked by the
service after parsing; what does not (types, finiteness, 0/1 masks) is checked here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
MaskBit = Annotated[int, Field(ge=0, le=1)]

_EXAMPLE_ACT = {
    "agent": "vehicle_0",
    "observation": [0.5, 0.0, 1.0],
    "action_mask": [1, 0, 0, 1],
    "hidden": None,
    "last_action": None,
}


class ActRequest(BaseModel):
    """One vehicle's decision inputs: only what that vehicle itself sees and remembers."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE_ACT]})

    agent: StrictInt | StrictStr = Field(
        description="The vehicle: its index in [0, n_agents) or its name as listed by GET /v1/policy.")
    observation: list[FiniteFloat] = Field(
        description="The vehicle's own observation, observation_size finite floats (see GET /v1/policy).")
    action_mask: list[MaskBit] = Field(
        description="n_actions entries, 1 (or true) where the action is allowed now; at least one must be 1.")
    hidden: list[FiniteFloat] | None = Field(
        None, description="The `hidden` returned by this vehicle's previous call, hidden_size floats; "
                          "null at the start of a day.")
    last_action: int | None = Field(
        None, description="The action this vehicle took at its previous step; null (or -1) at the start of a day.")


class ActResponse(BaseModel):
    """The vehicle's greedy valid action and what it must send back next time."""

    action: int = Field(description="Index of the chosen action (the argmax of q_values over allowed actions).")
    q_values: list[float] = Field(description="Q-value of every action, masked ones included (n_actions floats).")
    hidden: list[float] = Field(
        description="The vehicle's new recurrent state (hidden_size floats): send it with its next request. "
                    "Floats are written with full precision, so the float32 state survives the round trip exactly.")


class PolicyDescription(BaseModel):
    """What a client needs to build requests for this policy."""

    scenario: str | None = Field(description="Name of the scenario the policy was trained on, if recorded.")
    observation_size: int = Field(description="Length of `observation` in requests.")
    n_agents: int = Field(description="Number of vehicles (agents) the policy was trained for.")
    agents: list[str] = Field(description="Agent names; a request's `agent` may be a name or its index here.")
    n_actions: int = Field(description="Number of discrete actions; the length of `action_mask` and `q_values`.")
    action_meanings: list[str] = Field(description="What each action index means, in index order.")
    hidden_size: int = Field(description="Length of the recurrent state `hidden`.")
    mixer: str = Field(description="Value factorisation the policy was trained with (qmix, vdn or iql); "
                                   "not used at run time.")
    version: str = Field(description="qmix-logistics package version of the server.")


class Status(BaseModel):
    """Liveness or readiness."""

    status: str = Field(description="`ok` when the process is up, `ready` when the policy is loaded.")


class ErrorItem(BaseModel):
    """One refused input value."""

    loc: list[str | int] = Field(description="Where: `body`, then the batch index if any, the field and element.")
    msg: str = Field(description="Why the value is refused.")
    type: str = Field(description="Machine-readable error kind.")


class ErrorResponse(BaseModel):
    """Body of 401, 413 and 422 answers."""

    message: str = Field(description="One line naming the field and the reason.")
    detail: list[ErrorItem] | str = Field(description="Every problem found (422), or a short reason.")
