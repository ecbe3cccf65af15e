"""One table of policies against fleet size, from `qlog eval` folders of the same scenario family at several
fleet sizes (bench_fleet_scale.py's Chicago Sketch scenarios). Prints a Markdown table and can plot the cost
per order against fleet size. Asserts nothing.

    python benchmarks/fleet_table.py 10=reports/c10 25=reports/c25 50=reports/c50,reports/c50_ortools \\
        --plot fleet.png

Each argument is FLEET=FOLDER[,FOLDER...]: the folders `qlog eval --out-dir` wrote for that fleet size. A
policy measured in several folders of one size is taken from the first. Checkpoint policies (`qmix:...`)
appear as "learned" (`qmix:run`) or "learned NAME" (another folder name). Days may differ between
policies (slow planners often play fewer); the table says how many each played, and the gap closed by the
learned policy is computed on the days it shares with the rule and the planner:

    gap closed = (rule - learned) / (rule - planner), on the shared days' mean costs
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path

from qmix_logistics.common.atomic_io import atomic_write_bytes
from qmix_logistics.common.stats import mean_interval
from qmix_logistics.evaluation.compare import TIE_TOLERANCE

ORDER = ("learned", "batching", "greedy", "ortools", "pyvrp")


@dataclass
class PolicyDays:
    """One policy's days at one fleet size: KPIs per seed and its decision time."""

    label: str
    days: dict[int, dict[str, float]]
    decision_ms: float

    def mean(self, kpi: str, seeds: list[int] | None = None) -> float:
        seeds = sorted(self.days) if seeds is None else seeds
        return sum(self.days[s][kpi] for s in seeds) / len(seeds)


def display_name(label: str) -> str:
    """``qmix:run`` is "learned"; another checkpoint folder, ``qmix:NAME``, is "learned NAME"."""
    if not label.startswith("qmix"):
        return label
    run = label.partition(":")[2]
    return "learned" if run in ("", "run") else f"learned {run}"


def load_size(folders: list[Path]) -> dict[str, PolicyDays]:
    """The policies of one fleet size, merged over its eval folders (the first folder wins)."""
    policies: dict[str, PolicyDays] = {}
    for folder in folders:
        report = json.loads((folder / "eval.json").read_text())
        for label in report["policies"]:
            name = display_name(label)
            if name in policies:
                continue
            days = {e["seed"]: e["kpis"] for e in report["episodes"] if e["policy"] == label}
            policies[name] = PolicyDays(name, days, report["timing"][label]["decision_ms_mean"])
    return policies


def gap_closed(policies: dict[str, PolicyDays], learned: str) -> tuple[float, int] | None:
    """(share of the rule-to-planner gap the ``learned`` policy closes, shared days), or None."""
    if not {learned, "batching", "ortools"} <= policies.keys():
        return None
    shared = sorted(set(policies[learned].days) & set(policies["batching"].days) & set(policies["ortools"].days))
    if not shared:
        return None
    rule, learned_cost, planner = (policies[p].mean("total_cost", shared) for p in ("batching", learned, "ortools"))
    if rule - planner <= 0:
        return None  # the planner does not beat the rule here: there is no gap to close
    return (rule - learned_cost) / (rule - planner), len(shared)


def order_key(name: str) -> tuple[int, str]:
    first = name.split(" ")[0]
    return (ORDER.index(first) if first in ORDER else len(ORDER), name)


def paired_vs_rule(policies: dict[str, PolicyDays], name: str) -> str:
    """Mean paired cost difference to the batching rule with its 95 % bootstrap interval (as ``qlog eval``
    computes it) and wins-ties-losses, on the days both played."""
    if name == "batching" or "batching" not in policies:
        return "—"
    rule, p = policies["batching"], policies[name]
    shared = sorted(set(rule.days) & set(p.days))
    if not shared:
        return "—"
    costs = [p.days[s]["total_cost"] for s in shared]
    diffs = [c - rule.days[s]["total_cost"] for c, s in zip(costs, shared, strict=True)]
    wins, losses = sum(d < -TIE_TOLERANCE for d in diffs), sum(d > TIE_TOLERANCE for d in diffs)
    interval = mean_interval(costs, paired_with=[rule.days[s]["total_cost"] for s in shared])
    bounds = f" [{interval.low:+,.0f}, {interval.high:+,.0f}]" if len(shared) > 1 else ""
    return f"{interval.mean:+,.0f}{bounds} ({wins}-{len(diffs) - wins - losses}-{losses})"


def table(sizes: dict[int, dict[str, PolicyDays]]) -> str:
    lines = ["| vans | policy | days | total cost | service | km | decision ms "
             "| Δ vs batching [95 % CI] (W-T-L) | gap closed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for fleet, policies in sorted(sizes.items()):
        for name in sorted(policies, key=order_key):
            p = policies[name]
            closed = gap_closed(policies, name) if name.startswith("learned") else None
            lines.append(
                f"| {fleet} | {name} | {len(p.days)} | {p.mean('total_cost'):+,.0f} | {p.mean('service_level'):.3f} | "
                f"{p.mean('km'):,.0f} | {p.decision_ms:.2f} | {paired_vs_rule(policies, name)} | "
                + ("—" if closed is None else f"{100 * closed[0]:.0f} % ({closed[1]} days)") + " |")
    return "\n".join(lines)


def plot(sizes: dict[int, dict[str, PolicyDays]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    names = sorted({n for p in sizes.values() for n in p}, key=order_key)
    for n in names:
        points = [(f, p[n].mean("total_cost") / p[n].mean("orders_created")) for f, p in sorted(sizes.items()) if n in p]
        ax.plot([f for f, _ in points], [c for _, c in points], "o-", label=n)
    ax.set_xscale("log")
    ax.set_xticks(sorted(sizes), [str(f) for f in sorted(sizes)])
    ax.set_xlabel("vans (demand scaled with them)")
    ax.set_ylabel("total cost per order created")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title("Chicago Sketch: cost per order against fleet size")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def parse_size(arg: str) -> tuple[int, list[Path]]:
    fleet, _, folders = arg.partition("=")
    if not fleet.isdigit() or not folders:
        raise argparse.ArgumentTypeError(f"expected FLEET=FOLDER[,FOLDER...], got {arg!r}")
    paths = [Path(f) for f in folders.split(",")]
    missing = [str(p) for p in paths if not (p / "eval.json").is_file()]
    if missing:
        raise argparse.ArgumentTypeError(f"no eval.json in {', '.join(missing)}")
    return int(fleet), paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sizes", nargs="+", type=parse_size, metavar="FLEET=FOLDER[,FOLDER...]")
    ap.add_argument("--plot", type=Path, help="write the cost per order against fleet size to this PNG")
    args = ap.parse_args()
    sizes = {fleet: load_size(folders) for fleet, folders in args.sizes}
    print(table(sizes))
    if args.plot:
        plot(sizes, args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
