"""Planning studies: every what-if variant x every policy, played on the same (paired) seeds.

Pairing matters: a variant with more vans and the one with fewer see the same days of orders (for the
same demand scale), and every policy faces the same days, so differences between cells come from the
knob or the policy and not from luckier demand. Behind ``qlog simulate --sweep`` and multi-policy runs.

Example::

    result = run_sweep(scenario, ["greedy", "random"], sweeps=["fleet=4:8:2"], episodes=3)
    result.rows()      # one dict per variant x policy x seed
    result.summary()   # one dict per variant x policy with means and 95% CI half-widths

``plan_sweep`` + ``run_plan`` split the same call in two, so a caller can check the design (and show
the number of episodes) before any work starts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
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

    def rows(self) -> list[dict[str, float | int | str]]:
        """One tidy record per variant x policy x seed (sorted)."""
        return [o.row() for o in self.outcomes]

    def summary(self) -> list[dict[str, float | int | str]]:
        """One record per variant x policy: means and 95% t-interval half-widths of every KPI."""
        return summarize(self.outcomes)

    def reference_variant(self) -> Variant:
        """The variant that per-order and over-the-day figures show: the middle of the grid."""
        return self.variants[len(self.variants) // 2]

    def to_dict(self) -> dict:
        """JSON-ready: design, wall time, per-episode rows and the summary (NaN becomes null)."""
        return _without_nan({
            "scenario": self.scenario,
            "axes": {a.key: list(a.values) for a in self.axes},
            "policies": self.policies,
            "seeds": self.seeds,
            "executor": self.executor,
            "workers": self.workers,
            "wall_s": self.wall_s,
            "rows": self.rows(),
            "summary": self.summary(),
        })


def _without_nan(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _without_nan(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_without_nan(v) for v in obj]
    return obj


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


def run_plan(plan: SweepPlan, *, executor: str = "local", workers: int | None = None, address: str | None = None,
             on_outcome: OnOutcome | None = None) -> SweepResult:
    """Play every episode of the plan on the chosen executor (see ``executors.run_tasks``)."""
    used_workers = (workers or default_workers()) if executor == "local" else 0
    t0 = time.perf_counter()
    outcomes = run_tasks(plan.tasks, executor=executor, workers=workers, address=address, on_outcome=on_outcome)
    wall_s = time.perf_counter() - t0
    return SweepResult(plan.scenario.name, plan.axes, plan.variants, plan.policies, plan.seeds, outcomes,
                       executor, used_workers, wall_s)


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
) -> SweepResult:
    """Plan and run the grid given by ``sweeps`` for every policy on paired seeds."""
    check_executor(executor, address)
    plan = plan_sweep(scenario, policies, sweeps=sweeps, episodes=episodes, seed=seed, bin_min=bin_min)
    return run_plan(plan, executor=executor, workers=workers, address=address, on_outcome=on_outcome)
