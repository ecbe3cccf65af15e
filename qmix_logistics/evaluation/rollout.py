"""Run one day with one policy and collect what evaluation needs: KPIs, return and decision times."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.base import Policy


@dataclass
class EpisodeResult:
    policy: str
    seed: int
    kpis: dict[str, float]
    episode_return: float
    steps: int
    decision_ms: list[float] = field(default_factory=list)  # wall time per step's decision, per vehicle decision
    planner: dict[str, float] | None = None
    """A planner's own account of the day (re-plans, engine retries, failures, infeasible plans, solve
    seconds), from its ``episode_stats()``; None for policies that do not plan."""

    @property
    def compute_s(self) -> float:
        return float(np.sum(self.decision_ms)) / 1e3


def run_episode(env: DispatchEnv, policy: Policy, seed: int) -> EpisodeResult:
    """Play the day of ``seed``; the order stream depends on the seed only, never on the policy."""
    env.reset(seed=seed)
    policy.reset(env, seed)
    total, steps = 0.0, 0
    decision_ms: list[float] = []
    done = env.done
    while not done:
        n_deciding = max(1, len(env.world.pending_decisions()))
        t0 = time.perf_counter()
        commands = policy.act(env)
        elapsed = (time.perf_counter() - t0) * 1e3
        decision_ms.append(elapsed / n_deciding)
        _, _, reward, done, _ = env.step_commands(commands)
        total += reward
        steps += 1
    stats = getattr(policy, "episode_stats", None)
    planner = {k: float(v) for k, v in stats().items()} if callable(stats) else None
    return EpisodeResult(policy.name, seed, env.kpis(), total, steps, decision_ms, planner)
