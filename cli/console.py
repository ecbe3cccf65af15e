"""Shared terminal output: one console, KPI tables, and progress that suits where stderr goes.

On a terminal, long runs draw a rich progress bar. When stderr is a file or a CI log, a bar draws
nothing useful, so :class:`ProgressReporter` writes one plain line at intervals instead, e.g.
``eval ortools 3/20 days, 41 s, eta 4 min``. Library functions never draw: they call back with
:class:`~qmix_logistics.evaluation.progress.RunProgress` events and the reporter shows them.
"""

from __future__ import annotations

import math
import sys
import time
from types import TracebackType
from typing import Callable, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from qmix_logistics.common.formatting import format_number
from qmix_logistics.evaluation.progress import RunProgress

console = Console()
err_console = Console(stderr=True)

PLAIN_EVERY_S = 30.0
"""A plain progress line at least this often (seconds) while days finish."""
PLAIN_STEPS = 10
"""...and one each time another tenth of the run is done."""


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
        console=err_console, transient=False,
    )


def duration_text(seconds: float) -> str:
    """``41 s``, ``4 min``, ``2.5 h``: rounded for a progress line."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class ProgressReporter:
    """Shows :class:`RunProgress` events: a rich bar on a terminal, plain lines otherwise.

    Use as a context manager and pass the instance itself as the ``on_progress`` callback.
    ``unit`` names what is counted (``days``, ``episodes``). Plain mode prints the first day played,
    then a line each time another tenth of the run is done or ``every_s`` seconds have passed, and
    the last day.
    """

    def __init__(self, description: str, unit: str = "days", *, plain: bool | None = None,
                 stream: TextIO | None = None, every_s: float = PLAIN_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.description = description
        self.unit = unit
        self.plain = (not err_console.is_terminal) if plain is None else plain
        self.stream = stream
        self.every_s = every_s
        self.clock = clock
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._t0 = self._last_line_t = clock()
        self._last_step = -1

    def __enter__(self) -> ProgressReporter:
        self._t0 = self._last_line_t = self.clock()
        if not self.plain:
            self._bar = progress_bar()
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=None, status="starting")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
            self._bar = None

    def __call__(self, event: RunProgress) -> None:
        status = self._status(event)
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, total=event.total, completed=event.done, status=status)
            return
        if not event.started:
            if event.resumed:
                self._line(f"{self.description}: {event.resumed}/{event.total} {self.unit} done earlier, "
                           f"{event.total - event.done} to play")
            return
        now = self.clock()
        step = math.floor(event.done * PLAIN_STEPS / max(event.total, 1))
        if event.done >= event.total or step > self._last_step or now - self._last_line_t >= self.every_s:
            self._last_step, self._last_line_t = step, now
            self._line(self.plain_line(event, now - self._t0))

    def plain_line(self, event: RunProgress, elapsed_s: float) -> str:
        """``eval ortools 3/20 days, 41 s, eta 4 min`` (no eta before the first day played here)."""
        line = f"{self.description} {event.label} {event.done}/{event.total} {self.unit}, {duration_text(elapsed_s)}"
        played = event.done - event.resumed
        if event.done >= event.total:
            return line + ", done"
        if played > 0:
            line += f", eta {duration_text(elapsed_s / played * (event.total - event.done))}"
        return line

    @staticmethod
    def _status(event: RunProgress) -> str:
        if not event.started:
            return f"{event.resumed} resumed" if event.resumed else ""
        cost = "" if event.total_cost is None else f": cost {event.total_cost:.0f}"
        return f"{event.label} seed {event.seed}{cost}"

    def _line(self, text: str) -> None:
        stream = self.stream or sys.stderr
        print(text, file=stream, flush=True)


def print_stopped(folder: object, days_kept: int, unit: str = "day(s)") -> None:
    """The line a stopped run leaves: what it kept and how to continue."""
    err_console.print(f"stopped: {days_kept} {unit} kept in {folder}; run the same command with --resume "
                      f"(or --out-dir {folder}) to continue", highlight=False, soft_wrap=True)


def summary_table(title: str, summary: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title)
    table.add_column("KPI")
    for col in ("mean", "std", "min", "max"):
        table.add_column(col, justify="right")
    for kpi, stats in summary.items():
        table.add_row(kpi, *(format_number(stats[c]) for c in ("mean", "std", "min", "max")))
    return table
