"""Fleet-size sweep on Chicago Sketch (933 nodes): what the simulator and the learner cost as
the fleet grows, with demand scaled with it. Prints a table; asserts nothing.

    python benchmarks/bench_fleet_scale.py                      # 10 / 25 / 50 / 100 / 200 vehicles
    python benchmarks/bench_fleet_scale.py --fleets 10,50 --quick
    python benchmarks/bench_fleet_scale.py --write-scenarios scenarios/chicago   # CHICAGO10.yaml .. CHICAGO200.yaml

The written scenario files are what `qlog train` and `qlog eval` take for the fleet-size table
(benchmarks/fleet_table.py).

Per fleet size:
  env steps/s       random valid actions over whole days (the simulator and observation building)
  agent / mixer     parameters of the shared agent network (fixed by parameter sharing) and of the QMIX
                    mixer (its hypernetworks grow with the fleet and the global state)
  ms / update       one QMIX gradient update on 32 windows of 64 steps (plus 16 of burn-in), one thread

The planners' time and quality per fleet size come from `qlog eval` on such a scenario (its planner line says
the search time granted per re-plan, which scales with the snapshot by default).

Needs ../shared/data/networks (skipped cleanly when absent).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from bench_env import measure  # the same random-action day loop as the env benchmark

from qmix_logistics.common.atomic_io import atomic_write_text
from qmix_logistics.env.parallel_env import make_parallel_env
from qmix_logistics.marl import EnvSpec, LearnerConfig, QLearner
from qmix_logistics.marl.buffer import EpisodeBuffer
from qmix_logistics.marl.controller import MultiAgentController
from qmix_logistics.marl.runner import EnvRunner
from qmix_logistics.scenario import Scenario, TNTPNetwork, load_scenario
from qmix_logistics.scenario.schema import Hotspot

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "networks"
ORDERS_PER_VEHICLE_HOUR = 1.2
"""About 470 orders in an 8-hour day for 50 vans."""
SERVICE_RADIUS_KM = 20.0
"""Customers lie within this distance of the depot. Chicago Sketch spans about 90 km: spread over all of it,
the median customer was a 65-minute drive away, past most due windows, and no policy served a fifth of them."""
HOLD_SLACK_MIN = 10.0
"""The batching rule's hold for top-ups on these fleets: on tuning days 5001 on, holding until 10 minutes of slack
are left was 30 (10 vans) to 620 (100 vans) a day cheaper than 25 minutes, at a service level near the
planner's; shorter holds were cheaper still but left a fifth of the orders late or dropped. (It is also the
scenario default now.)"""


def chicago_scenario(vehicles: int) -> Scenario:
    base = load_scenario(ROOT / "scenarios" / "depot.yaml")
    net = TNTPNetwork(path=SHARED / "ChicagoSketch_net.tntp", nodes_path=SHARED / "ChicagoSketch_node.tntp",
                      coords="planar", length_unit="mi", planar_unit="ft")
    sc = base.model_copy(deep=True, update={"network": net})
    sc.fleet = [sc.fleet[0].model_copy(update={"count": vehicles})]
    service_area = Hotspot(node="center", weight=1.0, radius_km=SERVICE_RADIUS_KM)
    sc.demand = sc.demand.model_copy(update={"rate_per_hour": ORDERS_PER_VEHICLE_HOUR * vehicles,
                                             "hotspots": [service_area], "uniform_share": 0.0, "profile": []})
    sc.depots = [sc.depots[0].model_copy(update={"node": "center", "docks": max(3, vehicles // 6),
                                                 "workers": max(4, vehicles // 4)})]
    sc.batching = sc.batching.model_copy(update={"hold_slack_min": HOLD_SLACK_MIN})
    return sc


def write_scenario(sc: Scenario, path: Path) -> None:
    """The scenario as YAML that `qlog` loads back to the same scenario."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(sc.model_dump(mode="json", exclude_none=True), sort_keys=False))


def learner_cost(sc: Scenario, repeats: int) -> tuple[int, int, float]:
    """(agent parameters, mixer parameters, ms per update) on one random day's windows."""
    make_env = lambda seed: make_parallel_env(sc, seed)
    with EnvRunner(make_env, 1, workers=0) as runner:
        spec: EnvSpec = runner.spec
        config = LearnerConfig(batch_size=32, chunk_len=64, burn_in=16, device="cpu")
        learner = QLearner(spec, config)
        episode = runner.run_episodes(MultiAgentController(learner.agent), [0], epsilon=1.0,
                                      rng=np.random.default_rng(0))[0]
    buffer = EpisodeBuffer.holding([episode])
    rng = np.random.default_rng(1)
    learner.train(buffer.sample(32, rng, chunk_len=64, burn_in=16))  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        learner.train(buffer.sample(32, rng, chunk_len=64, burn_in=16))
    ms = 1000 * (time.perf_counter() - started) / repeats
    agent = sum(p.numel() for p in learner.agent.parameters())
    mixer = sum(p.numel() for p in learner.mixer.parameters())
    return agent, mixer, ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fleets", default="10,25,50,100,200")
    ap.add_argument("--quick", action="store_true", help="fewer env steps and updates")
    ap.add_argument("--write-scenarios", type=Path, metavar="DIR",
                    help="write each fleet's scenario to DIR/CHICAGO<N>.yaml instead of measuring")
    args = ap.parse_args()
    if not (SHARED / "ChicagoSketch_net.tntp").exists():
        print(f"skipped: {SHARED} not found")
        return
    if args.write_scenarios:
        for n in (int(x) for x in args.fleets.split(",")):
            path = args.write_scenarios / f"CHICAGO{n}.yaml"
            write_scenario(chicago_scenario(n), path)
            print(path)
        return
    torch.set_num_threads(1)
    steps, repeats = (500, 3) if args.quick else (2000, 10)
    print(f"{'vehicles':>8} {'env steps/s':>11} {'agent':>7} {'mixer':>9} {'ms/update':>9}", flush=True)
    for n in (int(x) for x in args.fleets.split(",")):
        sc = chicago_scenario(n)
        sps, _, _ = measure(sc, steps)
        agent, mixer, ms = learner_cost(sc, repeats)
        print(f"{n:>8} {sps:>11,.0f} {agent:>7,} {mixer:>9,} {ms:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
