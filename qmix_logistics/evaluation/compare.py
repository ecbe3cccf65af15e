"""Compare dispatch policies on identical days: paired seeds, bootstrap intervals, per-seed wins.

Every policy plays the days of seeds ``seed, seed+1, ..., seed+N-1``. The order stream of a day
depends on its seed only, so the comparison is paired: a policy "wins" a day when it beats the
other on that very day. What :class:`EvalReport` holds (behind ``qlog eval``):

* per policy and KPI: the mean and a 95 % percentile-bootstrap interval of the mean
  (:func:`qmix_logistics.common.stats.mean_interval`, fixed generator, so the same episodes always
  give the same interval);
* per pair of policies: days won, tied and lost on ``total_cost`` and on ``service_level``, and the
  mean paired difference with its paired-bootstrap interval;
* timing: wall milliseconds per vehicle decision (mean and p99 over decision steps) and the wall
  seconds each policy's days took, simulator included.

The statistics are computed once per report, the first time one is asked for. Everything except the
``timing`` block is reproducible for a seed with deterministic policies (random, greedy, batching,
learned). Time-limited planners are not: within the same wall-clock budget the engines' search goes
further on an idle machine than on a busy one. Tables, charts and files are drawn by
:mod:`qmix_logistics.evaluation.render`.

With a :class:`~qmix_logistics.evaluation.journal.DayJournal`, every finished day is written to disk
as it ends, and the days a stopped run already finished are taken from it instead of played again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.common.parallel import check_executor, parallel_map
from qmix_logistics.common.stats import (
    CONFIDENCE,
    RESAMPLES,
    mean_interval,
    without_nan,
)
from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.journal import DayJournal
from qmix_logistics.evaluation.progress import OnProgress, RunProgress
from qmix_logistics.evaluation.rollout import EpisodeResult, run_episode
from qmix_logistics.policies import make_policy
from qmix_logistics.policies.base import Policy
from qmix_logistics.policies.rolling_horizon import RollingHorizonPolicy, check_search_budget
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.kpis import KPI_DIRECTIONS

WIN_METRICS = ("total_cost", "service_level")
TIE_TOLERANCE = 1e-9

Nested = dict[str, dict[str, dict[str, dict[str, Any]]]]


@dataclass
class EvalReport:
    """The episodes of every policy on the same seeds, and the statistics drawn from them.

    Build it complete (as :func:`evaluate` does): the statistics are computed on first use and kept.
    """

    scenario: str
    seeds: list[int]
    policies: list[str]
    """Labels in the order asked for (a policy's ``name``, made unique with ``#2``, ``#3``...)."""
    specs: dict[str, str]
    """The spec each label was built from (a name, a checkpoint path or a URL)."""
    episodes: dict[str, list[EpisodeResult]]
    wall_s: dict[str, float] = field(default_factory=dict)
    """Wall seconds spent playing each policy's days (simulator included, earlier sessions too)."""
    planner_time_limit_s: float | None = None
    planner_budget: str = "time"
    """What ended the planners' searches: ``time`` (the clock) or ``work`` (reproducible anywhere)."""
    resumed_days: int = 0
    """Days taken from the journal of an earlier, interrupted run rather than played by this one."""
    bounds: list[str] = field(default_factory=list)
    """Labels of full-information bounds (a policy's ``is_bound``): reference rows, not dispatchers."""

    def values(self, label: str, kpi: str) -> np.ndarray:
        return np.array([e.kpis[kpi] for e in self.episodes[label]], dtype=float)

    @cached_property
    def _statistics(self) -> dict[str, Any]:
        summary = {label: {kpi: mean_interval(self.values(label, kpi)).as_dict() for kpi in KPI_DIRECTIONS}
                   for label in self.policies}
        wins: Nested = {}
        diffs: Nested = {}
        for metric in WIN_METRICS:
            sign = 1.0 if KPI_DIRECTIONS[metric] else -1.0
            wins[metric], diffs[metric] = {}, {}
            for a in self.policies:
                wins[metric][a], diffs[metric][a] = {}, {}
                for b in self.policies:
                    if a == b:
                        continue
                    va, vb = self.values(a, metric), self.values(b, metric)
                    better = sign * (va - vb)
                    ties = int(np.count_nonzero(np.abs(better) <= TIE_TOLERANCE))
                    won = int(np.count_nonzero(better > TIE_TOLERANCE))
                    wins[metric][a][b] = {"wins": won, "ties": ties, "losses": len(better) - won - ties}
                    diffs[metric][a][b] = mean_interval(va, paired_with=vb).as_dict()
        timing = {}
        for label in self.policies:
            ms = np.concatenate([np.asarray(e.decision_ms, dtype=float) for e in self.episodes[label]] or [[]])
            ms = ms if ms.size else np.zeros(1)
            timing[label] = {"decision_ms_mean": float(ms.mean()), "decision_ms_p99": float(np.percentile(ms, 99)),
                             "compute_s": float(self.wall_s.get(label, 0.0))}
        return {"summary": summary, "wins": wins, "paired_differences": diffs, "timing": timing}

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per policy, per KPI: ``mean``, ``ci_low``, ``ci_high`` (NaN ends with a single day)."""
        return self._statistics["summary"]

    def wins(self) -> Nested:
        """``wins[metric][a][b]``: days on which ``a`` beat, tied or lost to ``b`` (paired by seed)."""
        return self._statistics["wins"]

    def paired_differences(self) -> Nested:
        """``diff[metric][a][b]``: mean of ``a - b`` over the paired days and its 95 % bootstrap interval.

        Days are resampled as pairs, so day-to-day variation that both policies share (a busy day is
        costly for everyone) cancels; an interval that excludes 0 is a significant difference.
        """
        return self._statistics["paired_differences"]

    def timing(self) -> dict[str, dict[str, float]]:
        """Per policy: decision ms per vehicle decision (mean, p99 over steps) and wall seconds."""
        return self._statistics["timing"]

    def planner_stats(self) -> dict[str, dict[str, float]]:
        """Per planner row, summed over its days: re-plans, engine retries (the search restarted from the
        onboard-only plan), failures (no plan at all; the previous one was kept), infeasible plans followed
        anyway, and solve seconds; ``fallback_share`` = (retries + failures) / re-plans."""
        out: dict[str, dict[str, float]] = {}
        for label in self.policies:
            days = [e.planner for e in self.episodes[label] if e.planner is not None]
            if not days:
                continue
            total = {k: float(sum(d.get(k, 0.0) for d in days)) for k in days[0]}
            plans = max(total.get("plans", 0.0), 1.0)
            total["fallback_share"] = (total.get("retries", 0.0) + total.get("failures", 0.0)) / plans
            out[label] = total
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (undefined intervals are null); only ``timing`` differs between two runs of
        deterministic policies."""
        return without_nan({
            "scenario": self.scenario,
            "seeds": list(self.seeds),
            "policies": list(self.policies),
            "specs": dict(self.specs),
            "planner_time_limit_s": self.planner_time_limit_s,
            "planner_budget": self.planner_budget,
            "bounds": list(self.bounds),
            "confidence": CONFIDENCE,
            "interval": "percentile bootstrap of the mean",
            "bootstrap_resamples": RESAMPLES,
            "summary": self.summary(),
            "wins": self.wins(),
            "paired_differences": self.paired_differences(),
            "episodes": [{"policy": label, "seed": e.seed, "return": e.episode_return, "steps": e.steps,
                          "kpis": e.kpis} for label in self.policies for e in self.episodes[label]],
            "timing": self.timing(),
            "planners": self.planner_stats(),
        })

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


def _unique_label(name: str, taken: list[str]) -> str:
    label, k = name, 2
    while label in taken:
        label, k = f"{name}#{k}", k + 1
    return label


@dataclass(frozen=True)
class PlannerOverrides:
    """What an evaluation changes in the rolling-horizon planners' search (their defaults when unset)."""

    time_limit_s: float | None = None
    """Search seconds per re-plan; None keeps the planner's budget, scaled with each snapshot."""
    budget: str = "time"
    """``time``: the clock ends each search; ``work``: a fixed amount of search, reproducible anywhere."""

    def check(self) -> None:
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise QlogError("the planner time limit must be positive", field="--planner-time-limit")
        check_search_budget(self.budget, field_name="--planner-budget")

    def policy(self, spec: str, scenario: Scenario) -> Policy:
        """The policy of ``spec``; a rolling-horizon planner gets these settings."""
        policy = make_policy(spec, scenario)
        if isinstance(policy, RollingHorizonPolicy):
            changes: dict[str, Any] = {"search_budget": self.budget}
            if self.time_limit_s is not None:
                changes["time_limit_s"] = self.time_limit_s
            policy.config = replace(policy.config, **changes)
        return policy


def eval_settings(scenario_fingerprint: dict[str, str], policies: list[str], seeds: list[int],
                  planner: PlannerOverrides) -> dict[str, Any]:
    """What decides an evaluation's results, keyed by the flag that sets it (a journal's header)."""
    settings = {"SCENARIO": scenario_fingerprint, "--policies": list(policies), "--seed": seeds[0],
                "--episodes": len(seeds), "--planner-time-limit": planner.time_limit_s}
    if planner.budget != "time":  # journals written before the flag existed keep matching
        settings["--planner-budget"] = planner.budget
    return settings


def _day_row(label: str, result: EpisodeResult, wall_s: float) -> dict[str, Any]:
    return {"policy": label, "name": result.policy, "seed": result.seed, "kpis": result.kpis,
            "return": result.episode_return, "steps": result.steps, "decision_ms": result.decision_ms,
            "wall_s": wall_s, "planner": result.planner}


def _from_row(row: dict[str, Any]) -> EpisodeResult:
    return EpisodeResult(row["name"], int(row["seed"]), dict(row["kpis"]), float(row["return"]),
                         int(row["steps"]), [float(v) for v in row["decision_ms"]], row.get("planner"))


def check_eval_args(policies: list[str], episodes: int, planner: PlannerOverrides) -> None:
    """The user errors of an evaluation's arguments, raised before anything is built."""
    if episodes < 1:
        raise QlogError("at least one episode is needed", field="--episodes")
    if not policies:
        raise QlogError("name at least one policy", field="--policies")
    planner.check()


def evaluate(scenario: Scenario, policies: list[str], episodes: int, seed: int | None = None, *,
             on_progress: OnProgress | None = None, planner_time_limit_s: float | None = None,
             planner_budget: str = "time", journal: DayJournal | None = None, executor: str = "local",
             workers: int | None = 1, address: str | None = None) -> EvalReport:
    """Play ``episodes`` days per policy on the paired seeds ``seed..seed+episodes-1``.

    ``policies`` are specs for :func:`make_policy` (names, checkpoints, URLs), all built before
    the first episode so that a bad spec fails fast. ``planner_time_limit_s`` overrides the search
    time of the rolling-horizon planners, ``planner_budget="work"`` makes their searches end after a
    fixed amount of work instead of at the clock (:class:`RollingHorizonConfig`). ``on_progress``
    gets one event before the first day and one after every day played. ``seed=None`` starts at the
    scenario's seed. With ``journal``, the days it holds are reused and every newly finished day is
    appended to it.

    Days run in this process with ``workers=1`` (the default), else as independent jobs on
    ``executor``: a local pool of ``workers`` processes (None: one per core) or Ray (``address``: a
    cluster, else a local instance). Each job builds its policy from the spec again, so the results of
    deterministic policies (the planners with ``planner_budget="work"``) are the same wherever the days ran.
    """
    planner = PlannerOverrides(planner_time_limit_s, planner_budget)
    check_eval_args(policies, episodes, planner)
    check_executor(executor, address)
    first = scenario.seed if seed is None else int(seed)
    seeds = [first + i for i in range(episodes)]
    built: list[tuple[str, str, Policy]] = []
    try:
        for spec in policies:
            policy = planner.policy(spec, scenario)
            label = _unique_label(str(getattr(policy, "name", spec)), [b[0] for b in built])
            built.append((label, spec, policy))
        jobs = None if executor == "local" and workers == 1 else _Jobs(executor, workers, address)
        return _play(scenario, built, seeds, on_progress, planner, journal, jobs)
    finally:
        for _label, _spec, policy in built:
            _close(policy)


@dataclass(frozen=True)
class _Jobs:
    """Where the days of a parallel evaluation run."""

    executor: str
    workers: int | None
    address: str | None


@dataclass(frozen=True)
class _Day:
    """One day of one policy, as a job for another process."""

    scenario: Scenario
    spec: str
    seed: int
    planner: PlannerOverrides


def _close(policy: Policy) -> None:
    close = getattr(policy, "close", None)
    if callable(close):
        close()


def _timed_day(env: DispatchEnv, policy: Policy, seed: int) -> tuple[EpisodeResult, float]:
    """Play the day of ``seed``: (result, wall seconds of the day, simulator included)."""
    started = time.perf_counter()
    result = run_episode(env, policy, seed)
    return result, time.perf_counter() - started


def _play_day(day: _Day) -> tuple[EpisodeResult, float]:
    """A job for another process: build the policy, play the day, close the policy."""
    policy = day.planner.policy(day.spec, day.scenario)
    try:
        return _timed_day(DispatchEnv(day.scenario), policy, day.seed)
    finally:
        _close(policy)


def _play(scenario: Scenario, built: list[tuple[str, str, Policy]], seeds: list[int],
          on_progress: OnProgress | None, planner: PlannerOverrides,
          journal: DayJournal | None, jobs: _Jobs | None = None) -> EvalReport:
    labels = [b[0] for b in built]
    finished = {(r["policy"], int(r["seed"])): r for r in (journal.rows if journal else [])}
    finished = {key: row for key, row in finished.items() if key[0] in labels and key[1] in seeds}
    total, done = len(built) * len(seeds), len(finished)
    report = EvalReport(scenario.name, seeds, labels, {b[0]: b[1] for b in built}, {label: [] for label in labels},
                        {label: 0.0 for label in labels}, planner.time_limit_s, planner.budget, resumed_days=done,
                        bounds=[b[0] for b in built if getattr(b[2], "is_bound", False)])
    if on_progress is not None:
        on_progress(RunProgress(done, total, resumed=report.resumed_days))
    played: dict[tuple[str, int], tuple[EpisodeResult, float]] = {
        key: (_from_row(row), float(row["wall_s"])) for key, row in finished.items()}
    missing = [(label, spec, policy, s) for label, spec, policy in built for s in seeds if (label, s) not in finished]

    def record(label: str, result: EpisodeResult, wall_s: float) -> None:
        nonlocal done
        played[(label, result.seed)] = (result, wall_s)
        if journal is not None:
            journal.append(_day_row(label, result, wall_s))
        done += 1
        if on_progress is not None:
            on_progress(RunProgress(done, total, report.resumed_days, label, result.seed,
                                    float(result.kpis["total_cost"])))

    if jobs is None:
        env = DispatchEnv(scenario)
        for label, _spec, policy, s in missing:
            record(label, *_timed_day(env, policy, s))
    else:
        days = [_Day(scenario, spec, s, planner) for _label, spec, _policy, s in missing]
        parallel_map(_play_day, days, executor=jobs.executor, workers=jobs.workers, address=jobs.address,
                     on_result=lambda i, answer: record(missing[i][0], *answer))
    for label in labels:
        for s in seeds:
            result, wall_s = played[(label, s)]
            report.episodes[label].append(result)
            report.wall_s[label] += wall_s
    return report
