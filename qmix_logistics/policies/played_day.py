"""A policy's day on one seed, played in a private env: as routes of the full-day problem, and as a replay.

The hindsight bound (:mod:`qmix_logistics.policies.hindsight`) starts its full-day search from
days that real policies play on the same seed, and may carry such a day out again instead of its
own plan. Both need the day in two forms, which this module records in one play:

* **as a plan** of the :class:`~qmix_logistics.policies.full_day.FullDay` problem: each vehicle's
  loads and deliveries become its stops in the order they happened; orders the policy loaded but
  never delivered, and orders it never loaded, are left out. The plan is re-timed on the problem
  (as early as possible, docks ignored, routes open), so its cost is at most the simulated day's
  on a one-speed fleet: the same deliveries, no dock queues, no drive home at the end;
* **as the commands** issued at each decision step. The simulator is deterministic for a seed and
  a command sequence, so :class:`ReplayedDay` reproduces the day exactly, KPIs included, whatever
  searched for how long when it was first played (a rolling-horizon planner's wall-clock search
  does not repeat itself, its recorded commands do).
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

from qmix_logistics.env import DispatchEnv
from qmix_logistics.planning.problem import Plan, StopKind
from qmix_logistics.planning.schedule import build_plan
from qmix_logistics.policies.base import Policy
from qmix_logistics.policies.full_day import FullDay
from qmix_logistics.sim.world import Command, World

Fingerprint = tuple[float, tuple[int, ...], int]
"""The clock (minutes), the deciding vehicles and a checksum of every order's state at one step."""


def fingerprint(world: World) -> Fingerprint:
    """What a replay must find at a step before it may issue that step's recorded commands."""
    return (float(world.now), tuple(sorted(int(v) for v in world.pending_decisions())),
            zlib.crc32(world.state.tobytes()))


@dataclass
class PlayedDay:
    """One policy's day on one seed: what it cost in the simulator, its routes, its commands."""

    name: str
    """Which policy played it (``ortools``, ``batching``, ...)."""
    kpis: dict[str, float]
    """The simulator's KPIs of the day (``total_cost`` in the scenario's currency)."""
    plan: Plan
    """The day as a plan of the full-day problem (see the module notes)."""
    fingerprints: list[Fingerprint] = field(default_factory=list)
    """The world at each step (see :func:`fingerprint`), to check a replay against."""
    commands: list[dict[int, Command]] = field(default_factory=list)
    """The commands issued at each step."""
    wall_s: float = 0.0
    """Wall seconds the play took (the policy's own search included)."""

    @property
    def total_cost(self) -> float:
        """The simulated day's total cost: km + lateness + drops − revenue."""
        return float(self.kpis["total_cost"])


def play_day(env: DispatchEnv, seed: int, policy: Policy, day: FullDay, name: str) -> PlayedDay:
    """Play ``policy`` on ``seed`` in a private copy of ``env`` and record the day (see the module notes)."""
    started = time.perf_counter()
    private = DispatchEnv(env.scenario, env.net, record_events=True)
    private.reset(seed=seed)
    policy.reset(private, seed)
    fingerprints: list[Fingerprint] = []
    commands: list[dict[int, Command]] = []
    done = private.done
    try:
        while not done:
            fingerprints.append(fingerprint(private.world))
            commands.append(policy.act(private))
            _, _, _, done, _ = private.step_commands(commands[-1])
    finally:
        close = getattr(policy, "close", None)
        if callable(close):
            close()
    events = private.world.events
    delivered = {o for _, kind, _, o, _ in events if kind == "deliver"} & day.planned_orders
    sequences: dict[int, list[tuple[int, StopKind]]] = {}
    for _, kind, v, o, _ in events:
        if o in delivered and kind in ("load", "deliver"):
            sequences.setdefault(v, []).append((o, StopKind.PICKUP if kind == "load" else StopKind.DELIVERY))
    problem = day.problem
    dropped = [t.id for t in problem.tasks if t.id not in delivered]
    plan = build_plan(problem, [sequences.get(int(v.id), []) for v in problem.vehicles], dropped,
                      engine=f"day:{name}", wall_time_s=0.0)
    return PlayedDay(name, private.kpis(), plan, fingerprints, commands, time.perf_counter() - started)


class ReplayedDay:
    """Issues a played day's commands again, step by step, in an env reset to the same seed."""

    def __init__(self, played: PlayedDay) -> None:
        self.played = played
        self._step = 0

    def act(self, env: DispatchEnv) -> dict[int, Command]:
        """The commands of the next recorded step; the world must be as it was recorded at that step."""
        step = self._step
        if step >= len(self.played.commands) or fingerprint(env.world) != self.played.fingerprints[step]:
            raise RuntimeError(
                f"the replay of the {self.played.name} day left its recording at step {step}: "
                "the simulator did not repeat itself for the same seed and commands")
        self._step += 1
        return self.played.commands[step]
