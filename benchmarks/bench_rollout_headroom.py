"""How much one vehicle's single decision can improve on the batching rule: a one-step rollout, with hindsight.

At every step, for each deciding vehicle, every action it could take (wait, each visible order it may
load, its nearest onboard delivery, going home) is tried: the rest of the day is played out by the batching
rule, and the action whose day ends cheapest is carried out (ties keep the rule's own). This is one step of
policy improvement on the rule, and it knows the day's future orders (each candidate is played out on the
day itself), so it bounds what any single-decision departure from the rule, in a vehicle's own action space,
can buy when the rule carries on afterwards. Compare its gain with the planner's lead over the rule: if it
is small, the planner's lead lies in decisions made together (which orders share which trip), not in
any one vehicle's next action.

A day cannot be copied mid-way (its vehicles are SimPy processes), but it is reproducible from its seed and
the actions taken, since every random draw of a day is made up front. So each candidate is played in a
second env that replays the day to the current step: about one simulated day per candidate per decision,
minutes per day on depot.yaml.

    python benchmarks/bench_rollout_headroom.py                       # depot.yaml, tuning seed 5001
    python benchmarks/bench_rollout_headroom.py --seed 5002 --days 2

Defaults use tuning seeds, never the held-out days `qlog eval` plays; asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np

from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.rollout import run_episode
from qmix_logistics.policies.batching import BatchingPolicy, batching_actions
from qmix_logistics.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


class OneStepRollout:
    """Plays a day, each decision the cheapest of the vehicle's actions when the rule plays out the rest."""

    def __init__(self, env: DispatchEnv) -> None:
        self.env = env
        self.branch = DispatchEnv(env.scenario, env.net)  # replays the day to try each candidate
        self.decisions: Counter = Counter()
        """``rule`` where the rule's action was kept, else ``<rule's kind> -> <chosen kind>``."""
        self.history: list[np.ndarray] = []

    def play(self, seed: int) -> dict[str, float]:
        env = self.env
        env.reset(seed=seed)
        self.history = []
        done, info = env.done, {}
        while not done:
            actions = self.improve(seed)
            self.history.append(actions)
            done, info = env.step(actions)[3:]
        return dict(info.get("kpis", env.kpis()))

    def improve(self, seed: int) -> np.ndarray:
        env = self.env
        w = env.world
        actions, masks, kinds = batching_actions(env), env.action_masks(), env.action_meanings()
        for v in w.pending_decisions():
            rule = int(actions[v])
            options = self.candidates(v, rule, masks[v])
            if len(options) > 1:
                costs = {a: self.day_cost(seed, actions, v, a) for a in options}
                actions[v] = min(options, key=lambda a: (costs[a], a != rule))
            chosen = int(actions[v])
            self.decisions["rule" if chosen == rule else f"{_kind(kinds[rule])} -> {_kind(kinds[chosen])}"] += 1
        return actions

    def candidates(self, v: int, rule: int, mask: np.ndarray) -> list[int]:
        """The rule's action, then every valid action except deliveries other than the nearest one."""
        env, lay = self.env, self.env.layout
        w = env.world
        delivers = [c for c in range(lay.onboard_slots) if mask[lay.first_deliver + c]]
        nearest = []
        if delivers:
            tt = w.time_min[w.fleet.type_index[v], int(w.node[v])]
            nearest = [lay.first_deliver + min(delivers, key=lambda c: (tt[w.orders.dest[env.onboard_ids[v, c]]], c))]
        others = [a for a in np.flatnonzero(mask).tolist() if not lay.first_deliver <= a < lay.return_action]
        return list(dict.fromkeys([rule, *others, *nearest]))

    def day_cost(self, seed: int, actions: np.ndarray, v: int, action: int) -> float:
        """Total cost of the day when ``v`` takes ``action`` now and the rule dispatches everything after."""
        branch = self.branch
        branch.reset(seed=seed)
        for past in self.history:
            branch.step(past)
        now = actions.copy()
        now[v] = action
        done = branch.step(now)[3]
        while not done:
            done = branch.step(batching_actions(branch))[3]
        return float(branch.world.total_cost)


def _kind(meaning: str) -> str:
    return meaning.split(" ")[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "depot.yaml")
    ap.add_argument("--seed", type=int, default=5001, help="first day's seed (default: a tuning seed)")
    ap.add_argument("--days", type=int, default=1)
    args = ap.parse_args()
    scenario = load_scenario(args.scenario)
    env = DispatchEnv(scenario)
    rollout = OneStepRollout(DispatchEnv(scenario, env.net))
    print(f"{'seed':>6} {'rule cost':>9} {'rollout cost':>12} {'gain':>6} {'decisions':>9} {'departures':>10} "
          f"{'wall s':>7}", flush=True)
    departures: Counter = Counter()
    for seed in range(args.seed, args.seed + args.days):
        rule_cost = run_episode(env, BatchingPolicy(), seed).kpis["total_cost"]
        rollout.decisions.clear()
        started = time.perf_counter()
        kpis = rollout.play(seed)
        moved = sum(n for k, n in rollout.decisions.items() if k != "rule")
        departures.update({k: n for k, n in rollout.decisions.items() if k != "rule"})
        print(f"{seed:>6} {rule_cost:>9,.1f} {kpis['total_cost']:>12,.1f} {rule_cost - kpis['total_cost']:>6,.1f} "
              f"{sum(rollout.decisions.values()):>9,} {moved:>10,} {time.perf_counter() - started:>7.0f}", flush=True)
    print("departures from the rule:", ", ".join(f"{k}: {n}" for k, n in departures.most_common()) or "none")


if __name__ == "__main__":
    main()
