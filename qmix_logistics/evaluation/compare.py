"""Compare dispatch policies on identical days: paired seeds, bootstrap intervals, per-seed wins.

Every policy plays the days of seeds ``seed, seed+1, ..., seed+N-1``. The order stream of a day
depends on its seed only, so the comparison is paired: a policy "wins" a day when it beats the
other on that very day. Outputs (behind ``qlog eval``):

* per policy and KPI: the mean and a 95 % percentile-bootstrap interval of the mean (2000
  resamples from a fixed generator, so the same episodes always give the same interval);
* per pair of policies: days won, tied and lost on ``total_cost`` and on ``service_level``;
* timing: wall milliseconds per vehicle decision (mean and p99 over decision steps) and the
  wall seconds of the whole evaluation of each policy, simulator included.

Everything except the ``timing`` block is reproducible for a seed with deterministic policies
(random, greedy, batching, learned). Time-limited planners are not: within the same wall-clock budget the
engines' search goes further on an idle machine than on a busy one.
"""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from qmix_logistics.common.atomic_io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.rollout import EpisodeResult, run_episode
from qmix_logistics.policies import make_policy
from qmix_logistics.policies.base import Policy
from qmix_logistics.policies.rolling_horizon import RollingHorizonPolicy
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.kpis import KPI_DIRECTIONS

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
WIN_METRICS = ("total_cost", "service_level")
TIE_TOLERANCE = 1e-9


def bootstrap_ci(values: np.ndarray | list[float], *, resamples: int = BOOTSTRAP_RESAMPLES,
                 confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, from a fixed generator (reproducible)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), float(x.mean())
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


@dataclass
class EvalReport:
    """The episodes of every policy on the same seeds, and the statistics drawn from them."""

    scenario: str
    seeds: list[int]
    policies: list[str]
    """Labels in the order asked for (a policy's ``name``, made unique with ``#2``, ``#3``...)."""
    specs: dict[str, str]
    """The spec each label was built from (a name, a checkpoint path or a URL)."""
    episodes: dict[str, list[EpisodeResult]]
    wall_s: dict[str, float] = field(default_factory=dict)
    """Wall seconds spent evaluating each policy (all its episodes, simulator included)."""
    planner_time_limit_s: float | None = None

    def values(self, label: str, kpi: str) -> np.ndarray:
        return np.array([e.kpis[kpi] for e in self.episodes[label]], dtype=float)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per policy, per KPI: ``mean``, ``ci_low``, ``ci_high``."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for label in self.policies:
            out[label] = {}
            for kpi in KPI_DIRECTIONS:
                x = self.values(label, kpi)
                lo, hi = bootstrap_ci(x)
                out[label][kpi] = {"mean": float(x.mean()), "ci_low": lo, "ci_high": hi}
        return out

    def wins(self) -> dict[str, dict[str, dict[str, dict[str, int]]]]:
        """``wins[metric][a][b]``: days on which ``a`` beat, tied or lost to ``b`` (paired by seed)."""
        out: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
        for metric in WIN_METRICS:
            sign = 1.0 if KPI_DIRECTIONS[metric] else -1.0
            out[metric] = {}
            for a in self.policies:
                out[metric][a] = {}
                for b in self.policies:
                    if a == b:
                        continue
                    diff = sign * (self.values(a, metric) - self.values(b, metric))
                    ties = int(np.count_nonzero(np.abs(diff) <= TIE_TOLERANCE))
                    wins = int(np.count_nonzero(diff > TIE_TOLERANCE))
                    out[metric][a][b] = {"wins": wins, "ties": ties, "losses": len(diff) - wins - ties}
        return out

    def paired_differences(self) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
        """``diff[metric][a][b]``: mean of ``a - b`` over the paired days and its 95 % bootstrap interval.

        Days are resampled as pairs, so day-to-day variation that both policies share (a busy day is
        costly for everyone) cancels; an interval that excludes 0 is a significant difference.
        """
        out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
        for metric in WIN_METRICS:
            out[metric] = {}
            for a in self.policies:
                out[metric][a] = {}
                for b in self.policies:
                    if a != b:
                        diff = self.values(a, metric) - self.values(b, metric)
                        lo, hi = bootstrap_ci(diff)
                        out[metric][a][b] = {"mean": float(diff.mean()), "ci_low": lo, "ci_high": hi}
        return out

    def timing(self) -> dict[str, dict[str, float]]:
        """Per policy: decision ms per vehicle decision (mean, p99 over steps) and wall seconds."""
        out = {}
        for label in self.policies:
            ms = np.concatenate([np.asarray(e.decision_ms, dtype=float) for e in self.episodes[label]])
            ms = ms if ms.size else np.zeros(1)
            out[label] = {"decision_ms_mean": float(ms.mean()), "decision_ms_p99": float(np.percentile(ms, 99)),
                          "compute_s": float(self.wall_s.get(label, 0.0))}
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; only the ``timing`` block differs between two runs of deterministic policies."""
        return {
            "scenario": self.scenario,
            "seeds": list(self.seeds),
            "policies": list(self.policies),
            "specs": dict(self.specs),
            "planner_time_limit_s": self.planner_time_limit_s,
            "confidence": CONFIDENCE,
            "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
            "summary": self.summary(),
            "wins": self.wins(),
            "paired_differences": self.paired_differences(),
            "episodes": [{"policy": label, "seed": e.seed, "return": e.episode_return, "steps": e.steps,
                          "kpis": e.kpis} for label in self.policies for e in self.episodes[label]],
            "timing": self.timing(),
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows, one per policy and seed: the KPIs, the return and that episode's timing."""
        rows = []
        for label in self.policies:
            for e in self.episodes[label]:
                ms = np.asarray(e.decision_ms, dtype=float) if e.decision_ms else np.zeros(1)
                rows.append({"policy": label, "seed": e.seed, **e.kpis, "return": e.episode_return,
                             "steps": e.steps, "decision_ms_mean": float(ms.mean()),
                             "decision_ms_p99": float(np.percentile(ms, 99))})
        return rows

    def display_rows(self) -> list[dict[str, str]]:
        """The KPIs as text, one row per KPI and one column per policy (``mean ± half-width``), then
        decision milliseconds (mean / p99) and compute seconds."""
        summary, timing = self.summary(), self.timing()
        rows = [{"": kpi, **{p: _plus_minus(summary[p][kpi]) for p in self.policies}} for kpi in KPI_DIRECTIONS]
        rows.append({"": "decision ms mean / p99",
                     **{p: f"{timing[p]['decision_ms_mean']:.2f} / {timing[p]['decision_ms_p99']:.2f}"
                        for p in self.policies}})
        rows.append({"": "compute s", **{p: f"{timing[p]['compute_s']:.1f}" for p in self.policies}})
        return rows

    def pair_rows(self) -> list[dict[str, str]]:
        """The paired comparison as text: one row per pair ``B vs A`` (B listed after A), with days
        won, tied and lost by B (``W-T-L``) and the mean paired difference B − A with its interval."""
        wins, diffs = self.wins(), self.paired_differences()
        rows = []
        for i, a in enumerate(self.policies):
            for b in self.policies[i + 1:]:
                row = {"pair": f"{b} vs {a}"}
                for metric in WIN_METRICS:
                    w, d = wins[metric][b][a], diffs[metric][b][a]
                    digits = 0 if metric == "total_cost" else 3
                    short = {"total_cost": "cost", "service_level": "service"}.get(metric, metric)
                    row[f"{short} W-T-L"] = f"{w['wins']}-{w['ties']}-{w['losses']}"
                    row[f"{short} Δ [95% CI]"] = (f"{d['mean']:+,.{digits}f} "
                                                    f"[{d['ci_low']:+,.{digits}f}, {d['ci_high']:+,.{digits}f}]")
                rows.append(row)
        return rows


def _plus_minus(stats: dict[str, float]) -> str:
    """``mean ± half-width``, with as many decimals as the interval's width justifies (at most 3)."""
    mean, half = stats["mean"], (stats["ci_high"] - stats["ci_low"]) / 2
    decimals = 3 if half <= 0 else int(min(3, max(0, 1 - math.floor(math.log10(half)))))
    if half <= 0 and abs(mean) >= 100:
        decimals = 1
    return f"{mean:,.{decimals}f} ± {half:,.{decimals}f}"


def _unique_label(name: str, taken: list[str]) -> str:
    label, k = name, 2
    while label in taken:
        label, k = f"{name}#{k}", k + 1
    return label


def evaluate(scenario: Scenario, policies: list[str], episodes: int, seed: int | None = None, *,
             on_progress: Callable[[str, EpisodeResult], None] | None = None,
             planner_time_limit_s: float | None = None) -> EvalReport:
    """Play ``episodes`` days per policy on the paired seeds ``seed..seed+episodes-1``.

    ``policies`` are specs for :func:`make_policy` (names, checkpoints, URLs), all built before
    the first episode so that a bad spec fails fast. ``planner_time_limit_s`` overrides the search
    time of the rolling-horizon planners. ``on_progress(label, result)`` is called after every
    episode. ``seed=None`` starts at the scenario's seed.
    """
    if episodes < 1:
        raise QlogError("at least one episode is needed", field="--episodes")
    if not policies:
        raise QlogError("name at least one policy", field="--policies")
    if planner_time_limit_s is not None and planner_time_limit_s <= 0:
        raise QlogError("the planner time limit must be positive", field="--planner-time-limit")
    first = scenario.seed if seed is None else int(seed)
    seeds = [first + i for i in range(episodes)]
    built: list[tuple[str, str, Policy]] = []
    for spec in policies:
        policy = make_policy(spec, scenario)
        if planner_time_limit_s is not None and isinstance(policy, RollingHorizonPolicy):
            policy.config = replace(policy.config, time_limit_s=planner_time_limit_s)
        label = _unique_label(str(getattr(policy, "name", spec)), [b[0] for b in built])
        built.append((label, spec, policy))
    env = DispatchEnv(scenario)
    report = EvalReport(scenario.name, seeds, [b[0] for b in built], {b[0]: b[1] for b in built},
                        {b[0]: [] for b in built}, planner_time_limit_s=planner_time_limit_s)
    try:
        for label, _spec, policy in built:
            started = time.perf_counter()
            for s in seeds:
                result = run_episode(env, policy, s)
                report.episodes[label].append(result)
                if on_progress is not None:
                    on_progress(label, result)
            report.wall_s[label] = time.perf_counter() - started
    finally:
        for _label, _spec, policy in built:
            close = getattr(policy, "close", None)
            if callable(close):
                close()
    return report


# ------------------------------------------------------------------------------------ outputs
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
        err = np.array([[s["mean"] - s["ci_low"] for s in stats], [s["ci_high"] - s["mean"] for s in stats]])
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


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """Rows of dicts as CSV text (columns in first-row order)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _html(report: EvalReport, png: bytes) -> str | None:
    """The self-contained HTML report, or None while the report renderer is not available."""
    try:
        from qmix_logistics.studies.report import Section, render_report
    except ImportError:
        return None
    seeds = f"{report.seeds[0]}..{report.seeds[-1]}" if len(report.seeds) > 1 else str(report.seeds[0])
    text = (f"{len(report.policies)} policies on {len(report.seeds)} paired day(s) of scenario "
            f"{report.scenario!r} (seeds {seeds}); intervals are 95 % percentile bootstraps of the mean, "
            "W-T-L counts the days the first policy of a pair won, tied and lost against the second, "
            "and Δ is their mean paired difference with its 95 % interval.\n\n"
            "The OR-Tools and PyVRP rolling-horizon planners and the greedy rule see the whole state "
            "(centralized); the batching rule and learned policies act on each vehicle's local observation.")
    sections = [
        Section("Comparison", text=text, tables=[report.display_rows(), report.pair_rows()], figures=[("Mean with 95 % interval", png)]),
        Section("Episodes", tables=[report.to_rows()]),
    ]
    return render_report(f"Policy evaluation: {report.scenario}", sections)


def save_report(report: EvalReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``eval.json``, ``eval.csv``, ``eval.png`` and (when available) ``eval.html``."""
    out = Path(out_dir)
    paths = {"json": out / "eval.json", "csv": out / "eval.csv", "png": out / "eval.png"}
    png = chart_png(report)
    atomic_write_json(paths["json"], report.to_dict())
    atomic_write_text(paths["csv"], rows_csv(report.to_rows()))
    atomic_write_bytes(paths["png"], png)
    html = _html(report, png)
    if html is not None:
        paths["html"] = out / "eval.html"
        atomic_write_text(paths["html"], html)
    return paths
