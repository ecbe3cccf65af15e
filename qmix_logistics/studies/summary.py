"""Means and 95% confidence intervals per (variant, policy) over a study's paired seeds.

The interval is the project's one interval of a mean (:func:`qmix_logistics.common.stats.mean_interval`):
a percentile bootstrap with a fixed generator, the same as ``qlog eval`` reports. For each series
the summary keeps the mean, the two ends of the interval and its half-width (``_ci95``, the number
after ``±`` in tables). With one episode there is no spread to estimate: the interval and its
half-width are NaN (``null`` in JSON, blank in tables).
"""

from __future__ import annotations

import itertools
from typing import Sequence

from qmix_logistics.common.formatting import plus_minus
from qmix_logistics.common.stats import mean_interval
from qmix_logistics.sim.kpis import KPI_DIRECTIONS
from qmix_logistics.studies.episode import EpisodeOutcome

# The four numbers a planner reads first; every KPI is still summarised in the JSON.
HEADLINE_KPIS: tuple[str, ...] = ("service_level", "total_cost", "km", "utilization")


def cell_groups(outcomes: Sequence[EpisodeOutcome]) -> list[list[EpisodeOutcome]]:
    """Outcomes grouped by (variant, policy), in sorted order; each group holds one episode per seed."""
    ordered = sorted(outcomes, key=lambda o: o.sort_key)
    return [list(g) for _, g in itertools.groupby(ordered, key=lambda o: (o.variant.index, o.policy_index))]


def summarize(outcomes: Sequence[EpisodeOutcome]) -> list[dict[str, float | int | str]]:
    """One row per (variant, policy): knobs, policy, episodes, then per KPI and the return
    ``<name>_mean``, ``<name>_ci_low``, ``<name>_ci_high`` and ``<name>_ci95`` (the half-width)."""
    rows = []
    for group in cell_groups(outcomes):
        first = group[0]
        row: dict[str, float | int | str] = {"variant": first.variant.label}
        row.update(first.variant.as_dict())
        row.update({"policy": first.policy, "episodes": len(group)})
        series = {k: [o.kpis[k] for o in group] for k in KPI_DIRECTIONS}
        series["return"] = [o.episode_return for o in group]
        for name, values in series.items():
            interval = mean_interval(values)
            row[f"{name}_mean"] = interval.mean
            row[f"{name}_ci_low"] = interval.low
            row[f"{name}_ci_high"] = interval.high
            row[f"{name}_ci95"] = interval.half_width
        rows.append(row)
    return rows


def headline_rows(summary: Sequence[dict], axis_keys: Sequence[str]) -> list[dict[str, str | float | int]]:
    """Display rows for tables: knobs, policy, episodes and ``mean ± CI`` of the headline KPIs."""
    out = []
    for row in summary:
        shown: dict[str, str | float | int] = {k: f"{row[k]:g}" for k in axis_keys}  # 1.5, not 1.500
        shown.update({"policy": row["policy"], "episodes": row["episodes"]})
        for kpi in HEADLINE_KPIS:
            shown[kpi.replace("_", " ")] = plus_minus(float(row[f"{kpi}_mean"]), row[f"{kpi}_ci95"])  # type: ignore[arg-type]
        out.append(shown)
    return out
