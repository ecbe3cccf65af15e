"""What each kind of departure from the batching rule is worth to a learned fleet: replay it without them.

A fleet taught by the batching rule chooses as the rule on most decisions; `bench_rule_agreement.py` counts
where it does not, by kind ("deliver -> hold": the rule delivers, the fleet holds at the warehouse). This
plays the same days once as the learned fleet, once as the rule, and once per named kind as the learned
fleet with its departures of that kind replaced by the rule's choice. The cost change against the learned
fleet says what that kind of departure is worth on those days: positive, the departure saves money.

With ``--margins``, one row per margin M keeps only the departures the fleet is sure of: where its own
Q-value for its choice exceeds its Q-value for the rule's choice by more than M, and the rule's choice
elsewhere. If the fleet's margins said which departures pay, a margin would keep the edge and drop the rest.

    python benchmarks/bench_departure_value.py RUN                                   # depot.yaml, 60 tuning days
    python benchmarks/bench_departure_value.py RUN --scenario scenarios/multi_warehouse.yaml --days 40 \\
        --kinds "deliver->hold,top-up->hold"
    python benchmarks/bench_departure_value.py RUN --days 100 --kinds "" --margins 0.25,0.5,1

Each row is paired with the learned fleet on the same days: the mean change, its 95 % interval from the
normal approximation, and the days it made cheaper, left equal and made dearer. Defaults use tuning seeds,
never the held-out days `qlog eval` plays; asserts nothing.
"""

from __future__ import annotations

import numpy as np

from bench_rule_agreement import decision_kind, fleet_parser, load_fleet
from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.batching import batching_actions
from qmix_logistics.policies.learned import LearnedPolicy


def play_day(env: DispatchEnv, policy: LearnedPolicy, seed: int, replace: str | float | None) -> float:
    """The day's total cost of the learned fleet, with departures given back to the rule: those of kind
    ``replace`` ("rule -> policy", or "all"), or, for a number, those whose Q-value margin over the rule's
    choice is at most that; ``None`` replaces none."""
    obs, masks = env.reset(seed=seed)
    policy.reset(env, seed)
    done = False
    while not done:
        chosen = np.asarray(policy.select_actions(obs, masks)).copy()
        if replace is not None:
            rule = batching_actions(env)
            for v in env.world.pending_decisions():
                if int(rule[v]) == int(chosen[v]):
                    continue
                if isinstance(replace, float):
                    q = policy.last_q[v]
                    if q[chosen[v]] - q[rule[v]] <= replace:
                        chosen[v] = rule[v]
                    continue
                loaded = bool(env.world.onboard[v])
                if replace == "all" or replace == (f"{decision_kind(env.layout, int(rule[v]), loaded)}->"
                                                   f"{decision_kind(env.layout, int(chosen[v]), loaded)}"):
                    chosen[v] = rule[v]
        obs, masks, _, done, _ = env.step(chosen)
    return float(env.kpis()["total_cost"])


def main() -> None:
    ap = fleet_parser(__doc__, days=60)
    ap.add_argument("--kinds", default="deliver->hold,top-up->hold",
                    help="comma-separated departure kinds to give back to the rule (the rule's kind->the policy's)")
    ap.add_argument("--margins", default="",
                    help="comma-separated Q-value margins: keep only departures the fleet values above the rule's "
                         "choice by more than this")
    args = ap.parse_args()
    _, env, policy = load_fleet(args)
    rows = {"learned fleet": None, "all departures (the rule)": "all"}
    rows.update({f"without {kind.strip()}": kind.strip() for kind in args.kinds.split(",") if kind.strip()})
    rows.update({f"only margins above {m.strip()}": float(m) for m in args.margins.split(",") if m.strip()})
    costs = {label: [] for label in rows}
    seeds = range(args.seed, args.seed + args.days)
    for seed in seeds:
        for label, replace in rows.items():
            costs[label].append(play_day(env, policy, seed, replace))
        print(f"day {seed} done", flush=True)
    learned = np.array(costs["learned fleet"])
    print(f"\n{len(seeds)} days from seed {args.seed}; change against the learned fleet (positive: the departures"
          " saved that much a day)")
    print(f"{'':>28} {'cost / day':>11} {'change':>8} {'95 % CI':>18} {'W-T-L':>9}")
    for label, values in costs.items():
        diff = np.array(values) - learned
        half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        wtl = f"{(diff < 0).sum()}-{(diff == 0).sum()}-{(diff > 0).sum()}"
        print(f"{label:>28} {np.mean(values):>11,.1f} {diff.mean():>+8.1f} "
              f"[{diff.mean() - half:+.1f}, {diff.mean() + half:+.1f}] {wtl:>9}")


if __name__ == "__main__":
    main()
