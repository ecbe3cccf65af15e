"""Planning studies: every what-if variant x every policy, played on the same (paired) seeds.

Pairing matters: a variant with more vans and the one with fewer see the same days of orders (for the
same demand scale), and every policy faces the same days, so differences between cells come from the
knob or the policy and not from luckier demand. Behind ``qlog simulate --sweep`` and multi-policy runs.

Example::

    result = run_sweep(scenario, ["greedy", "random"], sweeps=["fleet=4:8:2"], episodes=3)
    result.rows()      # one dict per variant x policy x seed
    result.summary()   # one dict per variant x policy with means and 95% CI half-widths

``plan_sweep`` + ``run_plan`` split the same call in two, so a caller can check the design (and show
the number of episodes) before any work starts. Given a
:class:`~qmix_logistics.evaluation.journal.DayJournal`, ``run_plan`` writes every finished episode to
it as it ends and skips the episodes an earlier, stopped run of the same study already finished.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from qmix_logistics.common.errors import QlogError
from qmix_logistics.common.stats import without_nan
from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.journal import DayJournal, scenario_fingerprint
from qmix_logistics.evaluation.progress import OnProgress, RunProgress
from qmix_logistics.evaluation.simulate import episode_seeds
from qmix_logistics.policies import make_policy
from qmix_logistics.scenario import Scenario
from qmix_logistics.studies.episode import DEFAULT_BIN_MIN, EpisodeOutcome, EpisodeTask
from qmix_logistics.studies.executors import (
    OnOutcome,
    check_executor,
    default_workers,
    run_tasks,
)
from qmix_logistics.studies.grid import (
    SweepAxis,
    Variant,
    apply_variant,
    grid_variants,
    parse_axes,
)
from qmix_logistics.studies.summary import summarize


@dataclass
class SweepResult:
    """A finished study: its design (axes, variants, policies, seeds) and one outcome per episode."""

    scenario: str
    axes: list[SweepAxis]
    variants: list[Variant]
    policies: list[str]
    seeds: list[int]
    outcomes: list[EpisodeOutcome]
    executor: str
    workers: int
    wall_s: float
    """Wall seconds of this call (episodes resumed from an earlier run took their time then)."""
    resumed: int = 0
    """Episodes read back from the journal of an earlier, stopped run instead of played again."""

    def rows(self) -> list[dict[str, float | int | str]]:
        """One tidy record per variant x policy x seed (sorted)."""
        return [o.row() for o in self.outcomes]

    def summary(self) -> list[dict[str, float | int | str]]:
        """One record per variant x policy: means and 95% bootstrap intervals of every KPI."""
        return summarize(self.outcomes)

    def reference_variant(self) -> Variant:
        """The variant that per-order and over-the-day figures show: the middle of the grid."""
        return self.variants[len(self.variants) // 2]

    def to_dict(self) -> dict:
        """JSON-ready: design, wall time, per-episode rows and the summary (NaN becomes null)."""
        return without_nan({
            "scenario": self.scenario,
            "axes": {a.key: list(a.values) for a in self.axes},
            "policies": self.policies,
            "seeds": self.seeds,
            "executor": self.executor,
            "workers": self.workers,
            "wall_s": self.wall_s,
            "resumed_episodes": self.resumed,
            "rows": self.rows(),
            "summary": self.summary(),
        })


def build_tasks(scenario: Scenario, policies: Sequence[str], variants: Sequence[Variant], seeds: Sequence[int],
                bin_min: float = DEFAULT_BIN_MIN) -> list[EpisodeTask]:
    """Every (variant, policy, seed) episode; all variants and policies share the same seeds."""
    tasks = []
    for variant in variants:
        varied = apply_variant(scenario, variant)
        for p, policy in enumerate(policies):
            tasks += [EpisodeTask(variant, p, policy, s, varied, bin_min) for s in seeds]
    return tasks


def _preflight(scenario: Scenario, policies: Sequence[str], seed: int) -> None:
    """Surface user errors (network, order file, unknown policy) here, before any worker starts."""
    DispatchEnv(scenario).reset(seed=seed)
    for spec in policies:
        policy = make_policy(spec, scenario)
        close = getattr(policy, "close", None)
        if callable(close):
            close()


@dataclass(frozen=True)
class SweepPlan:
    """A checked study design: the grid, the policies, the paired seeds and one task per episode."""

    scenario: Scenario
    axes: list[SweepAxis]
    variants: list[Variant]
    policies: list[str]
    seeds: list[int]
    tasks: list[EpisodeTask]


def plan_sweep(
    scenario: Scenario,
    policies: Sequence[str],
    *,
    sweeps: Sequence[str] = (),
    episodes: int = 5,
    seed: int | None = None,
    bin_min: float = DEFAULT_BIN_MIN,
) -> SweepPlan:
    """Parse the ``--sweep`` strings and check everything a user can get wrong, without running a day.

    ``policies`` are opaque specs handed to ``make_policy`` inside each worker. ``bin_min`` is the
    width in minutes of the time bins of the utilization-over-the-day profile.
    """
    if not policies:
        raise QlogError("give at least one policy", field="--policy")
    if len(set(policies)) != len(policies):
        raise QlogError("a policy is listed twice", field="--policy")
    if episodes < 1:
        raise QlogError("needs at least one episode", field="--episodes")
    axes = parse_axes(sweeps)
    variants = grid_variants(axes)
    seeds = episode_seeds(scenario, episodes, seed)
    tasks = build_tasks(scenario, policies, variants, seeds, bin_min)
    _preflight(tasks[0].scenario, policies, seeds[0])
    return SweepPlan(scenario, axes, variants, list(policies), seeds, tasks)


def sweep_settings(plan: SweepPlan) -> dict[str, Any]:
    """What decides a study's results, keyed by the flag that sets it (a journal's header)."""
    return {"SCENARIO": scenario_fingerprint(plan.scenario), "--policy": list(plan.policies),
            "--sweep": {a.key: list(a.values) for a in plan.axes}, "--seed": plan.seeds[0],
            "--episodes": len(plan.seeds), "bin_min": plan.tasks[0].bin_min}


def _resumed_outcomes(plan: SweepPlan, journal: DayJournal | None) -> dict[tuple[int, int, int], EpisodeOutcome]:
    if journal is None:
        return {}
    wanted = {t.sort_key for t in plan.tasks}
    found = {}
    for record in journal.rows:
        index = int(record["variant"])
        if 0 <= index < len(plan.variants):
            outcome = EpisodeOutcome.from_record(record, plan.variants[index])
            if outcome.sort_key in wanted:
                found[outcome.sort_key] = outcome
    return found


def run_plan(plan: SweepPlan, *, executor: str = "local", workers: int | None = None, address: str | None = None,
             on_outcome: OnOutcome | None = None, on_progress: OnProgress | None = None,
             journal: DayJournal | None = None) -> SweepResult:
    """Play every episode of the plan on the chosen executor (see ``executors.run_tasks``).

    ``on_outcome`` gets every outcome played here, ``on_progress`` one event before the first and one
    after every episode. With ``journal``, its episodes are reused (the journal must belong to this
    plan: open it with :func:`sweep_settings`) and each new one is appended as it finishes.
    """
    used_workers = (workers or default_workers()) if executor == "local" else 0
    resumed = _resumed_outcomes(plan, journal)
    todo = [t for t in plan.tasks if t.sort_key not in resumed]
    total, done = len(plan.tasks), len(resumed)

    def record(outcome: EpisodeOutcome) -> None:
        nonlocal done
        if journal is not None:
            journal.append(outcome.to_record())
        done += 1
        if on_outcome is not None:
            on_outcome(outcome)
        if on_progress is not None:
            on_progress(RunProgress(done, total, len(resumed), f"{outcome.variant.label} · {outcome.policy}",
                                    outcome.seed, float(outcome.kpis["total_cost"])))

    if on_progress is not None:
        on_progress(RunProgress(done, total, len(resumed)))
    t0 = time.perf_counter()
    played = run_tasks(todo, executor=executor, workers=workers, address=address, on_outcome=record) if todo else []
    wall_s = time.perf_counter() - t0
    outcomes = sorted([*resumed.values(), *played], key=lambda o: o.sort_key)
    return SweepResult(plan.scenario.name, plan.axes, plan.variants, plan.policies, plan.seeds, outcomes,
                       executor, used_workers, wall_s, resumed=len(resumed))


def run_sweep(
    scenario: Scenario,
    policies: Sequence[str],
    *,
    sweeps: Sequence[str] = (),
    episodes: int = 5,
    seed: int | None = None,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    bin_min: float = DEFAULT_BIN_MIN,
    on_outcome: OnOutcome | None = None,
    on_progress: OnProgress | None = None,
) -> SweepResult:
    """Plan and run the grid given by ``sweeps`` for every policy on paired seeds."""
    check_executor(executor, address)
    plan = plan_sweep(scenario, policies, sweeps=sweeps, episodes=episodes, seed=seed, bin_min=bin_min)
    return run_plan(plan, executor=executor, workers=workers, address=address, on_outcome=on_outcome,
                    on_progress=on_progress)
