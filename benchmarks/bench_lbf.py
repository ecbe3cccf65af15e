"""Level-Based Foraging through the PettingZoo path: env steps/s with learning, and the test return over time.

LBF (``pip install -e ".[bench]"``, which brings ``lbforaging``) is the reference env of EPyMARL; this trains
our learner on it exactly as a user training their own PettingZoo env would, with ``LearnerConfig``'s
defaults unless ``--set`` overrides them, and prints figures (it asserts nothing):

    python benchmarks/bench_lbf.py --steps 1000000                       # learning: greedy test return over time
    taskset -c 0 python benchmarks/bench_lbf.py --steps 30000 --no-eval  # throughput on one core
    python benchmarks/bench_lbf.py --diagnose RUN_DIR/checkpoint.pt       # what a trained policy does

After training (and with ``--diagnose``) it also reports what the greedy policy does on 100 test days: how
many foods it loads, when, and after the first one whether the agents head for the food that is left or
for the placeholder (-1, -1) that LBF writes into an emptied food slot.

The side-by-side reference run (EPyMARL's QMIX on the same env) is in the README, "Training throughput".
"""

from __future__ import annotations

import argparse
import csv
import functools
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

DEFAULT_KEY = "Foraging-8x8-2p-2f-coop-v3"
DEFAULT_TIME_LIMIT = 50


class LBFParallelEnv(ParallelEnv):
    """An lbforaging gymnasium env as a PettingZoo ParallelEnv in the learner's contract.

    Observations are LBF's own vectors; every action is valid (as in EPyMARL's gymma wrapper); the state is
    all agents' observations concatenated. Every agent gets the team reward, the sum of the agents' LBF
    rewards, so a day's return is 1.0 when all food is collected (LBF normalises rewards). An episode that
    ends with food left because the time limit ran out is truncated, not terminated.
    """

    metadata: ClassVar[dict[str, str]] = {"name": "lbforaging_parallel_v0"}

    def __init__(self, key: str = DEFAULT_KEY, time_limit: int = DEFAULT_TIME_LIMIT, seed: int | None = None) -> None:
        import gymnasium as gym
        import lbforaging  # noqa: F401  (registers the Foraging-* ids)

        self._env = gym.make(key, max_episode_steps=time_limit).unwrapped
        n = len(self._env.action_space)
        self.possible_agents = [f"player_{i}" for i in range(n)]
        self.agents: list[str] = []
        self.time_limit = time_limit
        obs_dim = int(self._env.observation_space[0].shape[0])
        n_actions = int(self._env.action_space[0].n)
        self._obs_space = spaces.Dict({
            "observation": spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32),
            "action_mask": spaces.Box(0, 1, shape=(n_actions,), dtype=np.int8),
        })
        self._act_space = spaces.Discrete(n_actions)
        self._mask = np.ones(n_actions, dtype=np.int8)
        self._obs: tuple[np.ndarray, ...] = ()
        self._t = 0
        self._seed = seed

    def observation_space(self, agent: str) -> spaces.Dict:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def state(self) -> np.ndarray:
        return np.concatenate(self._obs).astype(np.float32)

    def _observe(self) -> dict[str, dict[str, np.ndarray]]:
        return {agent: {"observation": self._obs[i], "action_mask": self._mask}
                for i, agent in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        obs, _ = self._env.reset(seed=seed if seed is not None else self._seed)
        self._obs, self._t = tuple(obs), 0
        self.agents = list(self.possible_agents)
        return self._observe(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        obs, rewards, done, _, _ = self._env.step(tuple(int(actions[a]) for a in self.possible_agents))
        self._obs, self._t = tuple(obs), self._t + 1
        team = float(np.sum(rewards))
        food_left = bool(self._env.field.any())
        terminated = bool(done) and not food_left
        truncated = not terminated and (bool(done) or self._t >= self.time_limit)
        agents = self.agents
        if terminated or truncated:
            self.agents = []
        return (self._observe(), {a: team for a in agents}, {a: terminated for a in agents},
                {a: truncated for a in agents}, {a: {} for a in agents})

    def close(self) -> None:
        self._env.close()


def make_lbf_env(seed: int, key: str = DEFAULT_KEY, time_limit: int = DEFAULT_TIME_LIMIT) -> LBFParallelEnv:
    """Module-level factory, so spawned env workers can unpickle it."""
    return LBFParallelEnv(key, time_limit, seed)


def raw_env_speed(key: str, time_limit: int, steps: int = 5_000) -> float:
    """Env steps/s of the bare PettingZoo env with uniform random actions (no learner)."""
    env, rng = LBFParallelEnv(key, time_limit), np.random.default_rng(0)
    env.reset(seed=0)
    started = time.perf_counter()
    for _ in range(steps):
        env.step({a: int(rng.integers(6)) for a in env.possible_agents})
        if not env.agents:
            env.reset(seed=int(rng.integers(1 << 30)))
    return steps / (time.perf_counter() - started)


def food_report(checkpoint: str | Path, episodes: int = 100, key: str = DEFAULT_KEY,
                time_limit: int = DEFAULT_TIME_LIMIT) -> None:
    """Print what the greedy policy of ``checkpoint`` does on test days 10_000.. (see the module docstring)."""
    from collections import Counter

    from qmix_logistics.marl.checkpoint import load_policy

    policy, _ = load_policy(checkpoint)
    env = LBFParallelEnv(key, time_limit)
    n_food = env._env.max_num_food
    returns, load_steps = Counter(), [[] for _ in range(n_food)]
    moves, emptied_first = Counter(), Counter()
    step_of = {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}  # LBF: north, south, west, east
    for episode in range(episodes):
        obs, _ = env.reset(seed=10_000 + episode)
        hidden = [None] * len(env.possible_agents)
        last = [None] * len(env.possible_agents)
        loaded, total, t = 0, 0.0, 0
        while env.agents:
            before = {a: obs[a]["observation"].copy() for a in env.possible_agents}
            actions = {}
            for i, agent in enumerate(env.possible_agents):
                actions[agent], _, hidden[i] = policy.act(obs[agent]["observation"], obs[agent]["action_mask"], i,
                                                          last[i], hidden[i])
                last[i] = actions[agent]
            obs, rewards, *_ = env.step(actions)
            t += 1
            reward = next(iter(rewards.values()))
            total += reward
            if reward > 0:
                if loaded == 0 and env.agents:  # which slot held the food that is gone now
                    was, now = before[env.possible_agents[0]], obs[env.possible_agents[0]]["observation"]
                    left = {(now[3 * k], now[3 * k + 1]) for k in range(n_food) if now[3 * k + 2] > 0}
                    gone = [k for k in range(n_food) if was[3 * k + 2] > 0 and (was[3 * k], was[3 * k + 1]) not in left]
                    emptied_first[gone[0] + 1 if gone else 0] += 1
                load_steps[min(loaded, n_food - 1)].append(t)
                loaded += 1
            elif loaded == 1:
                for agent in env.possible_agents:
                    me = before[agent]
                    food = next(((me[3 * k], me[3 * k + 1]) for k in range(n_food) if me[3 * k + 2] > 0), None)
                    move = step_of.get(actions[agent])
                    if food is None or move is None:
                        moves["stays or loads"] += 1
                        continue
                    y, x = me[3 * n_food], me[3 * n_food + 1]
                    nearer = lambda ty, tx: abs(y + move[0] - ty) + abs(x + move[1] - tx) < abs(y - ty) + abs(x - tx)
                    moves["towards the food left" if nearer(*food) else
                          "towards the placeholder (-1, -1)" if nearer(-1, -1) else "elsewhere"] += 1
        returns[round(total, 2)] += 1
    print(f"greedy policy on {episodes} test days: returns {dict(sorted(returns.items()))}")
    for k, steps in enumerate(load_steps):
        if steps:
            print(f"  food {k + 1} loaded on {len(steps)} days, at step {np.mean(steps):.1f} on average")
    if emptied_first:
        print("  the first food loaded sat in the observation's " + ", ".join(
            f"food slot {k} on {n} days" for k, n in emptied_first.most_common())
            + " (LBF lists foods in grid order and moves the rest up when one is gone)")
    total_moves = sum(moves.values())
    if total_moves:
        print("  agents' actions after the first food: " + ", ".join(
            f"{name} {n / total_moves:.0%}" for name, n in moves.most_common()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--key", default=DEFAULT_KEY, help="lbforaging gymnasium id")
    parser.add_argument("--time-limit", type=int, default=DEFAULT_TIME_LIMIT)
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps to train for")
    parser.add_argument("--eval-every", type=int, default=50_000, help="env steps between greedy test runs")
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument("--no-eval", action="store_true", help="only the final test run (throughput figures)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a LearnerConfig default (repeatable), e.g. --set mixer=vdn")
    parser.add_argument("--run-dir", default=None, help="keep the run folder here (default: a temporary one)")
    parser.add_argument("--diagnose", default=None, metavar="CHECKPOINT",
                        help="only report what a trained policy does (no training)")
    args = parser.parse_args()
    if args.diagnose:
        food_report(args.diagnose, key=args.key, time_limit=args.time_limit)
        return

    from qmix_logistics.marl import LearnerConfig, train
    from qmix_logistics.marl.progress import TrainProgress

    overrides = {"total_env_steps": args.steps, "seed": args.seed,
                 "eval_interval_steps": 10**12 if args.no_eval else args.eval_every,
                 "eval_episodes": args.eval_episodes, "checkpoint_interval_steps": 10**12}
    config = LearnerConfig().with_overrides(overrides).with_overrides(args.set)
    changed = {k: v for k, v in config.to_dict().items() if v != LearnerConfig.model_fields[k].default}
    print(f"env {args.key} (time limit {args.time_limit}); learner defaults except {changed}", flush=True)
    print(f"bare env: {raw_env_speed(args.key, args.time_limit):,.0f} env steps/s with random actions", flush=True)
    make_env = functools.partial(make_lbf_env, key=args.key, time_limit=args.time_limit)

    shown: set[int] = set()

    def show(progress: TrainProgress) -> None:  # one line per greedy test run
        bucket = progress.env_steps // config.eval_interval_steps
        if progress.last_eval and bucket not in shown:
            shown.add(bucket)
            print(f"  {progress.env_steps:>9,} steps  {progress.elapsed_s:7.1f} s  {progress.sps:6,.0f} steps/s  "
                  f"test return {progress.last_eval['return']:.3f}  train return {progress.recent_return:.3f}",
                  flush=True)

    with tempfile.TemporaryDirectory() as scratch:
        run_dir = Path(args.run_dir) if args.run_dir else Path(scratch) / "run"
        result = train(make_env, config, run_dir, on_progress=show)
        with open(run_dir / "eval.csv", newline="") as handle:
            curve = [(int(float(row["env_steps"])), float(row["value"]))
                     for row in csv.DictReader(handle) if row["metric"] == "return"]
        print(f"\n{result.env_steps:,} env steps, {result.episodes:,} episodes, {result.updates:,} updates "
              f"in {result.wall_seconds:.1f} s")
        print(f"  with learning   {result.env_steps / result.wall_seconds:,.0f} env steps/s")
        print(f"  learner busy    {result.learn_seconds / result.wall_seconds:.0%} of the wall (on its own thread)")
        if result.updates:
            print(f"  updates         {1000 * result.learn_seconds / result.updates:.1f} ms each")
        best = max((r for _, r in curve), default=float("nan"))
        print(f"  test return     final {curve[-1][1]:.3f}, best {best:.3f}" if curve else "  no test run")
        reached = next((s for s, r in curve if r >= 0.9), None)
        print(f"  first >= 0.9    {'never' if reached is None else f'{reached:,} env steps'}")
        if not args.no_eval:
            food_report(run_dir / "checkpoint.pt", key=args.key, time_limit=args.time_limit)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
