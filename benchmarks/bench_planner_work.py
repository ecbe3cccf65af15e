"""How much search a second buys, and what a planner day costs when work, not the clock, ends each search.

For each engine the rolling-horizon planner plays the same seeded days of SCENARIO twice at its default
budget (seconds per re-plan scaled with each snapshot):

1. ``search_budget: time``: every search ends at its seconds. Per re-plan the engine's work is recorded
   (OR-Tools: solutions found, PyVRP: iterations); work per second of search is the rate that
   ``search_budget: work`` turns seconds into work (``ortools_solutions_per_s``, ``pyvrp_iterations_per_s``).
2. ``search_budget: work``: every search ends after that work, the same on any machine. Reported: wall
   seconds per re-plan against the seconds granted (mean, p90, max), searches the clock ended first, and
   the paired cost difference to the first run.

    python benchmarks/bench_planner_work.py scenarios/depot.yaml --days 4
    python benchmarks/bench_planner_work.py scenarios/multi_warehouse.yaml --engines ortools --days 2

Days run one after the other in this process, one search at a time: run nothing else heavy meanwhile, the
work per second is what the CPU gives. Asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy as np

from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.rollout import run_episode
from qmix_logistics.planning.problem import Plan, Problem
from qmix_logistics.policies.rolling_horizon import RollingHorizonConfig, RollingHorizonPolicy
from qmix_logistics.scenario import load_scenario


@dataclass
class Search:
    size: int
    """Tasks plus vehicles of the snapshot."""
    granted_s: float
    wall_s: float
    work: int


class RecordingPlanner(RollingHorizonPolicy):
    """The planner, keeping each engine call's seconds granted, wall seconds and work."""

    searches: list[Search]

    def __init__(self, engine: str, **overrides: object) -> None:
        super().__init__(engine, **overrides)
        self.searches = []

    def _solve(self, problem: Problem, warm_start: Plan | None) -> Plan:
        result = super()._solve(problem, warm_start)
        size = len(problem.tasks) + len(problem.vehicles)
        self.searches.append(Search(size, self.search_seconds(problem), result.wall_time_s, result.work))
        return result


@dataclass
class Days:
    costs: list[float] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)
    clock_stops: int = 0
    wall_s: float = 0.0


def play(env: DispatchEnv, planner: RecordingPlanner, seeds: list[int]) -> Days:
    days = Days()
    started = time.perf_counter()
    for seed in seeds:
        result = run_episode(env, planner, seed)
        days.costs.append(float(result.kpis["total_cost"]))
        days.searches += planner.searches
        days.clock_stops += planner.stats.clock_stops
        planner.searches = []
    days.wall_s = time.perf_counter() - started
    return days


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario")
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--seed", type=int, default=5001, help="first day's seed (tuning days by default)")
    ap.add_argument("--engines", default="ortools,pyvrp")
    args = ap.parse_args()
    scenario = load_scenario(args.scenario)
    env = DispatchEnv(scenario)
    seeds = list(range(args.seed, args.seed + args.days))
    defaults = RollingHorizonConfig()
    print(f"{scenario.name}: days {seeds[0]}..{seeds[-1]}, default budget (base {defaults.base_time_limit_s:g} s "
          f"per re-plan, scaled with the snapshot)", flush=True)
    for engine in args.engines.split(","):
        timed = play(env, RecordingPlanner(engine, search_budget="time"), seeds)
        measured = [s for s in timed.searches if s.wall_s > 0 and s.work > 0]
        rates = np.array([s.work / s.wall_s for s in measured])
        sizes = np.array([s.size for s in measured]) / defaults.base_size
        exponent, log_rate = np.polyfit(np.log(sizes), np.log(rates), 1)
        configured = defaults.work_rate(engine)
        print(f"{engine}, time budget: {len(timed.searches)} searches of size {sizes.min() * defaults.base_size:.0f}"
              f"-{sizes.max() * defaults.base_size:.0f}, work per second median {np.median(rates):,.0f} (p10 "
              f"{np.percentile(rates, 10):,.0f}, p90 {np.percentile(rates, 90):,.0f}); fitted "
              f"{np.exp(log_rate):,.0f} at size {defaults.base_size} x (size / {defaults.base_size}) ** {exponent:.2f}; "
              f"the work budget uses {configured.per_s:,.0f} x (...) ** {configured.size_exponent:.2f}; "
              f"{timed.wall_s:.0f} s for the days", flush=True)
        worked = play(env, RecordingPlanner(engine, search_budget="work"), seeds)
        ratio = np.array([s.wall_s / s.granted_s for s in worked.searches])
        wall, granted = (np.mean([getattr(s, k) for s in worked.searches]) for k in ("wall_s", "granted_s"))
        diff = np.array(worked.costs) - np.array(timed.costs)
        print(f"{engine}, work budget: wall / granted per search mean {ratio.mean():.2f}, p90 "
              f"{np.percentile(ratio, 90):.2f}, max {ratio.max():.1f}; wall per search {wall:.3f} s against "
              f"{granted:.3f} s granted; clock stops {worked.clock_stops}; {worked.wall_s:.0f} s for the days",
              flush=True)
        print(f"{engine}: cost per day, time budget {np.mean(timed.costs):,.1f}, work budget "
              f"{np.mean(worked.costs):,.1f}, work - time {diff.mean():+.1f} (per day: "
              f"{', '.join(f'{d:+.0f}' for d in diff)})", flush=True)


if __name__ == "__main__":
    main()
