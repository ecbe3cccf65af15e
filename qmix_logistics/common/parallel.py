"""Run independent jobs in this process, a local process pool, or on a Ray cluster, with one interface.

Results come back in the order of the inputs whatever order the jobs finish in, so what a caller
computes from them never depends on the executor or the number of workers. Ray is an optional extra,
imported only when asked for.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Literal, Sequence, TypeVar

from threadpoolctl import threadpool_limits

from qmix_logistics.common.errors import QlogError

ExecutorKind = Literal["local", "ray"]
EXECUTORS: tuple[str, ...] = ("local", "ray")
T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """One worker per core this process may run on (``os.cpu_count()`` where affinity is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def single_thread_worker() -> None:
    """Pool initializer: one math thread per worker, so W workers use W cores and not W x cores."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    one_blas_thread()  # numpy's BLAS was loaded before the variables were set
    torch = sys.modules.get("torch")  # already imported by the main module: set its pool directly
    if torch is not None:
        torch.set_num_threads(1)


def one_blas_thread() -> threadpool_limits:
    """Put numpy's BLAS on one thread now; used as a context manager, the previous setting returns on exit.

    Where a process already runs other work on every core (env workers, a learner thread), BLAS threads only
    wait for cores: collecting depot days, whose acting is small matrix products for a few dozen agent rows,
    ran at a third of the speed with numpy's default of one BLAS thread per core while another job held both
    cores of a 2-core machine.
    """
    return threadpool_limits(limits=1, user_api="blas")


def import_ray():
    """The ``ray`` module, or a user error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise QlogError("the ray executor needs Ray: pip install 'qmix-logistics[ray]'", field="--executor") from None
    return ray


def check_executor(executor: str, address: str | None = None) -> None:
    """Fail early on an unknown executor, a stray ``--address`` or a missing Ray install."""
    if executor not in EXECUTORS:
        raise QlogError(f"unknown executor {executor!r} (use one of {', '.join(EXECUTORS)})", field="--executor")
    if executor == "local" and address is not None:
        raise QlogError("--address only applies to --executor ray", field="--address")
    if executor == "ray":
        import_ray()


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes with one math thread each. "spawn" starts clean interpreters:
    forking a parent that runs a thread (a progress bar, a learner) can deadlock."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=single_thread_worker)


def map_local(fn: Callable[[T], R], items: Sequence[T], workers: int,
              on_result: Callable[[int, R], None] | None = None) -> list[R]:
    """``[fn(x) for x in items]`` in a pool of ``workers`` processes (in this process when 1)."""
    if workers < 1:
        raise QlogError("needs at least 1 worker", field="--workers")
    results: dict[int, R] = {}
    if workers == 1 or len(items) <= 1:
        for i, item in enumerate(items):
            results[i] = fn(item)
            if on_result is not None:
                on_result(i, results[i])
        return [results[i] for i in range(len(items))]
    with process_pool(min(workers, len(items))) as pool:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        try:
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                if on_result is not None:
                    on_result(i, results[i])
        except BaseException:  # an error or Ctrl-C: do not wait for the jobs still queued
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [results[i] for i in range(len(items))]


def map_ray(fn: Callable[[T], R], items: Sequence[T], address: str | None = None,
            on_result: Callable[[int, R], None] | None = None) -> list[R]:
    """One Ray task per item, on the cluster at ``address`` or a local Ray instance.

    An already initialised Ray session is reused (and left running); otherwise one is started for
    this call and shut down after it. Cluster nodes need qmix-logistics installed and any files the
    scenario names (GraphML, TNTP, order CSV) at the same paths.
    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise QlogError(f"cannot reach the Ray cluster {address or '(local)'}: {exc}", field="--address") from None
    try:
        remote_fn = ray.remote(num_cpus=1)(fn)
        index = {remote_fn.remote(item): i for i, item in enumerate(items)}
        pending = list(index)
        results: dict[int, R] = {}
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = index[ref]
                results[i] = ray.get(ref)
                if on_result is not None:
                    on_result(i, results[i])
    finally:
        if started_here:
            ray.shutdown()
    return [results[i] for i in range(len(items))]


def parallel_map(fn: Callable[[T], R], items: Sequence[T], *, executor: str = "local", workers: int | None = None,
                 address: str | None = None, on_result: Callable[[int, R], None] | None = None) -> list[R]:
    """``[fn(x) for x in items]`` on the chosen executor; ``fn`` and the items must pickle."""
    check_executor(executor, address)
    if executor == "ray":
        return map_ray(fn, items, address, on_result)
    return map_local(fn, items, workers or default_workers(), on_result)
