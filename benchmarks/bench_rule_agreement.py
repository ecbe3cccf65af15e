"""Where a learned fleet departs from the batching rule: its own days, and at each decision the rule's choice.

The learned fleet plays the day; at every decision of every vehicle the batching rule says what it would do
in that same state. Decisions are counted by kind (fetch: load while empty; top-up: load with orders on
board; hold: wait with orders on board; wait: wait while empty; deliver; return), and every departure as
"the rule's kind -> the policy's kind" (a fetch -> fetch departure loads another order than the rule).
It shows what a fleet taught by the rule has not learned, or learned past it. Where the policy holds instead
of the rule's delivery or top-up, it also prints what the rule's thresholds compared there: the least onboard
slack (the rule holds while it exceeds ``batching.hold_slack_min``) and the top-up's detour share (the rule
tops up within ``batching.top_up_detour_ratio``), as the 10th, 50th and 90th percentiles, next to the same
quantities where the policy agreed (deliveries only where holding was valid). A fleet that learned the rule's
boundaries softly departs just inside them.

    python benchmarks/bench_rule_agreement.py RUN                         # depot.yaml, tuning seeds 5001-5003
    python benchmarks/bench_rule_agreement.py RUN --scenario scenarios/multi_warehouse.yaml --days 5

Defaults use tuning seeds, never the held-out days `qlog eval` plays; asserts nothing.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from qmix_logistics.env import DispatchEnv
from qmix_logistics.env.layout import ActionLayout
from qmix_logistics.policies.batching import batching_actions, least_onboard_slack
from qmix_logistics.policies.learned import LearnedPolicy
from qmix_logistics.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def decision_kind(layout: ActionLayout, action: int, loaded: bool) -> str:
    """What an action does for a vehicle with (``loaded``) or without orders on board."""
    if action == 0:
        return "hold" if loaded else "wait"
    if action < layout.first_deliver:
        return "top-up" if loaded else "fetch"
    return "deliver" if action < layout.return_action else "return"


def fleet_parser(description: str, days: int) -> argparse.ArgumentParser:
    """The arguments of a benchmark that plays a learned fleet beside the rule: the run, its scenario and the
    tuning days (``days`` of them by default)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a run folder or checkpoint file")
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "depot.yaml")
    ap.add_argument("--seed", type=int, default=5001, help="first day's seed (default: a tuning seed)")
    ap.add_argument("--days", type=int, default=days)
    return ap


def load_fleet(args: argparse.Namespace) -> tuple[Scenario, DispatchEnv, LearnedPolicy]:
    """The scenario, an env of it and the learned fleet that :func:`fleet_parser`'s arguments name."""
    scenario = load_scenario(args.scenario)
    return scenario, DispatchEnv(scenario), LearnedPolicy.from_checkpoint(args.run, scenario)


def main() -> None:
    args = fleet_parser(__doc__, days=3).parse_args()
    scenario, env, policy = load_fleet(args)
    decisions: Counter[str] = Counter()
    departures: Counter[tuple[str, str]] = Counter()
    compared: dict[tuple[str, bool], list[float]] = defaultdict(list)  # (what, held where the rule did not)
    for seed in range(args.seed, args.seed + args.days):
        obs, masks = env.reset(seed=seed)
        policy.reset(env, seed)
        done = False
        while not done:
            w = env.world
            rule = batching_actions(env)
            chosen = policy.select_actions(obs, masks)
            for v in w.pending_decisions():
                loaded = bool(w.onboard[v])
                rule_kind = decision_kind(env.layout, int(rule[v]), loaded)
                decisions[rule_kind] += 1
                chosen_kind = decision_kind(env.layout, int(chosen[v]), loaded)
                if int(rule[v]) != int(chosen[v]):
                    departures[(rule_kind, chosen_kind)] += 1
                at_threshold = rule_kind == "top-up" or (rule_kind == "deliver" and env.holdable[v])
                if at_threshold and chosen_kind in (rule_kind, "hold"):
                    _record_thresholds(env, v, int(rule[v]), rule_kind, chosen_kind == "hold", compared)
            obs, masks, _, done, _ = env.step(np.asarray(chosen))
        print(f"day {seed} done", flush=True)
    total = sum(decisions.values())
    print(f"\n{total:,} decisions, the policy chose as the rule on {1 - sum(departures.values()) / total:.1%}")
    print(f"{'the rule':>9} {'decisions':>9}   departures of the policy")
    for kind, n in decisions.most_common():
        away = [(to, m) for (frm, to), m in departures.most_common() if frm == kind]
        said = ", ".join(f"-> {to} {m} ({m / total:.2%})" for to, m in away) or "none"
        print(f"{kind:>9} {n:>9,}   {said}")
    print("\nwhat the rule's thresholds compared (p10 / p50 / p90)")
    limits = {"least slack, rule delivers": scenario.batching.hold_slack_min,
              "detour share, rule tops up": scenario.batching.top_up_detour_ratio}
    for what, limit in limits.items():
        for held in (False, True):
            values = compared.get((what, held), [])
            said = " / ".join(f"{x:.2f}" for x in np.percentile(values, [10, 50, 90])) if values else "none"
            print(f"{what:>27} (limit {limit:g}), policy {'holds' if held else 'agrees'}: {said}"
                  f" ({len(values):,} decisions)")


def _record_thresholds(env: DispatchEnv, v: int, rule_action: int, rule_kind: str, held: bool,
                       compared: dict[tuple[str, bool], list[float]]) -> None:
    """What the rule's threshold compared where it delivered (least onboard slack) or topped up (detour share)."""
    w = env.world
    tt = w.time_min[w.fleet.type_index[v], int(w.node[v])]
    if rule_kind == "deliver":
        compared[("least slack, rule delivers", held)].append(least_onboard_slack(env, v, tt))
        return
    order = int(env.pending_ids[v, rule_action - 1])
    own_trip = tt[w.orders.dest[order]]  # a top-up is loaded where the vehicle stands: the order's warehouse
    share = env.pending_detour[v, rule_action - 1] / max(own_trip, 1e-9)
    compared[("detour share, rule tops up", held)].append(share)


if __name__ == "__main__":
    main()
