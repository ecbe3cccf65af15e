"""Study figures as PNG bytes: KPI curves over the grid, lateness distributions, utilization over the day.

Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas, never through pyplot,
so nothing depends on a display or on global pyplot state. Each policy keeps one colour in every
figure. Functions return bytes so callers decide where they go (a file, an HTML report).
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from qmix_logistics.studies.episode import EpisodeOutcome
from qmix_logistics.studies.grid import SweepAxis

_DPI = 110
_MAX_PANELS = 4


def policy_color(index: int) -> str:
    """The colour of the index-th policy (matplotlib's default cycle)."""
    return f"C{index % 10}"


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return buf.getvalue()


def _panel_values(values: Sequence[float]) -> list[float]:
    """All demand levels when few, else the lowest, middle and highest."""
    values = list(values)
    if len(values) <= _MAX_PANELS:
        return values
    return [values[0], values[len(values) // 2], values[-1]]


def _error_bars(rows: Sequence[dict], kpi: str) -> np.ndarray:
    """Distances from each mean down to its interval's low end and up to its high end (2 x n);
    0 where the interval is undefined (a single seed)."""
    bars = [[float(r[f"{kpi}_mean"]) - _number(r[f"{kpi}_ci_low"]) for r in rows],
            [_number(r[f"{kpi}_ci_high"]) - float(r[f"{kpi}_mean"]) for r in rows]]
    return np.nan_to_num(np.array(bars, dtype=float).reshape(2, len(rows)))


def _number(value: float | None) -> float:
    return np.nan if value is None else float(value)


def kpi_curves_png(summary: Sequence[dict], axes: Sequence[SweepAxis], policies: Sequence[str]) -> bytes:
    """Service level and total cost against fleet size, one line per policy with 95% interval error bars.

    One column of panels per demand level. Without a fleet axis the x axis is the demand scale, and
    with no axis at all each policy is one bar.
    """
    keys = [a.key for a in axes]
    x_key = "fleet" if "fleet" in keys else ("demand" if "demand" in keys else None)
    panel_key = "demand" if x_key == "fleet" and "demand" in keys else None
    panels: list[float | None] = [None]
    if panel_key is not None:
        panels = list(_panel_values(next(a.values for a in axes if a.key == panel_key)))
    kpis = (("service_level", "service level"), ("total_cost", "total cost"))
    fig = Figure(figsize=(4.2 * len(panels), 6.4))
    grid = fig.subplots(2, len(panels), squeeze=False, sharex=True)
    for col, panel in enumerate(panels):
        rows = [r for r in summary if panel is None or r[panel_key] == panel]
        for row_i, (kpi, label) in enumerate(kpis):
            ax = grid[row_i][col]
            for p, policy in enumerate(policies):
                mine = [r for r in rows if r["policy"] == policy]
                means = [r[f"{kpi}_mean"] for r in mine]
                errs = _error_bars(mine, kpi)
                if x_key is None:
                    ax.bar([p], means, yerr=errs, color=policy_color(p), capsize=4, label=policy)
                else:
                    xs = [r[x_key] for r in mine]
                    ax.errorbar(xs, means, yerr=errs, marker="o", capsize=3, color=policy_color(p), label=policy)
            ax.set_ylabel(label)
            if kpi == "service_level":
                ax.set_ylim(0.0, 1.02)  # a share: wide intervals from few seeds are cut at its bounds
            ax.grid(alpha=0.3)
            if row_i == 0 and panel is not None:
                ax.set_title(f"demand x{panel:g}")
            if row_i == 1:
                if x_key is None:
                    ax.set_xticks(range(len(policies)), list(policies))
                else:
                    ax.set_xlabel("fleet size (vehicles)" if x_key == "fleet" else "demand scale")
    grid[0][0].legend(fontsize="small")
    return figure_png(fig)


def lateness_png(outcomes: Sequence[EpisodeOutcome], policies: Sequence[str], title: str = "") -> bytes:
    """Distribution of per-order lateness (minutes, delivered orders, all seeds pooled) per policy."""
    pooled = [np.concatenate([o.lateness_min for o in outcomes if o.policy == p] or [np.zeros(0)]) for p in policies]
    fig = Figure(figsize=(10, 3.8))
    hist_ax, box_ax = fig.subplots(1, 2)
    top = max([float(x.max()) for x in pooled if len(x)] + [1.0])
    bins = np.linspace(0.0, top, 31)
    for p, (policy, lateness) in enumerate(zip(policies, pooled)):
        if len(lateness):
            hist_ax.hist(lateness, bins=bins, histtype="step", lw=1.6, color=policy_color(p), label=policy)
    hist_ax.set_yscale("log")
    hist_ax.set_xlabel("lateness (min)")
    hist_ax.set_ylabel("delivered orders")
    hist_ax.legend(fontsize="small")
    late_only = [x[x > 0] if len(x[x > 0]) else np.zeros(1) for x in pooled]
    parts = box_ax.boxplot(late_only, patch_artist=True)
    for p, box in enumerate(parts["boxes"]):
        box.set_facecolor(policy_color(p))
        box.set_alpha(0.5)
    box_ax.set_xticks(range(1, len(policies) + 1), list(policies))
    box_ax.set_ylabel("lateness of late orders (min)")
    shares = [f"{policy}: {np.mean(x <= 0) if len(x) else 1.0:.0%} on time" for policy, x in zip(policies, pooled)]
    box_ax.set_title("; ".join(shares), fontsize="small")
    for ax in (hist_ax, box_ax):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return figure_png(fig)


def utilization_png(outcomes: Sequence[EpisodeOutcome], policies: Sequence[str], title: str = "") -> bytes:
    """Busy share of the on-shift fleet per time bin, one line per policy (mean over seeds, min-max band)."""
    fig = Figure(figsize=(8, 3.8))
    ax = fig.subplots()
    for p, policy in enumerate(policies):
        mine = [o for o in outcomes if o.policy == policy]
        if not mine:
            continue
        edges = mine[0].bin_edges_min
        mid = (edges[:-1] + edges[1:]) / 2
        busy = np.stack([o.busy_vehicle_min for o in mine])
        shift = np.stack([o.on_shift_vehicle_min for o in mine])
        with np.errstate(invalid="ignore", divide="ignore"):
            per_seed = np.where(shift > 0, busy / shift, np.nan)
            pooled = np.where(shift.sum(0) > 0, busy.sum(0) / shift.sum(0), np.nan)
        ax.plot(mid, pooled, color=policy_color(p), lw=1.8, label=policy)
        if len(mine) > 1:
            ax.fill_between(mid, np.nanmin(per_seed, 0), np.nanmax(per_seed, 0), color=policy_color(p), alpha=0.15)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time of day (min)")
    ax.set_ylabel("busy share of vehicles")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return figure_png(fig)
