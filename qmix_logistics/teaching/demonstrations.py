"""Demonstration days: a teacher dispatches whole days, recorded as the learner's episodes, cached on disk.

A planner teacher spends a quarter of a second per re-plan, so a day of demonstrations costs tens of
seconds where a learner's day costs one. Days are therefore played in parallel processes (all local
cores by default, or a Ray cluster) and each day is cached as one compressed file under
``<cache>/demonstrations/<key>/<seed>.npz``, keyed by the scenario (without its ``training:`` block),
the teacher and its settings, the observation layout and the package version. A second training run
with the same key plays no day again.

In a demonstration the teacher dispatches the day itself, so the day keeps the teacher's quality. A
step where some deciding vehicle's decision is inexpressible (label -1) is carried out but not
recorded: the day is recorded as segments between such steps (each segment is an episode that ends
truncated, bootstrapping from the state where it stops), so every recorded step is a joint action
the learned fleet could take itself. Replacing an inexpressible decision by some other action
instead (tried: the batching rule's, or waiting) breaks the teacher's plan for the whole fleet and
costs it most of its quality.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from qmix_logistics import __version__
from qmix_logistics.common.atomic_io import atomic_path
from qmix_logistics.common.parallel import parallel_map
from qmix_logistics.env import OBSERVATION_LAYOUT, DispatchEnv
from qmix_logistics.marl.buffer import Episode
from qmix_logistics.scenario import Scenario, scenario_from_dict
from qmix_logistics.teaching.teacher import Coverage, PlannerTeacher, make_teacher

#: Demonstration days use seeds from here on: far from `qlog eval`'s defaults and the trainer's own seeds.
DEMO_SEED_BASE = 2_000_000
CACHE_ENV = "QLOG_CACHE_DIR"


def cache_root() -> Path:
    """``$QLOG_CACHE_DIR``, else ``~/.cache/qmix-logistics``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "qmix-logistics"


@dataclass(frozen=True)
class TeacherSettings:
    """What identifies a teacher's demonstrations (part of the cache key)."""

    name: str
    planner_time_limit_s: float | None = None
    planner_search_budget: str = "time"

    def to_dict(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"name": self.name, "planner_time_limit_s": self.planner_time_limit_s}
        if self.planner_search_budget != "time":  # days cached before the setting existed keep their key
            settings["planner_search_budget"] = self.planner_search_budget
        return settings


@dataclass
class DemonstrationDay:
    """One recorded day: its segments in the learner's episode format, and what the teacher did."""

    seed: int
    segments: list[Episode]
    coverage: dict[str, int]
    kpis: dict[str, float]
    wall_s: float
    skipped_steps: int = 0
    """Steps carried out but not recorded (some deciding vehicle's decision was inexpressible)."""
    cached: bool = False

    @property
    def steps(self) -> int:
        return sum(e.length for e in self.segments)


@dataclass
class DemonstrationSet:
    """The days of one teacher, with what they cost to make."""

    days: list[DemonstrationDay] = field(default_factory=list)
    cache_dir: Path | None = None

    @property
    def episodes(self) -> list[Episode]:
        """Every recorded segment of every day, in day order."""
        return [e for d in self.days for e in d.segments]

    def coverage(self) -> Coverage:
        total = Coverage()
        for d in self.days:
            total.counts.update(d.coverage)
        return total

    @property
    def played(self) -> int:
        return sum(not d.cached for d in self.days)


def cache_key(scenario: Scenario, teacher: TeacherSettings) -> str:
    """A short hash of everything a recorded day depends on."""
    described = scenario.model_dump(mode="json", exclude={"training"})
    blob = json.dumps({"scenario": described, "teacher": teacher.to_dict(), "layout": OBSERVATION_LAYOUT,
                       "version": __version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


MIN_SEGMENT_STEPS = 2


class SegmentRecorder:
    """Growing arrays of one recorded segment (of a teacher's day, or of a learner's day that DAgger labels)."""

    def __init__(self, obs: np.ndarray, masks: np.ndarray, state: np.ndarray) -> None:
        self.obs, self.avail, self.state = [obs.copy()], [masks.copy()], [state]
        self.actions: list[np.ndarray] = []
        self.rewards: list[np.float32] = []
        self.durations: list[np.float32] = []

    def add(self, actions: np.ndarray, reward: float, minutes: float, obs: np.ndarray, masks: np.ndarray,
            state: np.ndarray) -> None:
        self.actions.append(actions)
        self.rewards.append(np.float32(reward))
        self.durations.append(np.float32(minutes))
        self.obs.append(obs.copy())
        self.avail.append(masks.copy())
        self.state.append(state)

    def episode(self, seed: int, terminated: bool, expert: np.ndarray | None = None) -> Episode:
        """The segment as a demonstration; ``expert`` holds its labels (default: the actions taken)."""
        actions = np.stack(self.actions).astype(np.int64)
        labels = actions.copy() if expert is None else np.asarray(expert, dtype=np.int64)
        return Episode(obs=np.stack(self.obs).astype(np.float32), state=np.stack(self.state).astype(np.float32),
                       avail=np.stack(self.avail).astype(bool), actions=actions,
                       rewards=np.asarray(self.rewards, dtype=np.float32), terminated=terminated, seed=seed,
                       expert=labels, demo=True, durations=np.asarray(self.durations, dtype=np.float32))


def record_day(scenario: Scenario, teacher: Callable[[DispatchEnv], np.ndarray], seed: int) -> DemonstrationDay:
    """Let ``teacher`` dispatch the day of ``seed`` and record the expressible stretches as episodes."""
    started = time.perf_counter()
    env = DispatchEnv(scenario)
    obs, masks = env.reset(seed=seed)
    if isinstance(teacher, PlannerTeacher):
        teacher.coverage = Coverage()
    segments: list[Episode] = []
    current: SegmentRecorder | None = SegmentRecorder(obs, masks, env.state())
    done = env.done
    info: dict[str, Any] = {}
    skipped = 0
    while not done:
        if isinstance(teacher, PlannerTeacher):
            labels, commands = teacher.decide(env)
        else:
            labels = np.asarray(teacher(env), dtype=np.int64)
            commands = None
        expressible = bool(np.all(labels >= 0))
        before = env.world.now
        if expressible:
            obs, masks, reward, done, info = env.step(labels)
        else:
            obs, masks, reward, done, info = env.step_commands(commands)  # the teacher's own decisions
            skipped += 1
        if expressible and current is not None:
            current.add(labels, reward, env.world.now - before, obs, masks, env.state())
        else:
            if current is not None and len(current.actions) >= MIN_SEGMENT_STEPS:
                segments.append(current.episode(seed, terminated=False))
            current = None if done else SegmentRecorder(obs, masks, env.state())
    if current is not None and len(current.actions) >= MIN_SEGMENT_STEPS:
        segments.append(current.episode(seed, terminated=True))
    coverage = teacher.coverage.to_dict() if isinstance(teacher, PlannerTeacher) else {}
    return DemonstrationDay(seed, segments, coverage, dict(info.get("kpis", env.kpis())),
                            time.perf_counter() - started, skipped)


@dataclass(frozen=True)
class _DayJob:
    """One day to play in a worker process (plain data, so it pickles for a pool or Ray)."""

    scenario: dict[str, Any]
    teacher: TeacherSettings
    seed: int
    path: str


def _play_job(job: _DayJob) -> DemonstrationDay:
    scenario = scenario_from_dict(job.scenario, source="demonstration job")
    teacher = make_teacher(job.teacher.name, planner_time_limit_s=job.teacher.planner_time_limit_s,
                           planner_search_budget=job.teacher.planner_search_budget)
    day = record_day(scenario, teacher, job.seed)
    save_day(day, Path(job.path))
    return day


_FIELDS = ("obs", "state", "avail", "actions", "rewards", "durations")


def save_day(day: DemonstrationDay, path: Path) -> None:
    """Write one day atomically (a stopped run never leaves half a file in the cache)."""
    meta = json.dumps({"coverage": day.coverage, "kpis": day.kpis, "wall_s": day.wall_s, "seed": day.seed,
                       "skipped_steps": day.skipped_steps, "terminated": [e.terminated for e in day.segments]})
    arrays = {f"{i}_{name}": getattr(e, name) for i, e in enumerate(day.segments) for name in _FIELDS}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, meta=np.frombuffer(meta.encode(), np.uint8), **arrays)


def load_day(path: Path) -> DemonstrationDay:
    with np.load(path) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        segments = []
        for i, terminated in enumerate(meta["terminated"]):
            parts = {name: data[f"{i}_{name}"] for name in _FIELDS}
            segments.append(Episode(**parts, terminated=bool(terminated), seed=int(meta["seed"]),
                                    expert=parts["actions"].copy(), demo=True))
    return DemonstrationDay(int(meta["seed"]), segments, meta["coverage"], meta["kpis"], float(meta["wall_s"]),
                            int(meta["skipped_steps"]), cached=True)


def demonstrations(
    scenario: Scenario,
    teacher: TeacherSettings,
    days: int,
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    cache: Path | None = None,
    on_day: Callable[[DemonstrationDay], None] | None = None,
) -> DemonstrationSet:
    """``days`` demonstration days of ``teacher`` on seeds ``DEMO_SEED_BASE + i``, from the cache where present."""
    folder = (cache or cache_root()) / "demonstrations" / cache_key(scenario, teacher)
    seeds = [DEMO_SEED_BASE + i for i in range(days)]
    paths = {s: folder / f"{s}.npz" for s in seeds}
    found: dict[int, DemonstrationDay] = {}
    for s, p in paths.items():
        if p.is_file():
            try:
                found[s] = load_day(p)
            except (OSError, ValueError, KeyError):
                continue  # a damaged file is played again and overwritten
            if on_day is not None:
                on_day(found[s])
    missing = [s for s in seeds if s not in found]
    if missing:
        described = scenario.model_dump(mode="json")
        jobs = [_DayJob(described, teacher, s, str(paths[s])) for s in missing]
        played = parallel_map(_play_job, jobs, executor=executor, workers=workers, address=address,
                              on_result=(lambda _i, day: on_day(day)) if on_day is not None else None)
        found.update(zip(missing, played))
    return DemonstrationSet([found[s] for s in seeds], folder)


