"""A rolling-horizon planner labels the learner's own states (DAgger for dispatch).

The learner's training days are reproducible from their seed and actions, so a stretch of one is replayed
in a fresh env up to its start, and from there on every step is shown to the planner, which plans the
fleet from scratch at that state and labels each deciding vehicle with its next command (mapped onto the
vehicle's actions as for recorded days; -1 where the vehicle cannot say it). The learner's own action is
what the env then carries out, so the stretch stays on the learner's path: the labels say what the
planner would do in the states the learner reaches, not in the states the planner would have reached.

A fresh plan per step costs one search (0.25 s on depot.yaml), so a stretch of ``dagger_steps`` steps is
labelled per episode, the episodes of a round in parallel processes that stay up for the whole run.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from qmix_logistics.common.parallel import default_workers, process_pool
from qmix_logistics.env import DispatchEnv
from qmix_logistics.marl.buffer import Episode
from qmix_logistics.scenario import Scenario, scenario_from_dict
from qmix_logistics.teaching.demonstrations import SegmentRecorder
from qmix_logistics.teaching.teacher import PlannerTeacher, make_teacher


@dataclass(frozen=True)
class StretchJob:
    """One stretch of a learner's episode to label (plain data, so it pickles for a worker process)."""

    scenario: dict[str, Any]
    teacher: str
    time_limit_s: float | None
    search_budget: str
    seed: int
    actions: np.ndarray
    """[T, n_agents] the learner's actions over the whole episode."""
    start: int
    """First step of the stretch."""
    steps: int
    """Steps in the stretch."""


def stretch_start(episode_length: int, steps: int, rng: np.random.Generator) -> int:
    """A uniformly drawn first step of a stretch of ``steps`` steps inside an episode."""
    return int(rng.integers(0, max(1, episode_length - steps + 1)))


def label_stretch(job: StretchJob) -> Episode:
    """Replay the episode to ``job.start``, then label ``job.steps`` steps with fresh plans (see the module)."""
    scenario = scenario_from_dict(job.scenario, source="DAgger job")
    teacher = make_teacher(job.teacher, planner_time_limit_s=job.time_limit_s, planner_search_budget=job.search_budget)
    if not isinstance(teacher, PlannerTeacher):
        raise ValueError(f"DAgger needs a planner teacher, got {job.teacher!r}")
    return replay_and_label(scenario, teacher, job.seed, job.actions, job.start, job.steps)


def replay_and_label(scenario: Scenario, teacher: PlannerTeacher, seed: int, actions: np.ndarray, start: int,
                     steps: int) -> Episode:
    """The stretch ``start .. start + steps`` of the episode of ``seed`` played with ``actions``, as an episode
    whose ``expert`` holds the teacher's labels (the episode ends truncated unless the day ended in it)."""
    env = DispatchEnv(scenario)
    env.reset(seed=seed)
    for t in range(start):
        env.step(actions[t])
    stretch = SegmentRecorder(env.observations(), env.action_masks(), env.state())
    labels = []
    done = False
    for t in range(start, min(start + steps, len(actions))):
        labels.append(teacher.decide(env, fresh=True)[0])
        before = env.world.now
        obs, masks, reward, done, _ = env.step(actions[t])
        stretch.add(actions[t], reward, env.world.now - before, obs, masks, env.state())
        if done:
            break
    return stretch.episode(seed, terminated=done, expert=np.stack(labels))


class PlannerRelabeller:
    """The :class:`qmix_logistics.marl.relabel.Relabeller` of a dispatch run: a planner labels a stretch of
    each episode of the round that crosses every ``interval_episodes`` (in worker processes kept for the run)."""

    def __init__(self, scenario: Scenario, teacher: str, *, interval_episodes: int, steps: int,
                 time_limit_s: float | None = None, search_budget: str = "time", workers: int | None = None,
                 seed: int = 0) -> None:
        self.interval_episodes = interval_episodes
        self.steps = steps
        self._scenario = scenario.model_dump(mode="json")
        self._teacher, self._time_limit_s, self._search_budget = teacher, time_limit_s, search_budget
        self._workers = workers or default_workers()
        self._rng = np.random.default_rng([seed, 3])
        self._pool: ProcessPoolExecutor | None = None

    def __call__(self, episodes: Sequence[Episode]) -> list[Episode]:
        jobs = [StretchJob(self._scenario, self._teacher, self._time_limit_s, self._search_budget, e.seed,
                           e.actions, stretch_start(e.length, self.steps, self._rng), self.steps) for e in episodes]
        if self._workers == 1 or len(jobs) == 1:
            return [label_stretch(job) for job in jobs]
        if self._pool is None:
            self._pool = process_pool(self._workers)
        return list(self._pool.map(label_stretch, jobs))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
