"""What the rolling-horizon planner buys with more search time per re-plan, on a large fleet.

Chicago Sketch (933 nodes, from ../shared/data) with N vans and demand scaled with them (the scenario of
bench_fleet_scale.py). The planner plays the same seeded days at fixed search times per re-plan and at
its default scaled budget; the batching rule and greedy play them too, as references. Prints one row per
budget and writes the curve of mean cost against seconds per re-plan as a PNG. Asserts nothing.

    python benchmarks/bench_planner_budget.py                          # 50 vans, 2 days, 0.25 .. 4 s
    python benchmarks/bench_planner_budget.py --vehicles 25 --days 3 --limits 0.25,1 --plot budget.png

Days run in --workers processes, one search each: the planner's quality depends on the CPU it gets, so
run nothing else heavy meanwhile. Needs ../shared/data/networks (skipped cleanly when absent).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench_fleet_scale import SHARED, chicago_scenario

from qmix_logistics.common.atomic_io import atomic_write_bytes
from qmix_logistics.evaluation.compare import EvalReport, evaluate

KPIS = ("total_cost", "service_level", "km", "dropped")


def row(report: EvalReport, label: str, budget: str) -> dict[str, object]:
    summary, timing = report.summary()[label], report.timing()[label]
    planner = report.planner_stats().get(label, {})
    plans = planner.get("plans", 0.0)
    return {"policy": label, "budget": budget, **{k: summary[k]["mean"] for k in KPIS},
            "granted_s": planner.get("budget_s", 0.0) / plans if plans else 0.0,
            "fallbacks": f"{planner.get('retries', 0.0) + planner.get('failures', 0.0):.0f}/{plans:.0f}" if plans else "",
            "decision_ms": timing["decision_ms_mean"], "compute_s": timing["compute_s"]}


def print_row(r: dict[str, object]) -> None:
    print(f"{r['policy']:>9} {r['budget']:>8} {r['granted_s']:>9.2f} {r['total_cost']:>9,.0f} "
          f"{r['service_level']:>7.3f} {r['km']:>8,.0f} {r['dropped']:>7.1f} {r['fallbacks']:>10} "
          f"{r['decision_ms']:>8.2f} {r['compute_s']:>9,.0f}", flush=True)


def plot(rows: list[dict[str, object]], references: list[dict[str, object]], path: Path, title: str) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fixed = [r for r in rows if r["budget"] != "scaled"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot([r["granted_s"] for r in fixed], [r["total_cost"] for r in fixed], "o-", label="OR-Tools, fixed budget")
    for r in rows:
        if r["budget"] == "scaled":
            ax.plot([r["granted_s"]], [r["total_cost"]], "s", markersize=9, label="OR-Tools, default scaled budget")
    for r, style in zip(references, ("--", ":")):
        ax.axhline(r["total_cost"], linestyle=style, color="grey", label=f"{r['policy']} rule")
    ax.set_xscale("log")
    ticks = sorted({round(float(r["granted_s"]), 2) for r in fixed})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("search seconds per re-plan (mean granted)")
    ax.set_ylabel("mean total cost per day (lower is better)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vehicles", type=int, default=50)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1000, help="first day's seed (days seed .. seed+days-1)")
    ap.add_argument("--limits", default="0.25,0.5,1,2,4", help="fixed search seconds per re-plan")
    ap.add_argument("--engine", default="ortools", choices=["ortools", "pyvrp"])
    ap.add_argument("--workers", type=int, default=2, help="processes playing days in parallel")
    ap.add_argument("--plot", type=Path, default=Path("planner_budget.png"))
    args = ap.parse_args()
    if not (SHARED / "ChicagoSketch_net.tntp").exists():
        print(f"skipped: {SHARED} not found")
        return
    sc = chicago_scenario(args.vehicles)
    print(f"Chicago Sketch, {args.vehicles} vans, {sc.demand.rate_per_hour:.0f} orders/h, "
          f"days {args.seed}..{args.seed + args.days - 1}, {args.workers} workers", flush=True)
    print(f"{'policy':>9} {'budget':>8} {'granted':>9} {'cost':>9} {'service':>7} {'km':>8} {'dropped':>7} "
          f"{'fallbacks':>10} {'ms/dec':>8} {'compute':>9}", flush=True)
    started = time.perf_counter()
    refs = evaluate(sc, ["batching", "greedy"], args.days, args.seed, workers=args.workers)
    references = [row(refs, label, "-") for label in refs.policies]
    for r in references:
        print_row(r)
    rows = []
    for limit in [None, *(float(x) for x in args.limits.split(","))]:
        report = evaluate(sc, [args.engine], args.days, args.seed, planner_time_limit_s=limit, workers=args.workers)
        rows.append(row(report, report.policies[0], "scaled" if limit is None else f"{limit:g} s"))
        print_row(rows[-1])
    plot(rows, references, args.plot, f"{args.engine}, Chicago Sketch, {args.vehicles} vans, {args.days} day(s)")
    print(f"plot: {args.plot}; {time.perf_counter() - started:,.0f} s in all", flush=True)


if __name__ == "__main__":
    main()
