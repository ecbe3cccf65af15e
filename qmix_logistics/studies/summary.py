"""Means and 95% confidence intervals per (variant, policy) over a study's paired seeds.

The interval is a Student t-interval on the episode values: with few days per cell (often 3 to 10)
the normal approximation would be too narrow. With one episode there is no spread to estimate, and
the half-width is NaN (``null`` in JSON, blank in tables).
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
from scipy import stats

from qmix_logistics.sim.kpis import KPI_DIRECTIONS
from qmix_logistics.studies.episode import EpisodeOutcome
from qmix_logistics.studies.report import format_cell

# The four numbers a planner reads first; every KPI is still summarised in the JSON.
HEADLINE_KPIS: tuple[str, ...] = ("service_level", "total_cost", "km", "utilization")
CONFIDENCE = 0.95


def t_halfwidth(values: Sequence[float], confidence: float = CONFIDENCE) -> float:
    """Half-width of the two-sided t confidence interval of the mean (NaN below two values)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return math.nan
    sem = float(x.std(ddof=1)) / math.sqrt(len(x))
    return float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1)) * sem


def cell_groups(outcomes: Sequence[EpisodeOutcome]) -> list[list[EpisodeOutcome]]:
    """Outcomes grouped by (variant, policy), in sorted order; each group holds one episode per seed."""
    ordered = sorted(outcomes, key=lambda o: o.sort_key)
    return [list(g) for _, g in itertools.groupby(ordered, key=lambda o: (o.variant.index, o.policy_index))]


def summarize(outcomes: Sequence[EpisodeOutcome]) -> list[dict[str, float | int | str]]:
    """One row per (variant, policy): knobs, policy, episodes, then ``<kpi>_mean`` and ``<kpi>_ci95``."""
    rows = []
    for group in cell_groups(outcomes):
        first = group[0]
        row: dict[str, float | int | str] = {"variant": first.variant.label}
        row.update(first.variant.as_dict())
        row.update({"policy": first.policy, "episodes": len(group)})
        series = {k: [o.kpis[k] for o in group] for k in KPI_DIRECTIONS}
        series["return"] = [o.episode_return for o in group]
        for name, values in series.items():
            row[f"{name}_mean"] = float(np.mean(values))
            row[f"{name}_ci95"] = t_halfwidth(values)
        rows.append(row)
    return rows


def _plus_minus(mean: float, half: float | None) -> str:
    if half is None or math.isnan(half):
        return format_cell(mean)
    return f"{format_cell(mean)} ± {format_cell(half)}"


def headline_rows(summary: Sequence[dict], axis_keys: Sequence[str]) -> list[dict[str, str | float | int]]:
    """Display rows for tables: knobs, policy, episodes and ``mean ± CI`` of the headline KPIs."""
    out = []
    for row in summary:
        shown: dict[str, str | float | int] = {k: f"{row[k]:g}" for k in axis_keys}  # 1.5, not 1.500
        shown.update({"policy": row["policy"], "episodes": row["episodes"]})
        for kpi in HEADLINE_KPIS:
            shown[kpi.replace("_", " ")] = _plus_minus(float(row[f"{kpi}_mean"]), row[f"{kpi}_ci95"])  # type: ignore[arg-type]
        out.append(shown)
    return out
