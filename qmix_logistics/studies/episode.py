"""One study task: play one day of one scenario variant with one policy, and keep what studies need.

A task carries everything a worker process (local or on a Ray node) needs, and builds its policy from
the policy's spec string itself, so any policy ``make_policy`` understands (built-ins, planners,
checkpoints, policy servers) works without the study knowing what it is. Each task starts from a
fresh policy and a fresh world, so its outcome depends on (variant, policy, seed) only, never on which
worker ran it or what ran before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.rollout import EpisodeResult, run_episode
from qmix_logistics.policies import make_policy
from qmix_logistics.policies.base import Policy
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.kpis import KPI_DIRECTIONS
from qmix_logistics.sim.world import OrderState, World
from qmix_logistics.studies.busy_time import (
    BusyInterval,
    BusyRecorder,
    busy_profile,
    time_bins,
)
from qmix_logistics.studies.grid import Variant

DEFAULT_BIN_MIN = 15.0


@dataclass(frozen=True)
class RecordedEpisode:
    """A finished day: the rollout's result, the final world and every vehicle's busy intervals."""

    result: EpisodeResult
    world: World
    busy: list[BusyInterval]


def play_recorded(env: DispatchEnv, policy: Policy, seed: int) -> RecordedEpisode:
    """Play the day of ``seed`` while recording busy intervals (the env may also record events)."""
    recorder = BusyRecorder(policy)
    result = run_episode(env, recorder, seed)
    assert env.world is not None
    return RecordedEpisode(result, env.world, recorder.finish(env.world))


def order_lateness(world: World) -> np.ndarray:
    """Minutes late of every delivered order (0 when on time), in order id order."""
    delivered = world.state == OrderState.DELIVERED
    return np.maximum(0.0, world.delivered_at[delivered] - world.orders.due_min[delivered])


@dataclass(frozen=True)
class EpisodeTask:
    """One (variant, policy, seed) episode of a study; ``scenario`` already has the variant applied."""

    variant: Variant
    policy_index: int
    policy: str
    seed: int
    scenario: Scenario
    bin_min: float = DEFAULT_BIN_MIN

    @property
    def sort_key(self) -> tuple[int, int, int]:
        return (self.variant.index, self.policy_index, self.seed)


@dataclass
class EpisodeOutcome:
    """What a study keeps of one episode: KPIs, per-order lateness and the busy share over the day."""

    variant: Variant
    policy_index: int
    policy: str
    seed: int
    kpis: dict[str, float]
    episode_return: float
    steps: int
    decision_ms_mean: float  # wall time per vehicle decision: the only field that varies between runs
    lateness_min: np.ndarray  # one value per delivered order
    bin_edges_min: np.ndarray
    busy_vehicle_min: np.ndarray  # per time bin
    on_shift_vehicle_min: np.ndarray  # per time bin

    @property
    def sort_key(self) -> tuple[int, int, int]:
        return (self.variant.index, self.policy_index, self.seed)

    def to_record(self) -> dict[str, Any]:
        """Everything of the outcome as JSON-ready values (a journal line of a study)."""
        return {"variant": self.variant.index, "variant_label": self.variant.label,
                "policy_index": self.policy_index, "policy": self.policy, "seed": self.seed,
                "kpis": dict(self.kpis), "return": self.episode_return, "steps": self.steps,
                "decision_ms_mean": self.decision_ms_mean, "lateness_min": self.lateness_min.tolist(),
                "bin_edges_min": self.bin_edges_min.tolist(), "busy_vehicle_min": self.busy_vehicle_min.tolist(),
                "on_shift_vehicle_min": self.on_shift_vehicle_min.tolist()}

    @classmethod
    def from_record(cls, record: dict[str, Any], variant: Variant) -> EpisodeOutcome:
        """The outcome :meth:`to_record` wrote, for the study's ``variant`` of that index."""
        if variant.index != record["variant"] or variant.label != record["variant_label"]:
            raise ValueError(f"record of variant {record['variant_label']!r}, not {variant.label!r}")
        return cls(variant=variant, policy_index=int(record["policy_index"]), policy=str(record["policy"]),
                   seed=int(record["seed"]), kpis=dict(record["kpis"]), episode_return=float(record["return"]),
                   steps=int(record["steps"]), decision_ms_mean=float(record["decision_ms_mean"]),
                   lateness_min=np.asarray(record["lateness_min"], dtype=float),
                   bin_edges_min=np.asarray(record["bin_edges_min"], dtype=float),
                   busy_vehicle_min=np.asarray(record["busy_vehicle_min"], dtype=float),
                   on_shift_vehicle_min=np.asarray(record["on_shift_vehicle_min"], dtype=float))

    def row(self) -> dict[str, float | int | str]:
        """The tidy record: variant knobs, policy, seed, every KPI, return, steps, decision time."""
        out: dict[str, float | int | str] = {"variant": self.variant.label}
        out.update(self.variant.as_dict())
        out.update({"policy": self.policy, "seed": self.seed})
        out.update({k: self.kpis[k] for k in KPI_DIRECTIONS})
        out.update({"return": self.episode_return, "steps": self.steps, "decision_ms_mean": self.decision_ms_mean})
        return out


def play_task(task: EpisodeTask) -> EpisodeOutcome:
    """Run one task from scratch (the function every executor ships to its workers)."""
    env = DispatchEnv(task.scenario)
    policy = make_policy(task.policy, task.scenario)
    try:
        played = play_recorded(env, policy, task.seed)
    finally:
        close = getattr(policy, "close", None)
        if callable(close):
            close()
    world, res = played.world, played.result
    edges = time_bins(world.start_min, world.end_min, task.bin_min)
    busy, on_shift = busy_profile(played.busy, world.fleet.shift_start, world.fleet.shift_end, edges)
    return EpisodeOutcome(
        variant=task.variant, policy_index=task.policy_index, policy=task.policy, seed=task.seed,
        kpis=res.kpis, episode_return=res.episode_return, steps=res.steps,
        decision_ms_mean=float(np.mean(res.decision_ms)) if res.decision_ms else 0.0,
        lateness_min=order_lateness(world), bin_edges_min=edges,
        busy_vehicle_min=busy, on_shift_vehicle_min=on_shift,
    )
