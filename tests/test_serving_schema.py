"""The policy server against its own OpenAPI document: requests generated from the schema, sent over HTTP.

Schemathesis reads ``/openapi.json`` from a real uvicorn server on 127.0.0.1 and, for every operation,
sends requests that the document says are valid (and some edge cases). Every answer must be no 5xx,
match the documented response schema, not refuse what the document allows, and the declared bearer
token must really be required.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    ignored_auth,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
)

from qmix_logistics.serving.api import create_app
from qmix_logistics.serving.server import BackgroundServer

TOKEN = "schema-token-42"
EXAMPLES_PER_OPERATION = 30


@pytest.fixture(scope="module")
def api_schema(tiny_checkpoint: Path):
    """The served document, loaded from the running server (which is also the base URL of every call)."""
    with BackgroundServer(create_app(tiny_checkpoint, token=TOKEN)) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


OPERATIONS = [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/v1/policy"), ("POST", "/v1/act"),
              ("POST", "/v1/act/batch")]
#: Schema-valid requests: the server must answer 2xx, in the documented shape, and only with the token.
POSITIVE = [not_a_server_error, response_schema_conformance, positive_data_acceptance, ignored_auth]
#: Requests the schema forbids: a documented refusal, never a server error.
NEGATIVE = [not_a_server_error, response_schema_conformance]


def test_the_document_lists_every_operation(api_schema) -> None:
    listed = {(result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()}
    assert listed == set(OPERATIONS)


# A GET without parameters or body has no invalid form, so only bodies get negative cases.
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + \
        [(m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if m == "POST"]


@pytest.mark.parametrize("method, path, mode", CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_generated_requests_get_documented_answers(api_schema, method: str, path: str,
                                                   mode: GenerationMode) -> None:
    operation = api_schema[path][method]
    checks = POSITIVE if mode is GenerationMode.POSITIVE else NEGATIVE

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=checks)

    run()
