"""How each policy forms its trips: trips per day, orders per trip and km per trip, on the same seeded days.

A trip starts with a vehicle's first load at a warehouse and ends when it drives off with its load. Two
policies that drive different km either make fewer, fuller trips (consolidation) or shorter trips of the same
size (which orders share a trip, and in what order they are delivered). This tells the two apart.

    python benchmarks/bench_trips.py                                   # depot.yaml, tuning seeds 5001-5003
    python benchmarks/bench_trips.py --policies batching,runs/depot_base,ortools --days 5

Defaults use tuning seeds, never the held-out days `qlog eval` plays. Days run one after another in this
process; asserts nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.rollout import run_episode
from qmix_logistics.policies import make_policy
from qmix_logistics.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def trip_sizes(events: list[tuple[float, str, int, int, int]], depots: set[int]) -> list[int]:
    """Orders per trip, from a day's event log (time, kind, vehicle, order, node)."""
    loaded: dict[int, int] = {}
    sizes = []
    for _, kind, v, _, node in events:
        if kind == "load":
            loaded[v] = loaded.get(v, 0) + 1
        elif kind == "depart" and node in depots and loaded.get(v, 0) > 0:
            sizes.append(loaded.pop(v))
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "depot.yaml")
    ap.add_argument("--policies", default="batching,ortools", help="comma-separated, as for qlog eval")
    ap.add_argument("--seed", type=int, default=5001, help="first day's seed (default: a tuning seed)")
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()
    scenario = load_scenario(args.scenario)
    print(f"{'policy':>24} {'cost':>8} {'service':>7} {'km':>7} {'trips':>6} {'orders/trip':>11} {'km/trip':>7}",
          flush=True)
    env = DispatchEnv(scenario, record_events=True)  # each reset starts a fresh day and event log
    for spec in args.policies.split(","):
        cost = service = km = 0.0
        sizes: list[int] = []
        policy = make_policy(spec, scenario)
        try:
            for seed in range(args.seed, args.seed + args.days):
                result = run_episode(env, policy, seed)
                depots = {int(n) for n in env.world.depot_node}
                sizes += trip_sizes(env.world.events, depots)
                cost += result.kpis["total_cost"]
                service += result.kpis["service_level"]
                km += result.kpis["km"]
        finally:
            policy.close()
        d = args.days
        print(f"{spec:>24} {cost / d:>8,.0f} {service / d:>7.3f} {km / d:>7,.0f} {len(sizes) / d:>6.1f} "
              f"{sum(sizes) / max(1, len(sizes)):>11.2f} {km / max(1, len(sizes)):>7.2f}", flush=True)


if __name__ == "__main__":
    main()
