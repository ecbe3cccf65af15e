"""Where study episodes run: this process, a local process pool, or a Ray cluster.

Every executor runs the same :func:`~qmix_logistics.studies.episode.play_task` on the same tasks and
returns the outcomes sorted by (variant, policy, seed), so the results of a seed never depend on the
executor, the number of workers or the order in which episodes finish. Only ``decision_ms_mean`` (a
wall-clock measurement) differs between runs.

Ray is an optional extra, imported only when asked for.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Literal, Sequence

from qmix_logistics.common.errors import QlogError
from qmix_logistics.studies.episode import EpisodeOutcome, EpisodeTask, play_task

ExecutorKind = Literal["local", "ray"]
EXECUTORS: tuple[str, ...] = ("local", "ray")
OnOutcome = Callable[[EpisodeOutcome], None]


def default_workers() -> int:
    """One worker per core this process may run on (``os.cpu_count()`` where affinity is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _single_thread_worker() -> None:
    """Pool initializer: one math thread per worker, so W workers use W cores and not W x cores."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    torch = sys.modules.get("torch")  # already imported by the main module: set its pool directly
    if torch is not None:
        torch.set_num_threads(1)


def run_local(tasks: Sequence[EpisodeTask], workers: int, on_outcome: OnOutcome | None = None) -> list[EpisodeOutcome]:
    """Run the tasks in a pool of ``workers`` processes (in this process when ``workers`` is 1)."""
    if workers < 1:
        raise QlogError("needs at least 1 worker", field="--workers")
    outcomes = []
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            outcomes.append(play_task(task))
            if on_outcome is not None:
                on_outcome(outcomes[-1])
        return sorted(outcomes, key=lambda o: o.sort_key)
    # "spawn" starts clean interpreters: forking a parent that runs a progress-bar thread can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context, initializer=_single_thread_worker) as pool:
        futures = [pool.submit(play_task, task) for task in tasks]
        try:
            for future in as_completed(futures):
                outcomes.append(future.result())
                if on_outcome is not None:
                    on_outcome(outcomes[-1])
        except BaseException:  # an error or Ctrl-C: do not wait for the episodes still queued
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return sorted(outcomes, key=lambda o: o.sort_key)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise QlogError("the ray executor needs Ray: pip install 'qmix-logistics[ray]'", field="--executor") from None
    return ray


def run_ray(tasks: Sequence[EpisodeTask], address: str | None = None,
            on_outcome: OnOutcome | None = None) -> list[EpisodeOutcome]:
    """Run one Ray task per episode, on the cluster at ``address`` or a local Ray instance.

    An already initialised Ray session is reused (and left running); otherwise one is started for
    this call and shut down after it. Cluster nodes need qmix-logistics installed and any files the
    scenario names (GraphML, TNTP, order CSV) at the same paths.
    """
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise QlogError(f"cannot reach the Ray cluster {address or '(local)'}: {exc}", field="--address") from None
    try:
        remote_play = ray.remote(num_cpus=1)(play_task)
        pending = [remote_play.remote(task) for task in tasks]
        outcomes: list[EpisodeOutcome] = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                outcomes.append(ray.get(ref))
                if on_outcome is not None:
                    on_outcome(outcomes[-1])
    finally:
        if started_here:
            ray.shutdown()
    return sorted(outcomes, key=lambda o: o.sort_key)


def check_executor(executor: str, address: str | None = None) -> None:
    """Fail early on an unknown executor, a stray ``--address`` or a missing Ray install."""
    if executor not in EXECUTORS:
        raise QlogError(f"unknown executor {executor!r} (use one of {', '.join(EXECUTORS)})", field="--executor")
    if executor == "local" and address is not None:
        raise QlogError("--address only applies to --executor ray", field="--address")
    if executor == "ray":
        _import_ray()


def run_tasks(
    tasks: Sequence[EpisodeTask],
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    on_outcome: OnOutcome | None = None,
) -> list[EpisodeOutcome]:
    """Run study tasks on the chosen executor; outcomes come back sorted by (variant, policy, seed)."""
    check_executor(executor, address)
    if executor == "ray":
        return run_ray(tasks, address, on_outcome)
    return run_local(tasks, workers or default_workers(), on_outcome)
