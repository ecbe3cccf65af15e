"""City-scale networks: build time and peak memory of loading a big road network and playing a day on it.

    python benchmarks/bench_city_network.py                 # every case, each in a fresh process
    python benchmarks/bench_city_network.py --case grid-13k # one case, in this process

Each case builds the network, then plays one greedy day (``--hours``) with its fleet; travel times are
computed per source (the depots and the day's destinations), never all pairs. Peak RSS is the
process's ``ru_maxrss``, so every case runs alone in its own interpreter. Prints figures only.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.rollout import run_episode
from qmix_logistics.network import network_for
from qmix_logistics.policies.heuristics import GreedyPolicy
from qmix_logistics.scenario import scenario_from_dict

CASES = {
    "grid-13k": ({"kind": "grid", "rows": 114, "cols": 114, "spacing_km": 0.1, "speed_kmh": 30,
                  "arterial_every": 10, "arterial_speed_kmh": 50}, 50),
    "random-geometric-13k": ({"kind": "random_geometric", "nodes": 13000, "radius": 0.0156, "size_km": 12.0,
                              "seed": 1}, 50),
    "grid-50k": ({"kind": "grid", "rows": 224, "cols": 224, "spacing_km": 0.08, "speed_kmh": 30,
                  "arterial_every": 12, "arterial_speed_kmh": 50}, 50),
    "random-geometric-50k": ({"kind": "random_geometric", "nodes": 50000, "radius": 0.0085, "size_km": 18.0,
                              "seed": 2}, 50),
}


def city_scenario(network: dict, vehicles: int, hours: float):
    """Two depots, ``vehicles`` vans, uniform demand of 4.5 orders/h per van over a ``hours`` shift."""
    return scenario_from_dict({
        "name": "city", "seed": 0,
        "horizon": {"start_min": 0, "end_min": 60 * hours},
        "network": network,
        "depots": [{"name": "a", "node": "center", "docks": 8, "workers": 12},
                   {"name": "b", "node": 0, "docks": 4, "workers": 6}],
        "fleet": [{"name": "van", "count": vehicles, "capacity": 6, "speed_kmh": 40, "cost_per_km": 0.5}],
        "demand": {"rate_per_hour": 4.5 * vehicles, "last_order_min": 60 * hours - 60, "size": {"min": 1, "max": 3},
                   "due_window_min": {"min": 60, "max": 150}, "max_late_min": 60},
        "observation": {"pending_slots": 6, "neighbor_slots": 3},
    })


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def run_case(name: str, hours: float) -> None:
    network, vehicles = CASES[name]
    scenario = city_scenario(network, vehicles, hours)
    t0 = time.perf_counter()
    net = network_for(scenario)
    t_net = time.perf_counter() - t0
    rss_net = peak_rss_mb()
    env = DispatchEnv(scenario, net)
    t1 = time.perf_counter()
    env.reset(seed=0)  # the day's rows, the observation scale, the compiled kernel
    t_rows = time.perf_counter() - t1
    table = env.world.travel
    rows, table_mb = table.n_rows, table.nbytes / 2**20
    t2 = time.perf_counter()
    result = run_episode(env, GreedyPolicy(), seed=0)  # resets again: the rows are shared by then
    t_day = time.perf_counter() - t2
    print(f"{name:>22} {net.n_nodes:>6} {net.graph.number_of_edges():>8} {t_net:>7.1f} {rss_net:>8.0f}"
          f" {rows:>6} {table_mb:>7.0f} {t_rows:>7.1f} {t_day:>6.1f} {int(result.kpis['orders_created']):>7}"
          f" {int(result.kpis['delivered']):>6} {time.perf_counter() - t0:>7.1f} {peak_rss_mb():>8.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), help="run one case in this process")
    ap.add_argument("--hours", type=float, default=8.0, help="length of the simulated day")
    args = ap.parse_args()
    if args.case:
        run_case(args.case, args.hours)
        return
    print("load: build the network; reset: a day's travel-time rows (one Dijkstra per depot and destination);\n"
          "day: one greedy day; RSS: peak after loading, then at the end; total: load + reset + day\n")
    print(f"{'network':>22} {'nodes':>6} {'edges':>8} {'load s':>7} {'RSS MB':>8} {'rows':>6} {'rows MB':>7}"
          f" {'reset s':>7} {'day s':>6} {'orders':>7} {'deliv':>6} {'total s':>7} {'peak MB':>8}")
    for name in CASES:
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--case", name, "--hours", str(args.hours)],
                       check=False)


if __name__ == "__main__":
    main()
