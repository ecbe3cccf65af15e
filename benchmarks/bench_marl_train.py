"""Training throughput of the MARL learner: env steps per second, collection and learning included.

Prints figures, asserts nothing. Envs:
  two-step              the QMIX paper's matrix game (tiny; measures per-step overhead)
  synthetic             a random env of logistics size: 8 agents, 150 obs floats, 15 masked actions, 500 steps
  package.module:func   any picklable ``make_env(seed)`` factory

    python benchmarks/bench_marl_train.py --env synthetic --steps 20000 --n-envs 2
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class SyntheticFleetEnv(ParallelEnv):
    """Random observations and masks of logistics-like size; the reward is noise. Only for timing."""

    metadata = {"name": "synthetic_fleet_v0"}

    def __init__(self, seed: int, n_agents: int = 8, obs_dim: int = 150, n_actions: int = 15, length: int = 500):
        self.possible_agents = [f"vehicle_{i}" for i in range(n_agents)]
        self.agents: list[str] = []
        self.obs_dim, self.n_actions, self.length = obs_dim, n_actions, length
        self._rng = np.random.default_rng(seed)
        self._t = 0
        self._obs_space = spaces.Dict(
            {
                "observation": spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32),
                "action_mask": spaces.Box(0, 1, shape=(n_actions,), dtype=np.int8),
            }
        )

    def observation_space(self, agent: str) -> spaces.Dict:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(self.n_actions)

    def state(self) -> np.ndarray:
        return self._rng.standard_normal(4 * len(self.possible_agents) + 32).astype(np.float32)

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        masks = (self._rng.random((len(self.possible_agents), self.n_actions)) < 0.5).astype(np.int8)
        masks[:, 0] = 1  # "wait" is always allowed
        return {
            agent: {"observation": self._rng.standard_normal(self.obs_dim).astype(np.float32), "action_mask": masks[i]}
            for i, agent in enumerate(self.possible_agents)
        }

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents, self._t = list(self.possible_agents), 0
        return self._observations(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        self._t += 1
        done = self._t >= self.length
        reward = float(self._rng.normal(10.0, 5.0))
        agents = list(self.agents)
        if done:
            self.agents = []
        return (
            self._observations(),
            {a: reward for a in agents},
            {a: False for a in agents},
            {a: done for a in agents},
            {a: {} for a in agents},
        )


def make_synthetic_env(seed: int) -> SyntheticFleetEnv:
    return SyntheticFleetEnv(seed)


def resolve_env(spec: str) -> Any:
    if spec.endswith((".yaml", ".yml")):  # a dispatch scenario: its PettingZoo env
        import functools

        from qmix_logistics.env.parallel_env import make_parallel_env
        from qmix_logistics.scenario import load_scenario

        return functools.partial(make_parallel_env, load_scenario(spec))
    if spec == "synthetic":
        return make_synthetic_env
    if spec == "two-step":
        from qmix_logistics.marl.testing import make_two_step_game

        return make_two_step_game
    module_name, _, function_name = spec.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="two-step", help="two-step | synthetic | SCENARIO.yaml | package.module:function")
    parser.add_argument("--steps", type=int, default=4000, help="env steps to train for")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--n-envs", type=int, default=1, help="envs stepped in lockstep")
    parser.add_argument("--env-workers", type=int, default=None,
                        help="processes that step them (default: chosen from the measured step time)")
    parser.add_argument("--sequential", action="store_true",
                        help="update between rounds instead of during the next one (learn_during_collection off)")
    parser.add_argument("--mixer", choices=["qmix", "vdn", "iql", "qplex", "cw_qmix", "ow_qmix", "qtran"], default="qmix")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk-len", type=int, default=None, help="default: whole short episodes, else 64")
    parser.add_argument("--burn-in", type=int, default=16)
    parser.add_argument("--updates-per-episode", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    from qmix_logistics.marl import EnvRunner, LearnerConfig, train

    config = LearnerConfig(
        mixer=args.mixer,
        batch_size=args.batch_size,
        chunk_len=args.chunk_len,
        burn_in=args.burn_in,
        updates_per_episode=args.updates_per_episode,
        learning_starts=0,
        total_env_steps=args.steps,
        n_envs=args.n_envs,
        env_workers=args.env_workers,
        learn_during_collection=not args.sequential,
        buffer_mb=256,
        eval_interval_steps=10**12,
        eval_episodes=1,
        checkpoint_interval_steps=10**12,
        log_interval_steps=10**12,
        torch_threads=args.threads,
        device=args.device,
    )
    started = time.perf_counter()  # spawned workers import torch and the env's modules before the first episode
    with EnvRunner(resolve_env(args.env), args.n_envs, workers=args.env_workers) as runner:
        startup_seconds, layout = time.perf_counter() - started, runner.describe()
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(resolve_env(args.env), config, run_dir)
    collect_seconds = result.wall_seconds - result.learn_seconds
    print(f"env={args.env} mixer={args.mixer} device={args.device} threads={args.threads}: {layout}"
          f"{', updates between rounds' if args.sequential else ', updates during the next round'}")
    print(f"  env steps            {result.env_steps:,} in {result.episodes:,} episodes")
    print(f"  wall                 {result.wall_seconds:.2f} s (learning {result.learn_seconds:.2f} s)")
    print(f"  start-up             {startup_seconds:.2f} s for the envs (before training, not in wall)")
    print(f"  throughput           {result.env_steps / result.wall_seconds:,.0f} env steps/s (collection + learning)")
    if args.sequential:
        print(f"  collection only      {result.env_steps / max(collect_seconds, 1e-9):,.0f} env steps/s")
    else:
        print(f"  learner busy         {result.learn_seconds / result.wall_seconds:.0%} of the wall (on its own thread)")
    if result.updates:
        per_update_ms = 1000 * result.learn_seconds / result.updates
        print(f"  gradient updates     {result.updates:,} at {per_update_ms:.1f} ms each")


if __name__ == "__main__":
    main()
