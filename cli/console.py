"""Shared terminal output: one console, KPI tables and progress bars in one style."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
        console=err_console, transient=False,
    )


def fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def summary_table(title: str, summary: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title)
    table.add_column("KPI")
    for col in ("mean", "std", "min", "max"):
        table.add_column(col, justify="right")
    for kpi, stats in summary.items():
        table.add_row(kpi, *(fmt(stats[c]) for c in ("mean", "std", "min", "max")))
    return table
