"""An evaluation as people read it: text table rows, a PNG chart, CSV, one HTML page, and the files.

Everything here only reads an :class:`~qmix_logistics.evaluation.compare.EvalReport`; the statistics
are the ones the report computed once. ``save_report`` writes every file atomically.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from qmix_logistics.common.atomic_io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from qmix_logistics.common.formatting import (
    interval_decimals,
    plus_minus,
    signed_interval,
)
from qmix_logistics.common.html_report import Section, render_report
from qmix_logistics.evaluation.compare import WIN_METRICS, EvalReport
from qmix_logistics.sim.kpis import KPI_DIRECTIONS

_SHORT = {"total_cost": "cost", "service_level": "service"}
_DIFF_DECIMALS = {"total_cost": 0, "service_level": 3}


def display_rows(report: EvalReport) -> list[dict[str, str]]:
    """The KPIs as text, one row per KPI and one column per policy (``mean ± half-width``), then
    decision milliseconds (mean / p99) and compute seconds."""
    summary, timing = report.summary(), report.timing()
    rows = []
    for kpi in KPI_DIRECTIONS:
        row = {"": kpi}
        for p in report.policies:
            s = summary[p][kpi]
            row[p] = plus_minus(s["mean"], (s["ci_high"] - s["ci_low"]) / 2)
        rows.append(row)
    rows.append({"": "decision ms mean / p99",
                 **{p: f"{timing[p]['decision_ms_mean']:.2f} / {timing[p]['decision_ms_p99']:.2f}"
                    for p in report.policies}})
    rows.append({"": "compute s", **{p: f"{timing[p]['compute_s']:.1f}" for p in report.policies}})
    return rows


def pair_rows(report: EvalReport) -> list[dict[str, str]]:
    """The paired comparison as text: one row per pair ``B vs A`` (B listed after A), with days
    won, tied and lost by B (``W-T-L``) and the mean paired difference B − A with its interval."""
    wins, diffs = report.wins(), report.paired_differences()
    rows = []
    for i, a in enumerate(report.policies):
        for b in report.policies[i + 1:]:
            row = {"pair": f"{b} vs {a}"}
            for metric in WIN_METRICS:
                w, d = wins[metric][b][a], diffs[metric][b][a]
                short = _SHORT.get(metric, metric)
                row[f"{short} W-T-L"] = f"{w['wins']}-{w['ties']}-{w['losses']}"
                digits = _DIFF_DECIMALS.get(metric, interval_decimals((d["ci_high"] - d["ci_low"]) / 2))
                row[f"{short} Δ [95% CI]"] = signed_interval(d["mean"], d["ci_low"], d["ci_high"], digits)
            rows.append(row)
    return rows


def chart_png(report: EvalReport) -> bytes:
    """Bar charts of mean total cost and service level per policy, with their 95 % intervals."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    summary = report.summary()
    fig = Figure(figsize=(4.0 + 1.2 * len(report.policies), 3.8), dpi=110)
    FigureCanvasAgg(fig)
    x = np.arange(len(report.policies))
    for i, (kpi, title) in enumerate((("total_cost", "total cost (lower is better)"),
                                      ("service_level", "service level (higher is better)"))):
        ax = fig.add_subplot(1, 2, i + 1)
        stats = [summary[p][kpi] for p in report.policies]
        means = np.array([s["mean"] for s in stats])
        err = np.nan_to_num(np.array([[s["mean"] - s["ci_low"] for s in stats],
                                      [s["ci_high"] - s["mean"] for s in stats]]))  # one day: no bars
        ax.bar(x, means, yerr=err, capsize=4, color=[f"C{k}" for k in range(len(x))])
        ax.set_xticks(x, report.policies, rotation=20, ha="right")
        ax.set_title(title, fontsize=10)
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{report.scenario}: {len(report.seeds)} paired day(s), 95 % bootstrap intervals", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def rows_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows of dicts as CSV text; columns in first-seen order, full float precision."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def report_html(report: EvalReport, png: bytes) -> str:
    """The self-contained HTML page: the comparison tables, the chart and every episode."""
    seeds = f"{report.seeds[0]}..{report.seeds[-1]}" if len(report.seeds) > 1 else str(report.seeds[0])
    text = (f"{len(report.policies)} policies on {len(report.seeds)} paired day(s) of scenario "
            f"{report.scenario!r} (seeds {seeds}); intervals are 95 % percentile bootstraps of the mean, "
            "W-T-L counts the days the first policy of a pair won, tied and lost against the second, "
            "and Δ is their mean paired difference with its 95 % interval.\n\n"
            "The OR-Tools and PyVRP rolling-horizon planners and the greedy rule see the whole state "
            "(centralized); the batching rule and learned policies act on each vehicle's local observation.")
    if report.resumed_days:
        text += f"\n\n{report.resumed_days} day(s) were played by an earlier run that was stopped and resumed."
    if report.bounds:
        text += (f"\n\n{', '.join(report.bounds)}: a bound, not a dispatcher: one plan of the whole day made "
                 "knowing every order in advance, carried out in the simulator.")
    sections = [
        Section("Comparison", text=text, tables=[display_rows(report), pair_rows(report)],
                figures=[("Mean with 95 % interval", png)]),
        Section("Episodes", tables=[report.to_rows()]),
    ]
    return render_report(f"Policy evaluation: {report.scenario}", sections)


def save_report(report: EvalReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``eval.json``, ``eval.csv``, ``eval.png`` and ``eval.html`` into ``out_dir``."""
    out = Path(out_dir)
    paths = {"json": out / "eval.json", "csv": out / "eval.csv", "png": out / "eval.png", "html": out / "eval.html"}
    png = chart_png(report)
    atomic_write_json(paths["json"], report.to_dict())
    atomic_write_text(paths["csv"], rows_csv(report.to_rows()))
    atomic_write_bytes(paths["png"], png)
    atomic_write_text(paths["html"], report_html(report, png))
    return paths
