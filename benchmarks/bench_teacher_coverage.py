"""How much of a rolling-horizon planner a vehicle's action space can express.

Plays days with the planner dispatching (its own commands are carried out) and maps every decision
of a deciding vehicle onto that vehicle's actions, counting the decisions it cannot express:

    python benchmarks/bench_teacher_coverage.py --scenario scenarios/depot.yaml --seeds 900 --engine ortools
"""

from __future__ import annotations

import argparse
import time

from qmix_logistics.env import DispatchEnv
from qmix_logistics.scenario import load_scenario
from qmix_logistics.teaching.teacher import PlannerTeacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="scenarios/depot.yaml")
    parser.add_argument("--seeds", default="900", help="comma-separated day seeds")
    parser.add_argument("--engine", default="ortools", choices=("ortools", "pyvrp"))
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="observation option for this run, e.g. wait_with_work=false or pending_slots=8")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    for item in args.overrides:
        key, value = item.split("=", 1)
        current = getattr(scenario.observation, key)
        setattr(scenario.observation, key, type(current)(value) if not isinstance(current, bool)
                else value.lower() in ("1", "true", "yes"))
    env = DispatchEnv(scenario)
    teacher = PlannerTeacher(args.engine)
    started = time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        env.reset(seed=seed)
        done = env.done
        while not done:
            _labels, commands = teacher.decide(env)
            _, _, _, done, info = env.step_commands(commands)
        print(f"seed {seed}: cost {info['kpis']['total_cost']:.0f}, service {info['kpis']['service_level']:.3f}")
    cov = teacher.coverage
    print(f"\n{args.engine} decisions of deciding vehicles on {args.scenario} "
          f"({time.perf_counter() - started:.0f} s)")
    print(f"{'decision':<36}{'count':>8}{'share':>8}")
    for name, count, share in cov.rows():
        print(f"{name:<36}{count:>8}{share:>8.1%}")
    print(f"{'inexpressible':<36}{cov.inexpressible:>8}{cov.inexpressible_share:>8.1%}")


if __name__ == "__main__":
    main()
