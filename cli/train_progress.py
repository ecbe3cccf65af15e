"""How `qlog train` shows the learner's progress: a live bar on a terminal, plain lines anywhere else.

A bar redrawn in place turns into thousands of carriage-return frames in a log file or a CI console, so
when stderr is not a terminal the view prints one self-contained line every ``interval_s`` seconds or
every ``interval_fraction`` of the step budget, whichever comes first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from qlog_cli.console import duration_text
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from qmix_logistics.common.formatting import format_number
from qmix_logistics.marl import TrainProgress


def eval_summary(progress: TrainProgress) -> str | None:
    """The latest evaluation in a few words: its cost when it has one (dispatch), else its return."""
    for key, label in (("total_cost", "eval cost"), ("return", "eval return")):
        value = progress.last_eval.get(key)
        if value is not None and math.isfinite(value):
            return f"{label} {format_number(value)}"
    return None


def plain_line(progress: TrainProgress) -> str:
    """One log line, e.g. "train 120,000/400,000 env steps (30%), 690 steps/s, eval cost 1,900, eta 6 min"."""
    parts = [
        f"train {progress.env_steps:,}/{progress.total_env_steps:,} env steps ({progress.fraction:.0%})",
        f"{progress.sps:,.0f} steps/s",
    ]
    evaluation = eval_summary(progress)
    if evaluation is not None:
        parts.append(evaluation)
    elif math.isfinite(progress.recent_return):
        parts.append(f"return {format_number(progress.recent_return)}")
    if progress.env_steps < progress.total_env_steps and math.isfinite(progress.eta_s):
        parts.append(f"eta {duration_text(progress.eta_s)}")
    return ", ".join(parts)


class TrainProgressView:
    """The ``on_progress`` callback of `qlog train`; use it as a context manager around training."""

    def __init__(
        self,
        console: Console,
        *,
        interval_s: float = 30.0,
        interval_fraction: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Draw on ``console`` (a bar if it is a terminal); plain lines at most every ``interval_s`` seconds
        or ``interval_fraction`` of the budget otherwise."""
        self.console = console
        self.interval_s, self.interval_fraction, self.clock = interval_s, interval_fraction, clock
        self.live = console.is_terminal
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._printed_at: float | None = None
        self._printed_slot = -1
        self._printed_step = -1

    def __enter__(self) -> TrainProgressView:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, progress: TrainProgress) -> None:
        if self.live:
            self._draw_bar(progress)
        else:
            self._print_line(progress)

    def _draw_bar(self, progress: TrainProgress) -> None:
        if self._bar is None:  # started at the first snapshot, so a resumed run's bar starts where it stands
            self._bar = Progress(  # narrow columns: the whole line fits 80 characters
                TextColumn("[bold]train"), BarColumn(bar_width=20), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"), console=self.console,
            )
            self._bar.start()
            self._task = self._bar.add_task("train", total=progress.total_env_steps,
                                            completed=progress.env_steps, status="")
        if progress.note:
            self._bar.console.print(progress.note, highlight=False)
        status = [f"{progress.sps:,.0f} steps/s"]
        evaluation = eval_summary(progress)
        if evaluation is not None:
            status.append(evaluation)
        elif math.isfinite(progress.recent_return):
            status.append(f"return {format_number(progress.recent_return)}")
        assert self._task is not None
        self._bar.update(self._task, completed=min(progress.env_steps, progress.total_env_steps),
                         status=", ".join(status))

    def _print_line(self, progress: TrainProgress) -> None:
        if progress.note:
            self.console.print(progress.note, highlight=False, soft_wrap=True)
        now = self.clock()
        slot = int(progress.fraction / self.interval_fraction + 1e-9) if self.interval_fraction > 0 else 0
        due = self._printed_at is None or now - self._printed_at >= self.interval_s or slot > self._printed_slot
        if not due or progress.env_steps == self._printed_step:  # the closing snapshot repeats the last step
            return
        self.console.print(plain_line(progress), highlight=False, soft_wrap=True)
        self._printed_at, self._printed_slot, self._printed_step = now, slot, progress.env_steps
