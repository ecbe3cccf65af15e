"""Run both planning engines on the shared benchmark instances and print a gap table.

    python benchmarks/bench_solvers.py [--time-limit 10] [--engines ortools pyvrp] [--data DIR]

Per instance and engine: total distance, vehicles used, best-known distance, gap %, whether the
independent checker accepts the routes, wall time, and the CPU time the run really got. Runs go
one after the other; OR-Tools searches on two cores by default (cpu_s up to 2 x time_s), PyVRP on
one. On a shared machine a cpu_s well below that means the engine searched less than its budget.
Prints figures, asserts nothing; exits cleanly (status 0) when the shared data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qmix_logistics.planning.solve import SolveResult, solve_instance  # noqa: E402

DEFAULT_DATA = ROOT / ".." / "shared" / "data"
FAMILIES = {"solomon": ["C101", "C201", "R101", "R201", "RC101", "RC201"],
            "lilim": ["lc101", "lr101", "lrc101"]}


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its finished workers (OR-Tools portfolio)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _row(result: SolveResult, cpu_s: float) -> str:
    bks = f"{result.bks_distance:10.2f}" if result.bks_distance else f"{'-':>10}"
    gap = f"{result.gap_pct:7.2f}" if result.gap_pct is not None else f"{'-':>7}"
    return (f"{result.instance:<8} {result.engine:<8} {result.cost:10.2f} {result.vehicles:4d} "
            f"{bks} {gap} {str(result.feasible):>8} {result.time_s:7.2f} {cpu_s:6.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--engines", nargs="+", default=["ortools", "pyvrp"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"skipped: benchmark data folder {args.data} is absent")
        return 0
    print(f"time limit {args.time_limit:g} s per run, engines: {', '.join(args.engines)}")
    print(f"{'instance':<8} {'engine':<8} {'cost':>10} {'veh':>4} {'bks_dist':>10} {'gap_%':>7} "
          f"{'feasible':>8} {'time_s':>7} {'cpu_s':>6}")
    results: list[tuple[str, SolveResult]] = []
    for family, names in FAMILIES.items():
        for name in names:
            path = args.data / family / f"{name}.txt"
            if not path.is_file():
                print(f"{name:<8} missing: {path}")
                continue
            for engine in args.engines:
                cpu_before = _cpu_s()
                result = solve_instance(path, engine=engine, time_limit_s=args.time_limit)
                results.append((family, result))
                print(_row(result, _cpu_s() - cpu_before), flush=True)
    print()
    for family in FAMILIES:
        for engine in args.engines:
            gaps = [r.gap_pct for f, r in results if f == family and r.engine == engine
                    and r.gap_pct is not None]
            feasible = all(r.feasible for f, r in results if f == family and r.engine == engine)
            if gaps:
                print(f"{family:<8} {engine:<8} mean gap {mean(gaps):6.2f} %  "
                      f"(n={len(gaps)}, all feasible: {feasible})")
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for _, r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
