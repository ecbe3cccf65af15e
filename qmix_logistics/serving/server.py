"""Running the policy server: with uvicorn in the foreground (``qlog serve``) or in a background thread.

The default host is 127.0.0.1: a policy server answers anyone who can reach it, so exposing it beyond this
machine is an explicit choice (``allow_remote``), ideally together with a token and a TLS proxy in front.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

from qmix_logistics.common.errors import QlogError
from qmix_logistics.scenario import Scenario

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback bind address unless ``allow_remote`` says the exposure is intended."""
    if not is_loopback(host) and not allow_remote:
        raise QlogError(
            f"{host!r} is reachable from other machines; pass --allow-remote to serve there anyway "
            "(and set a token)",
            field="--host",
        )


def serve(
    checkpoint: str | Path,
    *,
    host: str = LOOPBACK,
    port: int = 8000,
    token: str | None = None,
    max_body_bytes: int | None = None,
    allow_remote: bool = False,
    torch_threads: int = 1,
    on_loaded: Callable[[str], None] | None = None,
    scenario: Scenario | None = None,
) -> None:
    """Load the checkpoint and serve it with uvicorn until interrupted (blocks).

    ``on_loaded(url)`` is called once the policy is loaded, just before the server starts listening.
    With a ``scenario``, a checkpoint trained for another fleet, observation or layout is refused first.

    ``torch_threads``: one decision is a tiny forward pass that extra threads only slow down, and on a
    shared machine idle worker threads would compete with the event loop.
    """
    import torch
    import uvicorn

    from .api import DEFAULT_MAX_BODY_BYTES, create_app

    check_host(host, allow_remote=allow_remote)
    app = create_app(checkpoint, token=token, max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES,
                     scenario=scenario)
    torch.set_num_threads(torch_threads)
    if on_loaded is not None:
        on_loaded(f"http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago on ``host`` (for tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, *, timeout_s: float = 30.0) -> None:
    """Poll ``GET url/readyz`` until it answers 200; raise TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"{url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise TimeoutError(f"{url} was not ready within {timeout_s:.0f} s")


class BackgroundServer:
    """A real uvicorn server for an ASGI app on 127.0.0.1, in a daemon thread; a context manager.

    ``with BackgroundServer(app) as url: httpx.get(f"{url}/healthz")``
    """

    def __init__(self, app: object, *, host: str = LOOPBACK, port: int | None = None) -> None:
        import uvicorn

        check_host(host, allow_remote=False)
        self.host, self.port = host, port or free_port(host)
        config = uvicorn.Config(app, host=self.host, port=self.port, log_level="warning", access_log=False,
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"uvicorn:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> str:
        self._thread.start()
        try:
            wait_ready(self.url)
        except BaseException:
            self.stop()
            raise
        return self.url

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to finish and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
