"""The worker-process side of the EnvRunner: a few envs behind one pipe.

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
from qmix_logistics.common.parallel import one_blas_thread

from .env_contract import EnvAdapter, EnvFactory


def worker_main(conn: Connection, make_env: EnvFactory, seeds: list[int]) -> None:
    """Own one env per seed (env j made with ``make_env(seeds[j])``) and answer ("reset", {j: seed}) /
    ("step", {j: actions}) with {j: StepArrays}, stepping the named envs one after the other, until
    ("close", None).

    Replies are ("ok", payload) or, once, ("error", details) after which the worker exits.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it then closes us
    one_blas_thread()  # for the worker's whole life: its cores are shared with the other workers
    adapters: list[EnvAdapter] = []
    try:
        for seed in seeds:
            adapters.append(EnvAdapter(make_env(seed), probe_seed=seed))
        conn.send(("ok", [adapter.spec for adapter in adapters]))
        while True:
            command, arguments = conn.recv()
            if command in ("reset", "step"):
                conn.send(("ok", {j: getattr(adapters[j], command)(arg) for j, arg in arguments.items()}))
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
        for adapter in adapters:
            with contextlib.suppress(Exception):  # a failing close must not hide the real error
                adapter.close()
        conn.close()
