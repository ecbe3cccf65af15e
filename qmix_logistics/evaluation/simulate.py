"""Run a policy for several days of one scenario and summarise the KPIs (behind `qlog simulate`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.rollout import EpisodeResult, run_episode
from qmix_logistics.policies import make_policy
from qmix_logistics.policies.base import Policy
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.kpis import KPI_DIRECTIONS


@dataclass
class SimulationReport:
    scenario: str
    policy: str
    episodes: list[EpisodeResult]

    def summary(self) -> dict[str, dict[str, float]]:
        """Per KPI: mean, std, min and max over episodes."""
        out = {}
        for k in KPI_DIRECTIONS:
            vals = np.array([e.kpis[k] for e in self.episodes])
            out[k] = {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                      "min": float(vals.min()), "max": float(vals.max())}
        return out

    def to_dict(self) -> dict:
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "summary": self.summary(),
            "episodes": [
                {"seed": e.seed, "return": e.episode_return, "steps": e.steps, "kpis": e.kpis,
                 "decision_ms_mean": float(np.mean(e.decision_ms)) if e.decision_ms else 0.0}
                for e in self.episodes
            ],
        }


def episode_seeds(scenario: Scenario, episodes: int, seed: int | None) -> list[int]:
    """Seeds of a run: ``seed, seed+1, ...`` (default: the scenario's seed)."""
    first = scenario.seed if seed is None else seed
    return [first + i for i in range(episodes)]


def simulate(
    scenario: Scenario,
    policy: str | Policy,
    *,
    episodes: int = 5,
    seed: int | None = None,
    on_episode: Callable[[EpisodeResult], None] | None = None,
) -> SimulationReport:
    """Play ``episodes`` days with one policy on the scenario's seeded order streams."""
    pol = make_policy(policy, scenario) if isinstance(policy, str) else policy
    env = DispatchEnv(scenario)
    results = []
    try:
        for s in episode_seeds(scenario, episodes, seed):
            res = run_episode(env, pol, s)
            results.append(res)
            if on_episode is not None:
                on_episode(res)
    finally:
        close = getattr(pol, "close", None)
        if callable(close):
            close()
    return SimulationReport(scenario.name, getattr(pol, "name", str(policy)), results)
