"""The policy server: a trained agent network behind a small, stateless HTTP API.

At run time there is no central planner: each vehicle sends only what it sees (its observation and action
mask) and what it remembers (its GRU state and last action), and gets its own action back. The server holds
no per-vehicle state, so any number of vehicles, or replicas of the server, can share it.

    app = create_app("runs/depot__0/checkpoint.pt", token="s3cret")

Endpoints: ``GET /healthz``, ``GET /readyz``, ``GET /v1/policy``, ``POST /v1/act``, ``POST /v1/act/batch``,
plus FastAPI's ``/docs`` and ``/openapi.json``. Every refused input answers 422 with a ``message`` naming the
field; a wrong or missing token answers 401, an oversized body 413.
"""

# No ``from __future__ import annotations`` here: the routes are annotated with request models built for
# each app inside create_app, and FastAPI can only resolve such local types from real annotations.
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.base import PolicySpec, check_compatible
from qmix_logistics.scenario import Scenario

from .guard import BearerTokenGuard
from .schemas import ErrorResponse, PolicyDescription, Status, act_models
from .service import AgentInputs, PolicyService, RowError

#: Default request body limit: a batch of a few hundred vehicles fits, a runaway upload does not.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."},
    413: {"description": "Request body larger than the server's limit."},
    422: {"model": ErrorResponse, "description": "Invalid input; `message` names the field and the reason."},
}

# Documents the bearer scheme in OpenAPI (the docs' "Authorize" button) on servers that have a token;
# BearerTokenGuard enforces it, before the body is read.
_bearer_scheme = HTTPBearer(auto_error=False, description="The token the server was started with.")


def create_app(
    checkpoint_path: str | Path,
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    scenario: Scenario | None = None,
) -> FastAPI:
    """Load the checkpoint (QlogError if it is missing or unreadable) and build the API around it.

    ``token``: when set, every ``/v1/`` request needs ``Authorization: Bearer <token>``, and the OpenAPI
    document declares the bearer scheme (without a token it declares no security, as none is enforced).
    ``max_body_bytes``: larger request bodies are refused with 413 before they are parsed.
    The request and response models are built from the loaded policy's sizes, so the document states the
    exact lengths of every list.
    """
    service = PolicyService.from_checkpoint(checkpoint_path)
    info = service.info
    if scenario is not None:  # the same check as in-process and remote policies: refuse before serving
        check_compatible(info.spec, PolicySpec.of_env(DispatchEnv(scenario)), source=str(checkpoint_path))
    ActRequest, ActResponse = act_models(info.spec, info.agents, info.hidden_size)
    app = FastAPI(
        title="qmix-logistics policy server",
        version=info.version,
        description=(
            "Decentralised execution of a trained dispatch policy: every vehicle asks for its own action "
            "from its own observation. The server keeps no per-vehicle state; each vehicle sends back the "
            "`hidden` state and `last_action` from its previous answer. Start a day with both null."
        ),
        max_body_size=max_body_bytes,
    )
    app.state.service = service
    if token:
        app.add_middleware(BearerTokenGuard, token=token)
    _add_error_handlers(app)
    secured = [Security(_bearer_scheme)] if token else []
    refusals = {code: answer for code, answer in _ERRORS.items() if token or code != 401}

    @app.get("/healthz", response_model=Status, tags=["probes"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=Status, tags=["probes"], summary="The policy is loaded",
             responses={503: {"model": Status, "description": "The policy is not loaded."}})
    async def readyz(request: Request) -> Any:
        if getattr(request.app.state, "service", None) is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return {"status": "ready"}

    @app.get("/v1/policy", response_model=PolicyDescription, tags=["policy"], dependencies=secured,
             summary="The policy spec (sizes, actions, observation layout), agent names and state size",
             responses={401: _ERRORS[401]} if token else None)
    async def describe() -> dict[str, Any]:
        return info.to_dict()

    @app.post("/v1/act", response_model=ActResponse, tags=["policy"], dependencies=secured,
              summary="One vehicle's action from its own observation", responses=refusals)
    async def act(item: ActRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        return _act(service, [item], batch=False)[0]

    @app.post("/v1/act/batch", response_model=list[ActResponse], tags=["policy"],  # type: ignore[valid-type]
              dependencies=secured, summary="Many independent vehicle decisions in one forward pass",
              responses=refusals)
    async def act_batch(
        items: Annotated[list[ActRequest], Body(  # type: ignore[valid-type]
            description="Independent per-vehicle requests, each like the body of POST /v1/act; "
                        "answers come back in the same order.")],
    ) -> list[dict[str, Any]]:
        return _act(service, items, batch=True)

    return app


def _act(service: PolicyService, items: Sequence[AgentInputs], *, batch: bool) -> list[dict[str, Any]]:
    """Check every item (422 listing all problems), then decide for all of them in one forward pass.

    Runs on the event loop: one small forward pass takes a fraction of a millisecond, less than handing it
    to a worker thread would cost.
    """
    if not items:
        return []
    errors = service.check(items, batch=batch)
    if errors:
        raise RequestValidationError([_row_error(e) for e in errors])
    actions, q, hidden = service.decide(items)
    return [{"action": int(a), "q_values": qv.tolist(), "hidden": h.tolist()} for a, qv, h in zip(actions, q, hidden)]


def _row_error(error: RowError) -> dict[str, Any]:
    """A service check result in FastAPI's validation-error shape (``loc`` from ``body``)."""
    name, _, index = error.field.partition("[")
    loc: list[str | int] = ["body"] + ([error.item] if error.item is not None else []) + [name]
    if index:
        loc.append(int(index.rstrip("]")))
    return {"loc": loc, "msg": error.message, "type": "value_error"}


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"message": one line, "detail": ...}``; refused inputs are never echoed back."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": _loc(e), "msg": _error_message(e), "type": str(e.get("type", ""))} for e in exc.errors()]
        first = detail[0] if detail else {"loc": ["body"], "msg": "invalid request"}
        more = f" (and {len(detail) - 1} more)" if len(detail) > 1 else ""
        message = f"{format_loc(first['loc'])}: {first['msg']}{more}"
        return JSONResponse({"message": message, "detail": detail}, status_code=422)

    @app.exception_handler(QlogError)
    async def user_error(_request: Request, exc: QlogError) -> JSONResponse:
        loc = ["body", exc.field] if exc.field else ["body"]
        return JSONResponse({"message": str(exc), "detail": [{"loc": loc, "msg": exc.reason, "type": "value_error"}]},
                            status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"message": str(exc.detail), "detail": exc.detail}, status_code=exc.status_code,
                            headers=exc.headers)


def _loc(error: dict[str, Any]) -> list[str | int]:
    """Where the error is; a JSON syntax error is in the body as a whole (its offset goes into the message)."""
    return ["body"] if error.get("type") == "json_invalid" else list(error.get("loc", ()))


def _error_message(error: dict[str, Any]) -> str:
    """Pydantic's message, in the service's words for a wrong length; a JSON syntax error also says what
    the parser expected and where."""
    if tuple(error.get("loc", ())) == ("body",) and isinstance(error.get("input"), bytes):
        return "the body must be JSON, sent with 'Content-Type: application/json'"
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error")
        where = error.get("loc", ())[-1:]
        at = f" at character {where[0]}" if where and isinstance(where[0], int) else ""
        return f"malformed JSON ({reason}){at}" if reason else f"malformed JSON{at}"
    ctx = error.get("ctx") or {}
    if error.get("type") in ("too_short", "too_long") and "actual_length" in ctx:
        expected = ctx.get("min_length") if error["type"] == "too_short" else ctx.get("max_length")
        return f"expected {expected} values, got {ctx['actual_length']}"
    return str(error.get("msg", "invalid value"))


def format_loc(loc: Sequence[str | int]) -> str:
    """``["body", 2, "observation", 3]`` -> ``[2].observation[3]``; ``["body"]`` -> ``body``."""
    text = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"
