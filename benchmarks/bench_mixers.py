"""What each mixer costs: trained parameters and wall time of one gradient update, on one CPU thread.

Two batch shapes: the matrix game's (32 one-step episodes, 2 agents, 3 actions) and a larger synthetic
one (32 windows of 64 steps, 8 agents, 10 actions, 32-dim observations, 64-dim state), which is closer to
a dispatch run. Updates run on random data: the cost of an update does not depend on what it learns.
Prints a table; asserts nothing.

    python benchmarks/bench_mixers.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from qmix_logistics.marl import EnvSpec, Episode, EpisodeBuffer, LearnerConfig, QLearner

MIXERS = ("iql", "vdn", "qmix", "qplex", "cw_qmix", "ow_qmix", "qtran")


def random_buffer(spec: EnvSpec, episodes: int, length: int, rng: np.random.Generator) -> EpisodeBuffer:
    """A buffer of random episodes of the given sizes."""
    n, a = spec.n_agents, spec.n_actions
    buffer = EpisodeBuffer(n, spec.obs_dim, spec.state_dim, a, memory_mb=64)
    for index in range(episodes):
        buffer.add(Episode(
            obs=rng.standard_normal((length + 1, n, spec.obs_dim)).astype(np.float32),
            state=rng.standard_normal((length + 1, spec.state_dim)).astype(np.float32),
            avail=np.ones((length + 1, n, a), dtype=bool),
            actions=rng.integers(a, size=(length, n)),
            rewards=rng.standard_normal(length).astype(np.float32),
            terminated=True,
            seed=index,
        ))
    return buffer


def measure(spec: EnvSpec, config: LearnerConfig, buffer: EpisodeBuffer, repeats: int) -> tuple[int, float]:
    """(trained parameters, median milliseconds per update) after a few warm-up updates."""
    torch.manual_seed(0)
    learner = QLearner(spec, config)
    rng = np.random.default_rng(0)
    batches = [buffer.sample(config.batch_size, rng) for _ in range(repeats + 3)]
    times = []
    for index, batch in enumerate(batches):
        started = time.perf_counter()
        learner.train(batch)
        if index >= 3:
            times.append((time.perf_counter() - started) * 1000.0)
    return sum(p.numel() for p in learner.params), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="Timed updates per mixer and shape.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    shapes = {
        "matrix game": (EnvSpec(("agent_0", "agent_1"), 2, 2, 3), 1,
                        {"agent_hidden_dim": 16, "mixer_embed_dim": 8, "hypernet_hidden_dim": 16,
                         "central_hidden_dim": 64}),
        "8 agents x 64 steps": (EnvSpec(tuple(f"v{i}" for i in range(8)), 32, 64, 10), 64, {}),
    }
    print(f"{'shape':<22}{'mixer':<10}{'parameters':>12}{'ms/update':>12}")
    for label, (spec, length, sizes) in shapes.items():
        buffer = random_buffer(spec, 64, length, rng)
        for mixer in MIXERS:
            config = LearnerConfig(mixer=mixer, batch_size=32, device="cpu", **sizes)
            params, ms = measure(spec, config, buffer, args.repeats)
            print(f"{label:<22}{mixer:<10}{params:>12,}{ms:>12.1f}")


if __name__ == "__main__":
    main()
