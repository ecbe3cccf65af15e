"""Demonstration days: a teacher dispatches whole days, recorded as the learner's episodes, cached on disk.

A planner teacher spends a quarter of a second per re-plan, so a day of demonstrations costs tens of
seconds where a learner's day costs one. Days are therefore played in parallel processes (all local
cores by default, or a Ray cluster) and each day is cached as one compressed file under
``<cache>/demonstrations/<key>/<seed>.npz``, keyed by the scenario (without its ``training:`` block),
the teacher and its settings, the observation layout and the package version. A second training run
with the same key plays no day again.

In a demonstration the vehicles carry out the teacher's labels; where the teacher's decision is
inexpressible (label -1) the batching rule's action is played instead and no label is recorded, so
every recorded step is a step the learned policy could take itself.
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
from qmix_logistics.teaching.teacher import Coverage, PlannerTeacher, make_teacher, playable

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

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "planner_time_limit_s": self.planner_time_limit_s}


@dataclass
class DemonstrationDay:
    """One recorded day: the episode in the learner's format, and what the teacher did."""

    episode: Episode
    coverage: dict[str, int]
    kpis: dict[str, float]
    wall_s: float
    cached: bool = False


@dataclass
class DemonstrationSet:
    """The days of one teacher, with what they cost to make."""

    days: list[DemonstrationDay] = field(default_factory=list)
    cache_dir: Path | None = None

    @property
    def episodes(self) -> list[Episode]:
        return [d.episode for d in self.days]

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


def record_day(scenario: Scenario, teacher: Callable[[DispatchEnv], np.ndarray], seed: int) -> DemonstrationDay:
    """Play the day of ``seed`` with ``teacher`` and record it as an episode of the learner."""
    started = time.perf_counter()
    env = DispatchEnv(scenario)
    obs, masks = env.reset(seed=seed)
    rec: dict[str, list[np.ndarray]] = {"obs": [obs.copy()], "avail": [masks.copy()], "state": [env.state()],
                                        "actions": [], "expert": [], "rewards": []}
    if isinstance(teacher, PlannerTeacher):
        teacher.coverage = Coverage()
    done = env.done
    info: dict[str, Any] = {}
    while not done:
        labels = np.asarray(teacher(env), dtype=np.int64)
        actions = playable(env, labels)
        obs, masks, reward, done, info = env.step(actions)
        rec["actions"].append(actions)
        rec["expert"].append(labels)
        rec["rewards"].append(np.float32(reward))
        rec["obs"].append(obs.copy())
        rec["avail"].append(masks.copy())
        rec["state"].append(env.state())
    episode = Episode(
        obs=np.stack(rec["obs"]).astype(np.float32), state=np.stack(rec["state"]).astype(np.float32),
        avail=np.stack(rec["avail"]).astype(bool), actions=np.stack(rec["actions"]).astype(np.int64),
        rewards=np.asarray(rec["rewards"], dtype=np.float32), terminated=True, seed=seed,
        expert=np.stack(rec["expert"]).astype(np.int64), demo=True,
    )
    coverage = teacher.coverage.to_dict() if isinstance(teacher, PlannerTeacher) else {}
    return DemonstrationDay(episode, coverage, dict(info.get("kpis", env.kpis())), time.perf_counter() - started)


@dataclass(frozen=True)
class _DayJob:
    """One day to play in a worker process (plain data, so it pickles for a pool or Ray)."""

    scenario: dict[str, Any]
    teacher: TeacherSettings
    seed: int
    path: str


def _play_job(job: _DayJob) -> DemonstrationDay:
    scenario = scenario_from_dict(job.scenario, source="demonstration job")
    teacher = make_teacher(job.teacher.name, planner_time_limit_s=job.teacher.planner_time_limit_s)
    day = record_day(scenario, teacher, job.seed)
    save_day(day, Path(job.path))
    return day


def save_day(day: DemonstrationDay, path: Path) -> None:
    """Write one day atomically (a stopped run never leaves half a file in the cache)."""
    ep = day.episode
    meta = json.dumps({"coverage": day.coverage, "kpis": day.kpis, "wall_s": day.wall_s, "seed": ep.seed,
                       "terminated": ep.terminated})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, obs=ep.obs, state=ep.state, avail=ep.avail, actions=ep.actions,
                                rewards=ep.rewards, expert=ep.expert, meta=np.frombuffer(meta.encode(), np.uint8))


def load_day(path: Path) -> DemonstrationDay:
    with np.load(path) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        episode = Episode(obs=data["obs"], state=data["state"], avail=data["avail"], actions=data["actions"],
                          rewards=data["rewards"], terminated=bool(meta["terminated"]), seed=int(meta["seed"]),
                          expert=data["expert"], demo=True)
    return DemonstrationDay(episode, meta["coverage"], meta["kpis"], float(meta["wall_s"]), cached=True)


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


