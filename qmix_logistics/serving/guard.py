"""Bearer-token check in front of the API (401), before any byte of the body is read.

It is plain ASGI middleware rather than a route dependency because FastAPI reads and decodes the body
before it runs dependencies: an unauthenticated request should cost a header lookup, not a JSON parse.
Probes (``/healthz``, ``/readyz``) and the docs stay open; everything under ``/v1/`` needs the token.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROTECTED_PREFIX = "/v1/"


class BearerTokenGuard:
    """ASGI middleware: 401 for /v1/ requests without ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        if not token:
            raise ValueError("the token must not be empty")
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX) and not self._authorized(scope):
            body = json.dumps({
                "message": "Authorization: missing or wrong bearer token (send 'Authorization: Bearer <token>')",
                "detail": "missing or wrong bearer token",
            }).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                       (b"www-authenticate", b"Bearer")]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        """Constant-time comparison, so response timing does not reveal how much of a guess was right."""
        value = next((v for k, v in scope.get("headers") or [] if k == b"authorization"), b"")
        scheme, _, credentials = value.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)
