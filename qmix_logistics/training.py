"""Train a QMIX/VDN/IQL dispatcher on a scenario (behind `qlog train`).

The learner in ``qmix_logistics.marl`` knows nothing about logistics; this module hands it the
scenario's PettingZoo env factory, the ``training:`` hyperparameters (with CLI overrides), and an
evaluation that plays the greedy learned policy and the greedy heuristic on the same fixed seeds.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.env.parallel_env import make_parallel_env
from qmix_logistics.evaluation.rollout import run_episode
from qmix_logistics.marl import (
    CHECKPOINT_NAME,
    LearnerConfig,
    ProgressFn,
    TrainResult,
    load_checkpoint,
    train,
)
from qmix_logistics.policies.base import PolicySpec
from qmix_logistics.policies.batching import batching_actions
from qmix_logistics.policies.heuristics import GreedyPolicy
from qmix_logistics.policies.learned import LearnedPolicy
from qmix_logistics.scenario import Scenario, scenario_from_dict

#: Evaluation during training uses these seeds; `qlog eval` defaults to other, held-out seeds.
TRAIN_EVAL_SEEDS = tuple(range(50_000, 50_004))


def default_run_dir(scenario: Scenario, seed: int, root: str | Path = "runs") -> Path:
    """``runs/<scenario>__<seed>__<time>``: one folder per run."""
    return Path(root) / f"{scenario.name}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def load_training_file(path: str | Path) -> dict[str, Any]:
    """Hyperparameters from a YAML file: either a plain mapping or one under a ``training:`` key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise QlogError(f"cannot read: {exc.strerror}", source=str(path)) from None
    except yaml.YAMLError:
        raise QlogError("not valid YAML", source=str(path)) from None
    if isinstance(data, dict) and isinstance(data.get("training"), dict):
        data = data["training"]
    if not isinstance(data, dict):
        raise QlogError("expected a mapping of hyperparameters", source=str(path))
    LearnerConfig.from_dict(data, source=str(path))  # name the bad field against this file
    return data


def learner_config(scenario: Scenario, overrides: Mapping[str, Any] | None = None) -> LearnerConfig:
    """The scenario's ``training:`` block, validated, with CLI overrides on top."""
    config = LearnerConfig.from_dict(scenario.training)
    return config.with_overrides(dict(overrides or {})) if overrides else config


def run_metadata(scenario: Scenario, mixer: str) -> dict[str, Any]:
    """What a dispatch checkpoint records besides the learner's own state: the scenario, the policy spec
    (fleet, observation size, action meanings and observation layout, checked wherever the policy is
    loaded or served), and the mixer. ``action_meanings`` and ``observation_layout`` stay as their own
    keys for readers of older checkpoints."""
    spec = PolicySpec.of_env(DispatchEnv(scenario))
    return {
        "scenario": scenario.model_dump(mode="json"),
        "policy_spec": spec.to_dict(),
        "action_meanings": list(spec.action_meanings),
        "observation_layout": spec.observation_layout,
        "mixer": mixer,
    }


def env_factory(scenario: Scenario, config: LearnerConfig) -> functools.partial:
    """The picklable PettingZoo env factory for the learner's workers; the batching rule is the teacher
    whenever the configuration learns from demonstrations (and is not computed otherwise)."""
    uses_teacher = (config.expert_warmup_episodes > 0 or config.expert_share > 0
                    or (config.margin_on_all_steps and config.demo_loss_weight > 0))
    return functools.partial(make_parallel_env, scenario, teacher=batching_actions if uses_teacher else None)


class GreedyComparison:
    """Evaluation callback: the learned policy versus the greedy heuristic on fixed seeds.

    The heuristic's results are computed once and reused, so each evaluation costs only the learned
    policy's episodes.
    """

    def __init__(self, scenario: Scenario, seeds: tuple[int, ...] = TRAIN_EVAL_SEEDS) -> None:
        self.scenario = scenario
        self.seeds = seeds
        self.env = DispatchEnv(scenario)
        self.spec = PolicySpec.of_env(self.env)
        self._greedy = [run_episode(self.env, GreedyPolicy(), s).kpis for s in seeds]

    def __call__(self, policy: Any) -> dict[str, float]:
        learned = LearnedPolicy(policy, self.spec, name="learned")
        results = [run_episode(self.env, learned, s) for s in self.seeds]
        cost = np.array([r.kpis["total_cost"] for r in results])
        greedy_cost = np.array([k["total_cost"] for k in self._greedy])
        return {
            "return": float(np.mean([r.episode_return for r in results])),
            "total_cost": float(cost.mean()),
            "service_level": float(np.mean([r.kpis["service_level"] for r in results])),
            "greedy_total_cost": float(greedy_cost.mean()),
            "cost_vs_greedy": float((cost - greedy_cost).mean()),
            "wins_vs_greedy": float(np.sum(cost < greedy_cost)),
        }


def train_scenario(
    scenario: Scenario,
    *,
    run_dir: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    on_progress: ProgressFn | None = None,
    evaluate_against_greedy: bool = True,
) -> TrainResult:
    """Train on ``scenario`` into a new run folder (default ``runs/<scenario>__<seed>__<time>``).

    ``on_progress`` receives the learner's progress snapshots (``qlog train`` draws them); without it
    training prints nothing.
    """
    config = learner_config(scenario, overrides)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(scenario, config.seed)
    metadata = run_metadata(scenario, config.mixer)
    eval_fn = GreedyComparison(scenario) if evaluate_against_greedy else None
    return train(env_factory(scenario, config), config, run_dir, eval_fn=eval_fn,
                 on_progress=on_progress, extra_metadata=metadata)


def resume_training(
    run_dir: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    on_progress: ProgressFn | None = None,
    evaluate_against_greedy: bool = True,
) -> TrainResult:
    """Continue a run exactly where its checkpoint stopped (same counters, schedule and logs)."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT_NAME
    if not path.is_file():
        raise QlogError("nothing to resume: no checkpoint in this folder", source=str(run_dir), field="--resume")
    data = load_checkpoint(path)
    metadata = data["metadata"]
    if "scenario" not in metadata:
        raise QlogError("the checkpoint carries no scenario", source=str(path))
    scenario = scenario_from_dict(metadata["scenario"], source=str(path))
    config = LearnerConfig.from_dict(data["config"], source=str(path), prefix="config")
    if overrides:
        config = config.with_overrides(dict(overrides))
    eval_fn = GreedyComparison(scenario) if evaluate_against_greedy else None
    return train(env_factory(scenario, config), config, run_dir, eval_fn=eval_fn,
                 resume=True, on_progress=on_progress, extra_metadata=metadata)
