"""Env throughput: env steps/s and agent-steps/s with random valid actions, in one process.

    python benchmarks/bench_env.py            # depot.yaml, then fleet and graph-size scaling
    python benchmarks/bench_env.py --quick    # fewer steps

Prints figures only; it never asserts timings. Real networks come from ../shared/data/networks and
are skipped when that folder is absent.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from qmix_logistics.common.masks import uniform_valid_actions
from qmix_logistics.env import DispatchEnv
from qmix_logistics.scenario import Scenario, TNTPNetwork, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "networks"


def measure(scenario: Scenario, min_steps: int) -> tuple[float, float, float]:
    """(env steps/s, agent-steps/s, build seconds) over whole episodes of at least min_steps.

    Build: the network and the first day's travel-time rows (one Dijkstra per depot and destination)."""
    t0 = time.perf_counter()
    env = DispatchEnv(scenario)
    env.reset(seed=0)
    build = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    steps, seed = 0, 0
    start = time.perf_counter()
    while steps < min_steps:
        _, masks = env.reset(seed=seed)
        done = False
        while not done:
            _, masks, _, done, _ = env.step(uniform_valid_actions(masks, rng))
            steps += 1
        seed += 1
    elapsed = time.perf_counter() - start
    return steps / elapsed, steps * env.n_agents / elapsed, build


def with_fleet(scenario: Scenario, vehicles: int, rate_per_vehicle: float) -> Scenario:
    sc = scenario.model_copy(deep=True)
    sc.fleet = [sc.fleet[0].model_copy(update={"count": vehicles})]
    sc.demand = sc.demand.model_copy(update={"rate_per_hour": rate_per_vehicle * vehicles, "hotspots": [],
                                             "uniform_share": 1.0})
    return sc


def tntp(name: str, nodes_file: str, coords: str, unit: str, planar_unit: str = "ft") -> TNTPNetwork | None:
    net = SHARED / f"{name}_net.tntp"
    if not net.exists():
        return None
    return TNTPNetwork(path=net, nodes_path=SHARED / nodes_file, coords=coords, length_unit=unit,
                       planar_unit=planar_unit)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "depot.yaml"))
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    steps = 3000 if args.quick else args.steps
    base = load_scenario(args.scenario)

    sps, asps, _ = measure(base, steps)
    print(f"{base.name}: {base.n_vehicles} vehicles  {sps:,.0f} env steps/s  {asps:,.0f} agent-steps/s")

    print("\nfleet scaling (grid of the scenario, demand 4.5 orders/h per vehicle)")
    print(f"{'vehicles':>8} {'env steps/s':>12} {'agent-steps/s':>14}")
    for n in (5, 10, 25, 50):
        sps, asps, _ = measure(with_fleet(base, n, 4.5), steps // 2)
        print(f"{n:>8} {sps:>12,.0f} {asps:>14,.0f}")

    print("\ngraph scaling (50 vehicles)")
    print(f"{'network':>22} {'nodes':>6} {'build s':>8} {'env steps/s':>12} {'agent-steps/s':>14}")
    nets = [
        ("grid 12x12", base.network),
        ("grid 30x30", base.network.model_copy(update={"rows": 30, "cols": 30})),
        ("Sioux Falls", tntp("SiouxFalls", "SiouxFalls_node.tntp", "lonlat", "mi")),
        ("Anaheim", tntp("Anaheim", "Anaheim_nodes.geojson", "lonlat", "ft")),
        ("Chicago Sketch", tntp("ChicagoSketch", "ChicagoSketch_node.tntp", "planar", "mi", "ft")),
    ]
    for label, spec in nets:
        if spec is None:
            print(f"{label:>22}  skipped: {SHARED} not found")
            continue
        sc = with_fleet(base.model_copy(update={"network": spec}), 50, 4.5)
        sc.depots = [sc.depots[0].model_copy(update={"node": "center", "docks": 8, "workers": 12})]
        sps, asps, build = measure(sc, steps // 2)
        n_nodes = DispatchEnv(sc).net.n_nodes
        print(f"{label:>22} {n_nodes:>6} {build:>8.2f} {sps:>12,.0f} {asps:>14,.0f}")


if __name__ == "__main__":
    main()
