"""Where a learned fleet departs from the batching rule: its own days, and at each decision the rule's choice.

The learned fleet plays the day; at every decision of every vehicle the batching rule says what it would do
in that same state. Decisions are counted by kind (fetch: load while empty; top-up: load with orders on
board; hold: wait with orders on board; wait: wait while empty; deliver; return), and every departure as
"the rule's kind -> the policy's kind" (a fetch -> fetch departure loads another order than the rule).
It shows what a fleet taught by the rule has not learned, or learned past it.

    python benchmarks/bench_rule_agreement.py RUN                         # depot.yaml, tuning seeds 5001-5003
    python benchmarks/bench_rule_agreement.py RUN --scenario scenarios/multi_warehouse.yaml --days 5

Defaults use tuning seeds, never the held-out days `qlog eval` plays; asserts nothing.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from qmix_logistics.env import DispatchEnv
from qmix_logistics.env.layout import ActionLayout
from qmix_logistics.policies.batching import batching_actions
from qmix_logistics.policies.learned import LearnedPolicy
from qmix_logistics.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def decision_kind(layout: ActionLayout, action: int, loaded: bool) -> str:
    """What an action does for a vehicle with (``loaded``) or without orders on board."""
    if action == 0:
        return "hold" if loaded else "wait"
    if action < layout.first_deliver:
        return "top-up" if loaded else "fetch"
    return "deliver" if action < layout.return_action else "return"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a run folder or checkpoint file")
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "depot.yaml")
    ap.add_argument("--seed", type=int, default=5001, help="first day's seed (default: a tuning seed)")
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()
    scenario = load_scenario(args.scenario)
    env = DispatchEnv(scenario)
    policy = LearnedPolicy.from_checkpoint(args.run, scenario)
    decisions: Counter[str] = Counter()
    departures: Counter[tuple[str, str]] = Counter()
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
                if int(rule[v]) != int(chosen[v]):
                    departures[(rule_kind, decision_kind(env.layout, int(chosen[v]), loaded))] += 1
            obs, masks, _, done, _ = env.step(np.asarray(chosen))
        print(f"day {seed} done", flush=True)
    total = sum(decisions.values())
    print(f"\n{total:,} decisions, the policy chose as the rule on {1 - sum(departures.values()) / total:.1%}")
    print(f"{'the rule':>9} {'decisions':>9}   departures of the policy")
    for kind, n in decisions.most_common():
        away = [(to, m) for (frm, to), m in departures.most_common() if frm == kind]
        said = ", ".join(f"-> {to} {m} ({m / total:.2%})" for to, m in away) or "none"
        print(f"{kind:>9} {n:>9,}   {said}")


if __name__ == "__main__":
    main()
