"""Write a finished study to its folder: tidy CSV and JSON, PNG figures and one HTML report.

Files (all written atomically, so a crash never leaves half a file; ``days.jsonl``, the journal a
resumed run reads, is written while the study runs):

* ``results.csv`` / ``results.json`` — one row per variant x policy x seed (JSON adds the design and
  the summary).
* ``summary.csv`` — one row per variant x policy: ``<kpi>_mean``, ``<kpi>_ci_low``, ``<kpi>_ci_high``
  and ``<kpi>_ci95`` (the half-width) for every KPI.
* ``kpi_curves.png`` — service level and cost against fleet size, per policy, with 95% CIs.
* ``lateness.png`` and ``utilization.png`` — per-order lateness and busy share over the day, for the
  reference (middle) variant of the grid.
* ``report.html`` — all of the above in one self-contained page.
"""

from __future__ import annotations

from pathlib import Path

from qmix_logistics.common.atomic_io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from qmix_logistics.common.html_report import Section, write_report
from qmix_logistics.evaluation.render import rows_csv
from qmix_logistics.studies.plots import kpi_curves_png, lateness_png, utilization_png
from qmix_logistics.studies.summary import headline_rows
from qmix_logistics.studies.sweep import SweepResult

_MAX_REPORT_ROWS = 400


def _design_text(result: SweepResult) -> str:
    axes = ", ".join(f"{a.key} = {', '.join(f'{v:g}' for v in a.values)}" for a in result.axes) or "none"
    where = f"{result.executor} executor" + (f", {result.workers} worker(s)" if result.workers else "")
    resumed = f" ({result.resumed} episode(s) resumed from an earlier, stopped run)" if result.resumed else ""
    return (
        f"Scenario {result.scenario!r}; policies: {', '.join(result.policies)}; "
        f"{len(result.variants)} variant(s) x {len(result.policies)} policy(ies) x {len(result.seeds)} seed(s) "
        f"= {len(result.outcomes)} episodes on paired seeds {result.seeds[0]}..{result.seeds[-1]}.\n\n"
        f"Swept: {axes}. Ran on the {where} in {result.wall_s:.1f} s{resumed}.\n\n"
        "Intervals are 95% percentile-bootstrap intervals of the mean over the seeds (half-widths "
        "after ±; none with a single seed). Fleet sizes are scaled across vehicle types in proportion "
        "to the scenario's mix, at least one of each type."
    )


def write_sweep_outputs(result: SweepResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every study file into ``out_dir``; returns the paths by short name."""
    out = Path(out_dir)
    rows, summary = result.rows(), result.summary()
    ref = result.reference_variant()
    ref_outcomes = [o for o in result.outcomes if o.variant.index == ref.index]
    ref_title = f"variant {ref.label}, {len(result.seeds)} seed(s)"
    figures = {
        "kpi_curves": kpi_curves_png(summary, result.axes, result.policies),
        "lateness": lateness_png(ref_outcomes, result.policies, f"Lateness per delivered order · {ref_title}"),
        "utilization": utilization_png(ref_outcomes, result.policies, f"Busy share over the day · {ref_title}"),
    }
    paths = {name: out / f"{name}.png" for name in figures}
    for name, png in figures.items():
        atomic_write_bytes(paths[name], png)
    paths["csv"] = out / "results.csv"
    atomic_write_text(paths["csv"], rows_csv(rows))
    paths["summary_csv"] = out / "summary.csv"
    atomic_write_text(paths["summary_csv"], rows_csv(summary))
    paths["json"] = out / "results.json"
    atomic_write_json(paths["json"], result.to_dict())

    headline = headline_rows(summary, [a.key for a in result.axes])
    shown = rows[:_MAX_REPORT_ROWS]
    more = f" (first {len(shown)} of {len(rows)}; all in results.csv)" if len(rows) > len(shown) else ""
    sections = [
        Section("Study", text=_design_text(result)),
        Section("Summary", tables=[("Mean ± 95% CI per variant and policy", headline)]),
        Section("Service level and cost", figures=[("One line per policy; error bars are 95% CIs.",
                                                    figures["kpi_curves"])]),
        Section("Lateness", figures=[(ref_title, figures["lateness"])]),
        Section("Utilization over the day", figures=[(ref_title, figures["utilization"])]),
        Section("Episodes", tables=[(f"One row per variant, policy and seed{more}", shown)]),
    ]
    paths["report"] = write_report(out / "report.html", f"Planning study: {result.scenario}", sections,
                                   subtitle=f"{len(result.outcomes)} episodes")
    return paths
