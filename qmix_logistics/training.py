"""Train a QMIX/VDN/IQL dispatcher on a scenario (behind `qlog train`).

The learner in ``qmix_logistics.marl`` knows nothing about logistics; this module hands it the
scenario's PettingZoo env factory, the ``training:`` hyperparameters (with CLI overrides), the
teacher's recorded days (:mod:`qmix_logistics.teaching`) and an evaluation that plays the greedy
learned policy and the greedy heuristic on the same fixed seeds.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, Callable, Mapping

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
from qmix_logistics.policies.batching import batching_actions, batching_choices
from qmix_logistics.policies.heuristics import GreedyPolicy
from qmix_logistics.policies.learned import LearnedPolicy
from qmix_logistics.scenario import Scenario, scenario_from_dict
from qmix_logistics.teaching.config import TEACHING_KEYS, TeachingConfig, split_training
from qmix_logistics.teaching.demonstrations import DemonstrationDay, DemonstrationSet, TeacherSettings, demonstrations
from qmix_logistics.teaching.dagger import PlannerRelabeller

DemoFn = Callable[[DemonstrationDay, int, int], None]
"""Called after each teacher day is ready: (day, days ready, days in all)."""

#: Evaluation during training plays seeds from here on (``eval_episodes`` of them); `qlog eval` defaults to
#: other, held-out seeds.
TRAIN_EVAL_SEED_BASE = 50_000


def train_eval_seeds(episodes: int) -> tuple[int, ...]:
    """The seeds of the evaluations during training."""
    return tuple(range(TRAIN_EVAL_SEED_BASE, TRAIN_EVAL_SEED_BASE + episodes))


def selection_seeds(config: LearnerConfig) -> tuple[int, ...]:
    """The seeds on which the candidates for the kept policy play at the end of training: after the
    evaluation's own, far from the held-out days of `qlog eval`."""
    first = TRAIN_EVAL_SEED_BASE + config.eval_episodes
    return tuple(range(first, first + config.select_episodes))


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
    _, learner = split_training(data, source=str(path))  # name the bad field against this file
    LearnerConfig.from_dict(learner, source=str(path))
    return data


def learner_config(scenario: Scenario, overrides: Mapping[str, Any] | None = None) -> LearnerConfig:
    """The learner's part of the scenario's ``training:`` block, validated, with CLI overrides on top."""
    _, block = split_training(scenario.training)
    config = LearnerConfig.from_dict(block)
    _, extra = split_training(dict(overrides or {}), source="--set")
    return config.with_overrides(extra) if extra else config


def teaching_config(scenario: Scenario, overrides: Mapping[str, Any] | None = None) -> TeachingConfig:
    """The teaching part of the scenario's ``training:`` block, with CLI overrides (``--teacher``) on top."""
    merged = {k: v for k, v in scenario.training.items() if k in TEACHING_KEYS}
    merged.update({k: v for k, v in (overrides or {}).items() if k in TEACHING_KEYS})
    return split_training(merged)[0]


def teacher_days(scenario: Scenario, teaching: TeachingConfig, on_day: DemoFn | None = None) -> DemonstrationSet:
    """The teacher's recorded days (played in parallel, or read from the cache)."""
    total = teaching.recorded_days
    ready: list[DemonstrationDay] = []

    def tick(day: DemonstrationDay) -> None:
        ready.append(day)
        if on_day is not None:
            on_day(day, len(ready), total)

    settings = TeacherSettings(teaching.teacher, teaching.teacher_time_limit_s, teaching.teacher_search_budget)
    return demonstrations(scenario, settings, total, executor=teaching.demo_executor, workers=teaching.demo_workers,
                          address=teaching.demo_address, on_day=tick)


def _teaching_record(teaching: TeachingConfig, days: DemonstrationSet | None, seconds: float) -> dict[str, Any]:
    """What a checkpoint says about its teacher: the settings, how much of it the vehicles could express."""
    record: dict[str, Any] = {"config": teaching.model_dump(mode="json")}
    if days is not None and days.days:
        coverage = days.coverage()
        record.update({
            "days": len(days.days), "segments": len(days.episodes), "steps": sum(d.steps for d in days.days),
            "skipped_steps": sum(d.skipped_steps for d in days.days), "decisions": coverage.to_dict(),
            "inexpressible_share": coverage.inexpressible_share, "played": days.played,
            "seconds": seconds, "cache": str(days.cache_dir),
            "teacher_cost_mean": float(np.mean([d.kpis["total_cost"] for d in days.days])),
        })
    return record


def planner_relabeller(scenario: Scenario, teaching: TeachingConfig, seed: int) -> PlannerRelabeller | None:
    """The planner that labels the learner's own states during training (DAgger), when asked for."""
    if teaching.dagger_interval_episodes == 0:
        return None
    return PlannerRelabeller(scenario, teaching.teacher, interval_episodes=teaching.dagger_interval_episodes,
                             steps=teaching.dagger_steps, time_limit_s=teaching.teacher_time_limit_s,
                             search_budget=teaching.teacher_search_budget,
                             workers=teaching.demo_workers, seed=seed)


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


def env_factory(scenario: Scenario, config: LearnerConfig,
                teaching: TeachingConfig | None = None) -> functools.partial:
    """The picklable PettingZoo env factory for the learner's workers. The batching rule suggests an
    action at each step whenever the configuration uses suggestions and a teacher is wanted; it is not
    computed otherwise."""
    uses_suggestions = (config.expert_warmup_episodes > 0 or config.expert_share > 0
                        or (config.margin_on_all_steps and config.demo_loss_weight > 0))
    guided = uses_suggestions and (teaching is None or teaching.guides_exploration)
    if not guided:
        return functools.partial(make_parallel_env, scenario, teacher=None)
    teacher = batching_actions
    if teaching is not None and teaching.teacher == "batching" and (teaching.hold_band_min or teaching.top_up_band):
        teacher = functools.partial(batching_choices, hold_band_min=teaching.hold_band_min,
                                    top_up_band=teaching.top_up_band)
    return functools.partial(make_parallel_env, scenario, teacher=teacher)


class GreedyComparison:
    """Evaluation callback: the learned policy versus the greedy heuristic on fixed seeds.

    The heuristic's results are computed once and reused, so each evaluation costs only the learned
    policy's episodes. With ``against_greedy`` False only the learned policy's figures are reported.
    """

    def __init__(self, scenario: Scenario, seeds: tuple[int, ...], *, against_greedy: bool = True) -> None:
        self.scenario = scenario
        self.seeds = seeds
        self.env = DispatchEnv(scenario)
        self.spec = PolicySpec.of_env(self.env)
        self._greedy = [run_episode(self.env, GreedyPolicy(), s).kpis for s in seeds] if against_greedy else None

    def __call__(self, policy: Any) -> dict[str, float]:
        learned = LearnedPolicy(policy, self.spec, name="learned")
        results = [run_episode(self.env, learned, s) for s in self.seeds]
        cost = np.array([r.kpis["total_cost"] for r in results])
        figures = {
            "return": float(np.mean([r.episode_return for r in results])),
            "total_cost": float(cost.mean()),
            "service_level": float(np.mean([r.kpis["service_level"] for r in results])),
        }
        if self._greedy is not None:
            greedy_cost = np.array([k["total_cost"] for k in self._greedy])
            figures.update({
                "greedy_total_cost": float(greedy_cost.mean()),
                "cost_vs_greedy": float((cost - greedy_cost).mean()),
                "wins_vs_greedy": float(np.sum(cost < greedy_cost)),
            })
        return figures


def evaluations(scenario: Scenario, config: LearnerConfig,
                against_greedy: bool) -> tuple[GreedyComparison | None, GreedyComparison | None]:
    """The training evaluation and the play-off of the candidates for the kept policy (None: the learner's
    own greedy episodes, which report returns only)."""
    if not against_greedy:
        return None, None
    evaluate = GreedyComparison(scenario, train_eval_seeds(config.eval_episodes))
    select = GreedyComparison(scenario, selection_seeds(config), against_greedy=False) \
        if config.select_candidates else None
    return evaluate, select


def train_scenario(
    scenario: Scenario,
    *,
    run_dir: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    on_progress: ProgressFn | None = None,
    on_demonstration: DemoFn | None = None,
    evaluate_against_greedy: bool = True,
) -> TrainResult:
    """Train on ``scenario`` into a new run folder (default ``runs/<scenario>__<seed>__<time>``).

    With a planner teacher, its days are recorded first (or read from the cache); ``on_demonstration``
    hears about each. ``on_progress`` receives the learner's progress snapshots (``qlog train`` draws
    them); without them training prints nothing.
    """
    config = learner_config(scenario, overrides)
    teaching = teaching_config(scenario, overrides)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(scenario, config.seed)
    started = time.perf_counter()
    days = teacher_days(scenario, teaching, on_demonstration) if teaching.recorded_days else None
    metadata = run_metadata(scenario, config.mixer)
    metadata["teaching"] = _teaching_record(teaching, days, time.perf_counter() - started)
    eval_fn, select_fn = evaluations(scenario, config, evaluate_against_greedy)
    return train(env_factory(scenario, config, teaching), config, run_dir, eval_fn=eval_fn, select_fn=select_fn,
                 on_progress=on_progress, extra_metadata=metadata,
                 demonstrations=days.episodes if days is not None else (),
                 relabeller=planner_relabeller(scenario, teaching, config.seed))


def resume_training(
    run_dir: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    on_progress: ProgressFn | None = None,
    on_demonstration: DemoFn | None = None,
    evaluate_against_greedy: bool = True,
) -> TrainResult:
    """Continue a run exactly where its checkpoint stopped (same counters, schedule and logs).

    The teacher's recorded days come back from the cache (or are recorded again if it is gone)."""
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
    teaching_keys = sorted(set(overrides or {}) & TEACHING_KEYS)
    if teaching_keys:
        raise QlogError("the teacher of a run cannot change when it is resumed; start a new run",
                        source=str(path), field=f"training.{teaching_keys[0]}")
    learner_overrides = {k: v for k, v in (overrides or {}).items() if k not in TEACHING_KEYS}
    if learner_overrides:
        config = config.with_overrides(learner_overrides)
    teaching = TeachingConfig.model_validate(metadata.get("teaching", {}).get("config", {}))
    days = teacher_days(scenario, teaching, on_demonstration) if teaching.recorded_days else None
    eval_fn, select_fn = evaluations(scenario, config, evaluate_against_greedy)
    return train(env_factory(scenario, config, teaching), config, run_dir, eval_fn=eval_fn, select_fn=select_fn,
                 resume=True, on_progress=on_progress, extra_metadata=metadata,
                 demonstrations=days.episodes if days is not None else (),
                 relabeller=planner_relabeller(scenario, teaching, config.seed))
