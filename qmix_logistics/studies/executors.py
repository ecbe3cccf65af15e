"""Where study episodes run: this process, a local process pool, or a Ray cluster.

Every executor runs the same :func:`~qmix_logistics.studies.episode.play_task` on the same tasks and
returns the outcomes sorted by (variant, policy, seed), so the results of a seed never depend on the
executor, the number of workers or the order in which episodes finish. Only ``decision_ms_mean`` (a
wall-clock measurement) differs between runs. The pools themselves are :mod:`qmix_logistics.common.parallel`.
"""

from __future__ import annotations

from typing import Callable, Sequence

from qmix_logistics.common.parallel import EXECUTORS, check_executor, default_workers, parallel_map
from qmix_logistics.studies.episode import EpisodeOutcome, EpisodeTask, play_task

OnOutcome = Callable[[EpisodeOutcome], None]

__all__ = ["EXECUTORS", "OnOutcome", "check_executor", "default_workers", "run_tasks"]


def run_tasks(
    tasks: Sequence[EpisodeTask],
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    on_outcome: OnOutcome | None = None,
) -> list[EpisodeOutcome]:
    """Run study tasks on the chosen executor; outcomes come back sorted by (variant, policy, seed)."""
    outcomes = parallel_map(play_task, tasks, executor=executor, workers=workers, address=address,
                            on_result=(lambda _i, o: on_outcome(o)) if on_outcome is not None else None)
    return sorted(outcomes, key=lambda o: o.sort_key)
