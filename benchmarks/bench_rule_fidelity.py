"""How well can a vehicle's observation represent the batching rule? An offline classifier's held-out error.

The learned fleet imitates the batching rule, so every rule decision the observation cannot express is a
mistake the learner inherits. This plays days with the rule (a share of random actions, so that the states
are not only the rule's own), records each deciding vehicle's observation, mask and the rule's choice,
trains a small masked classifier on some days and reports its error on others: once on the full
observation, once with the features named in ``--drop`` removed. It prints figures and asserts nothing:

    python benchmarks/bench_rule_fidelity.py --scenario scenarios/multi_warehouse.yaml

Feature groups (observation layout 5): ``least_slack`` (own), ``detour_share`` and ``extra_drive`` (per
pending slot).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
import torch

from qmix_logistics.env import DispatchEnv
from qmix_logistics.env.layout import ONBOARD_FEATURES, OWN_FEATURES, PENDING_FEATURES
from qmix_logistics.policies.batching import batching_actions
from qmix_logistics.scenario import load_scenario

GROUPS = ("least_slack", "detour_share", "extra_drive")


def feature_columns(env: DispatchEnv, group: str) -> list[int]:
    """Observation columns of one feature group."""
    lay = env.layout
    off_pend = OWN_FEATURES + 1 + ONBOARD_FEATURES * lay.onboard_slots
    if group == "least_slack":
        return [OWN_FEATURES - 1]
    within = {"detour_share": 8, "extra_drive": 9}[group]
    return [off_pend + k * PENDING_FEATURES + within for k in range(lay.pending_slots)]


def record(env: DispatchEnv, seeds: list[int], random_share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observations, masks, rule choices) of deciding vehicles with more than one valid action."""
    rng = np.random.default_rng(seeds[0])
    obs_rows, mask_rows, labels = [], [], []
    for seed in seeds:
        env.reset(seed=seed)
        done = False
        while not done:
            rule = batching_actions(env)
            obs, masks = env.observations(), env.action_masks()
            actions = rule.copy()
            for v in env.world.pending_decisions():
                if masks[v].sum() > 1:
                    obs_rows.append(obs[v].copy())
                    mask_rows.append(masks[v].copy())
                    labels.append(int(rule[v]))
                if rng.random() < random_share:
                    actions[v] = int(rng.choice(np.flatnonzero(masks[v])))
            done = env.step(actions)[3]
    return np.array(obs_rows, dtype=np.float32), np.array(mask_rows), np.array(labels)


def held_out_error(train: tuple, test: tuple, keep: np.ndarray, epochs: int, seed: int) -> tuple[float, float]:
    """(train error, test error) of a two-layer masked classifier on the columns ``keep``."""
    torch.manual_seed(seed)
    x_tr, m_tr, y_tr = (torch.as_tensor(a) for a in train)
    x_te, m_te, y_te = (torch.as_tensor(a) for a in test)
    x_tr, x_te = x_tr[:, keep], x_te[:, keep]
    net = torch.nn.Sequential(torch.nn.Linear(x_tr.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, 128),
                              torch.nn.ReLU(), torch.nn.Linear(128, m_tr.shape[1]))
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        order = torch.randperm(len(y_tr))
        for start in range(0, len(order), 256):
            batch = order[start:start + 256]
            logits = net(x_tr[batch]).masked_fill(~m_tr[batch], -1e9)
            loss = torch.nn.functional.cross_entropy(logits, y_tr[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    with torch.no_grad():
        def error(x: torch.Tensor, m: torch.Tensor, y: torch.Tensor) -> float:
            return float((net(x).masked_fill(~m, -1e9).argmax(1) != y).float().mean())
        return error(x_tr, m_tr, y_tr), error(x_te, m_te, y_te)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="scenarios/multi_warehouse.yaml")
    parser.add_argument("--train-days", type=int, default=20)
    parser.add_argument("--test-days", type=int, default=4)
    parser.add_argument("--random-share", type=float, default=0.1, help="share of decisions taken at random")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--drop", default=",".join(GROUPS), help=f"feature groups to remove, of {', '.join(GROUPS)}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dropped = [g for g in args.drop.split(",") if g]
    unknown = sorted(set(dropped) - set(GROUPS))
    if unknown:
        parser.error(f"unknown feature groups {unknown}; choose from {', '.join(GROUPS)}")
    torch.set_num_threads(1)

    env = DispatchEnv(load_scenario(args.scenario))
    started = time.perf_counter()
    train = record(env, list(range(3000, 3000 + args.train_days)), args.random_share)
    test = record(env, list(range(4000, 4000 + args.test_days)), args.random_share)
    kinds = Counter("wait" if a == 0 else "load" if a < env.layout.first_deliver else
                    "deliver" if a < env.layout.return_action else "return" for a in test[2])
    print(f"{args.scenario}: {len(train[2]):,} training and {len(test[2]):,} held-out decisions "
          f"({dict(kinds)}) recorded in {time.perf_counter() - started:.0f} s")
    gone = sorted({c for g in dropped for c in feature_columns(env, g)})
    every = np.arange(env.obs_size)
    for label, keep in (("full observation", every), (f"without {', '.join(dropped)}", np.setdiff1d(every, gone))):
        if label.startswith("without") and not dropped:
            continue
        tr, te = held_out_error(train, test, keep, args.epochs, args.seed)
        print(f"  {label:<52} error: training {tr:6.1%}, held out {te:6.1%}")


if __name__ == "__main__":
    main()
