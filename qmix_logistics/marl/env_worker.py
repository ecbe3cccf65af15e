"""The worker-process side of the EnvRunner: one env behind a pipe.

A spawned worker imports this module, hence ``qmix_logistics.marl`` and torch with it, plus whatever the
env factory needs. Torch makes workers start a few seconds later (two workers on two busy cores: 2 to 6 s
instead of about 1 s for the two-step game), once per training run.
"""

from __future__ import annotations

import contextlib
import signal
import traceback
from multiprocessing.connection import Connection

from qmix_logistics.common.errors import QlogError

from .env_contract import EnvAdapter, EnvFactory


def worker_main(conn: Connection, make_env: EnvFactory, seed: int) -> None:
    """Own one env and answer ("reset", seed) / ("step", actions) / ("close", None) until closed.

    Replies are ("ok", payload) or, once, ("error", details) after which the worker exits.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it then closes us
    adapter: EnvAdapter | None = None
    try:
        adapter = EnvAdapter(make_env(seed), probe_seed=seed)
        conn.send(("ok", adapter.spec))
        while True:
            command, argument = conn.recv()
            if command == "reset":
                conn.send(("ok", adapter.reset(argument)))
            elif command == "step":
                conn.send(("ok", adapter.step(argument)))
            elif command == "close":
                break
            else:
                raise ValueError(f"unknown worker command {command!r}")
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the parent is gone or shutting down
    except BaseException as exc:  # report every env failure to the parent instead of dying silently
        error = {
            "qlog": isinstance(exc, QlogError),
            "message": getattr(exc, "reason", str(exc)),
            "source": getattr(exc, "source", None),
            "field": getattr(exc, "field", None),
            "traceback": traceback.format_exc(),
        }
        with contextlib.suppress(BrokenPipeError, OSError):
            conn.send(("error", error))
    finally:
        if adapter is not None:
            with contextlib.suppress(Exception):  # a failing close must not hide the real error
                adapter.close()
        conn.close()
