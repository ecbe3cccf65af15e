"""Request and response bodies of the policy API; they double as its OpenAPI documentation.

The act bodies depend on the checkpoint: :func:`act_models` builds them for one policy, so the document
states the exact lengths of ``observation``, ``action_mask`` and ``hidden``, the valid agents and actions,
and a client generated from it (or a schema-driven test) sends what the server accepts. Pydantic enforces
types, lengths, ranges and finiteness; the service adds what JSON Schema cannot make pydantic check
(the agent, a mask that allows something), and its checks stay for callers from Python.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    create_model,
)

from qmix_logistics.policies.base import PolicySpec

#: Largest magnitude accepted for an input float. Observations are scaled to a few units; far larger
#: values would overflow float32 inside the network, and its answer could not be written as JSON.
MAX_ABS_INPUT = 1e6

InputFloat = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_ABS_INPUT, le=MAX_ABS_INPUT)]
MaskBit = Annotated[int, Field(ge=0, le=1)]


def _integral_index(value: Any) -> Any:
    """JSON Schema counts ``2.0`` as an integer, so an integral float names the agent of that index.

    Booleans and strings of digits stay what they are (refused, and looked up as a name), which is why the
    agent is not a plain lax ``int``.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def act_models(spec: PolicySpec, agents: list[str], hidden_size: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """``(ActRequest, ActResponse)`` for a policy of these sizes, named as in the OpenAPI document."""
    n_obs, n_actions = spec.observation_size, spec.n_actions
    example = {"agent": agents[0], "observation": [0.0] * n_obs, "action_mask": [1] + [0] * (n_actions - 1),
               "hidden": None, "last_action": None}

    def exactly(item: Any, n: int, description: str, **extra: Any) -> Any:
        return (list[item], Field(min_length=n, max_length=n, description=description,
                                  json_schema_extra=extra or None))

    agent_schema = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": spec.n_agents - 1},
                              {"type": "string", "enum": list(agents)}]}
    request = create_model(
        "ActRequest",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [example]}),
        __doc__="One vehicle's decision inputs: only what that vehicle itself sees and remembers.",
        agent=(Annotated[StrictInt | StrictStr, BeforeValidator(_integral_index)], Field(
            description=f"The vehicle: its index in [0, {spec.n_agents}) or its name as listed by GET /v1/policy.",
            json_schema_extra=agent_schema)),
        observation=exactly(InputFloat, n_obs, f"The vehicle's own observation: {n_obs} finite floats, "
                                               f"each within ±{MAX_ABS_INPUT:,.0f}."),
        action_mask=exactly(MaskBit, n_actions, f"{n_actions} entries, 1 (or true) where the action is allowed "
                                                "now; at least one must be 1.", contains={"const": 1}),
        hidden=(Annotated[list[InputFloat], Field(min_length=hidden_size, max_length=hidden_size)] | None, Field(
            None, description=f"The `hidden` returned by this vehicle's previous call ({hidden_size} floats); "
                        "null at the start of a day.")),
        last_action=(Annotated[int, Field(ge=-1, lt=n_actions)] | None, Field(
            None, description="The action this vehicle took at its previous step; null (or -1) at the start "
                              "of a day.")),
    )
    response = create_model(
        "ActResponse",
        __doc__="The vehicle's greedy valid action and what it must send back next time.",
        action=(Annotated[int, Field(ge=0, lt=n_actions)], Field(
            description="Index of the chosen action (the argmax of q_values over allowed actions).")),
        q_values=exactly(float, n_actions, "Q-value of every action, masked ones included."),
        hidden=exactly(float, hidden_size, "The vehicle's new recurrent state: send it with its next request. "
                                           "Floats are written with full precision, so the float32 state "
                                           "survives the round trip exactly."),
    )
    return request, response


class PolicyDescription(BaseModel):
    """What a client needs to build requests for this policy; the first five fields are its PolicySpec."""

    scenario: str | None = Field(description="Name of the scenario the policy was trained on, if recorded.")
    observation_size: int = Field(description="Length of `observation` in requests.")
    n_agents: int = Field(description="Number of vehicles (agents) the policy was trained for.")
    action_meanings: list[str] = Field(description="What each action index means, in index order.")
    observation_layout: str = Field(description="How the observation floats are laid out (version: summary). "
                                                "A client refuses a policy trained on another layout.")
    agents: list[str] = Field(description="Agent names; a request's `agent` may be a name or its index here.")
    n_actions: int = Field(description="Number of discrete actions; the length of `action_mask` and `q_values`.")
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
