"""When each vehicle was busy: exact busy intervals, and the fleet's busy share over the day.

The world only keeps a running total of busy minutes per vehicle (``World.busy_min``, the basis of the
utilization KPI). A vehicle's total grows exactly when one of its commands completes, and a vehicle
whose command completes decides again at that same instant (unless its shift is over). So wrapping the
policy is enough to recover the intervals: note when each vehicle is handed a command, and when it next
decides, read how much its total grew. An interval is ``[command time, command time + growth]``. Waits
(and loads that lost a race for an order) add nothing and leave no interval.

The intervals therefore add up to the same busy minutes as the KPI, so traces and utilization plots
agree with the numbers in the tables.
"""

from __future__ import annotations

import math

import numpy as np

from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.base import Policy
from qmix_logistics.sim.world import Command, World

BusyInterval = tuple[int, float, float]  # (vehicle, start_min, end_min)


class BusyRecorder:
    """A transparent policy wrapper that records every vehicle's busy intervals (minutes)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.name = getattr(policy, "name", type(policy).__name__)
        self.intervals: list[BusyInterval] = []
        self._started: dict[int, float] = {}
        self._seen = np.zeros(0)

    def reset(self, env: DispatchEnv, seed: int) -> None:
        self.intervals = []
        self._started = {}
        self._seen = np.zeros(env.n_agents)
        self.policy.reset(env, seed)

    def act(self, env: DispatchEnv) -> dict[int, Command]:
        world = env.world
        assert world is not None
        for v in world.pending_decisions():
            self._close(world, v)
            self._started[v] = world.now
        return self.policy.act(env)

    def finish(self, world: World) -> list[BusyInterval]:
        """Close the last command of every vehicle (if it completed) and return all intervals, sorted."""
        for v in list(self._started):
            self._close(world, v)
        self.intervals.sort()
        return self.intervals

    def close(self) -> None:
        close = getattr(self.policy, "close", None)
        if callable(close):
            close()

    def _close(self, world: World, v: int) -> None:
        grown = float(world.busy_min[v]) - self._seen[v]
        if grown > 0 and v in self._started:
            start = self._started.pop(v)
            self.intervals.append((v, start, start + grown))
        self._seen[v] = world.busy_min[v]


def time_bins(start_min: float, end_min: float, bin_min: float) -> np.ndarray:
    """Bin edges (minutes) covering ``[start_min, end_min]``; the last bin may be shorter."""
    n = max(1, math.ceil((end_min - start_min) / bin_min - 1e-9))
    return np.minimum(start_min + bin_min * np.arange(n + 1), end_min)


def _overlap(edges: np.ndarray, start: float, end: float) -> np.ndarray:
    """Minutes of ``[start, end]`` that fall in each bin."""
    return np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0.0, None)


def busy_profile(
    intervals: list[BusyInterval], shift_start: np.ndarray, shift_end: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Busy vehicle-minutes and on-shift vehicle-minutes per time bin.

    Work that runs past a vehicle's shift end is left out, so a bin's busy share never exceeds 1. Keeping both sums (rather than their ratio) lets several days be pooled: the busy share of a bin
    over many episodes is ``busy.sum() / on_shift.sum()``.
    """
    busy = np.zeros(len(edges) - 1)
    on_shift = np.zeros(len(edges) - 1)
    for v in range(len(shift_start)):
        on_shift += _overlap(edges, float(shift_start[v]), float(shift_end[v]))
    for v, start, end in intervals:
        busy += _overlap(edges, max(start, float(shift_start[v])), min(end, float(shift_end[v])))
    return busy, on_shift
