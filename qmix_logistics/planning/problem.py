"""The planning problem every engine solves, and the plan it returns.

One description covers two worlds on purpose, so that a rolling-horizon dispatcher and the static
benchmarks exercise the same engine code:

* static benchmark instances (Solomon VRPTW, Li & Lim PDPTW): every vehicle waits at the depot at
  time 0, time windows are hard and every customer must be served;
* a live dispatch snapshot: vehicles are somewhere in the network at different times, some carry
  orders that must stay on board (pinned), due times are soft (lateness is priced per minute) and
  orders may be dropped for a penalty.

Locations are plain indices ``0..L-1`` into two matrices that the caller precomputes (shortest
paths on a road network, or Euclidean distances for benchmarks): travel time in minutes and
distance in km. Engines never look at coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Hashable

import numpy as np

from qmix_logistics.common.errors import QlogError

TaskId = Hashable
VehicleId = Hashable


class TaskKind(str, Enum):
    """What a task asks a vehicle to do."""

    PICKUP_DELIVERY = "pickup_delivery"
    """Collect ``size`` units at ``pickup_location`` and bring them to ``location``."""
    ONBOARD = "onboard"
    """Deliver ``size`` units already on a given vehicle to ``location`` (pinned to that vehicle)."""
    VISIT = "visit"
    """Deliver ``size`` units loaded at the vehicle's start to ``location`` (Solomon customer)."""


class StopKind(str, Enum):
    """What happens at one stop of a route."""

    PICKUP = "pickup"
    DELIVERY = "delivery"
    VISIT = "visit"


@dataclass(frozen=True)
class Vehicle:
    """One vehicle as the planner sees it at planning time.

    ``end_location=None`` means an open route: the vehicle may stop wherever its last task is.
    ``current_load`` counts everything on board, the ``onboard`` orders included; units beyond the
    onboard orders stay on the vehicle until the end of its route.
    """

    id: VehicleId
    start_location: int
    capacity: int
    start_min: float = 0.0
    """Earliest time the vehicle can leave ``start_location`` (minutes)."""
    end_location: int | None = None
    shift_end_min: float = math.inf
    """Latest time the route may end (arrival at ``end_location``, or the last service end)."""
    current_load: int = 0
    onboard: tuple[TaskId, ...] = ()
    """Ids of ONBOARD tasks carried now: they can only be delivered by this vehicle."""
    cost_per_km: float = 1.0
    fixed_cost: float = 0.0
    """Cost charged once if the vehicle serves at least one task."""


@dataclass(frozen=True)
class Task:
    """One order (or benchmark customer).

    The window fields belong to the task's final stop (the delivery or the visit); a pickup has its
    own ``pickup_*`` fields. A window constrains when service *starts*: arriving early means
    waiting. ``drop_penalty=None`` makes the task required.
    """

    id: TaskId
    kind: TaskKind
    location: int
    size: int = 0
    earliest_min: float = 0.0
    due_min: float = math.inf
    service_min: float = 0.0
    pickup_location: int | None = None
    pickup_earliest_min: float = 0.0
    """Ready time: the goods cannot be collected earlier."""
    pickup_due_min: float = math.inf
    pickup_service_min: float = 0.0
    deadline_min: float | None = None
    """Soft-window problems only: service may never start after this; past it the task is dropped."""
    drop_penalty: float | None = None

    @property
    def optional(self) -> bool:
        """True when the planner may leave the task out and pay ``drop_penalty`` instead."""
        return self.drop_penalty is not None and self.kind is not TaskKind.ONBOARD


@dataclass(frozen=True)
class Objective:
    """Weights of the terms that are not per vehicle (per-km and fixed costs live on vehicles)."""

    lateness_cost_per_min: float = 1.0
    """Soft-window problems: cost of each minute a service starts after its due time."""


@dataclass
class Problem:
    """A pickup-and-delivery problem with time windows over precomputed matrices.

    ``hard_time_windows=True`` (benchmarks) makes every due time binding. With ``False`` (dispatch)
    a due time is only priced through ``objective.lateness_cost_per_min`` and ``deadline_min`` is
    the binding limit. Pickup windows are warehouse opening hours and are always hard. Onboard
    deliveries are always required: their goods are on the truck already.
    """

    travel_min: np.ndarray
    distance_km: np.ndarray
    vehicles: list[Vehicle]
    tasks: list[Task]
    hard_time_windows: bool = True
    objective: Objective = field(default_factory=Objective)
    name: str = ""

    def __post_init__(self) -> None:
        self.travel_min = np.asarray(self.travel_min, dtype=float)
        self.distance_km = np.asarray(self.distance_km, dtype=float)
        self.validate()

    @property
    def num_locations(self) -> int:
        return int(self.travel_min.shape[0])

    def task(self, task_id: TaskId) -> Task:
        """The task with this id (raises KeyError when absent)."""
        return self._tasks_by_id[task_id]

    def pinned_vehicle(self, task_id: TaskId) -> int | None:
        """Index of the vehicle an ONBOARD task is pinned to, None for other tasks."""
        return self._pinned.get(task_id)

    def onboard_size(self, vehicle_index: int) -> int:
        """Units on the vehicle that belong to its onboard orders."""
        return sum(self.task(t).size for t in self.vehicles[vehicle_index].onboard)

    def residual_load(self, vehicle_index: int) -> int:
        """Units on board that no task of this problem unloads (they ride to the route's end)."""
        return self.vehicles[vehicle_index].current_load - self.onboard_size(vehicle_index)

    def validate(self) -> None:
        """Check the shapes and cross-references, so engines can trust the data."""
        n = self.travel_min.shape[0]
        if self.travel_min.shape != (n, n) or self.distance_km.shape != (n, n):
            raise QlogError("travel and distance matrices must both be square and equal in size",
                            field="travel_min")
        if np.any(self.travel_min < 0) or np.any(self.distance_km < 0):
            raise QlogError("travel times and distances must be non-negative", field="travel_min")
        self._tasks_by_id = {}
        for i, task in enumerate(self.tasks):
            where = f"tasks[{i}]"
            if task.id in self._tasks_by_id:
                raise QlogError(f"duplicate task id {task.id!r}", field=where)
            self._tasks_by_id[task.id] = task
            for loc in (task.location, task.pickup_location):
                if loc is not None and not 0 <= loc < n:
                    raise QlogError(f"location {loc} outside 0..{n - 1}", field=where)
            if (task.kind is TaskKind.PICKUP_DELIVERY) != (task.pickup_location is not None):
                raise QlogError("a pickup location is needed exactly for pickup-and-delivery tasks",
                                field=where)
            if task.size < 0:
                raise QlogError("size must be non-negative", field=f"{where}.size")
        self._pinned = {}
        for v, vehicle in enumerate(self.vehicles):
            where = f"vehicles[{v}]"
            for loc in (vehicle.start_location, vehicle.end_location):
                if loc is not None and not 0 <= loc < n:
                    raise QlogError(f"location {loc} outside 0..{n - 1}", field=where)
            for task_id in vehicle.onboard:
                task = self._tasks_by_id.get(task_id)
                if task is None or task.kind is not TaskKind.ONBOARD:
                    raise QlogError(f"onboard id {task_id!r} is not an ONBOARD task", field=where)
                if task_id in self._pinned:
                    raise QlogError(f"task {task_id!r} is on board two vehicles", field=where)
                self._pinned[task_id] = v
            if self.residual_load(v) < 0 or vehicle.current_load > vehicle.capacity:
                raise QlogError("current load must cover the onboard orders and fit the capacity",
                                field=f"{where}.current_load")
        for task in self.tasks:
            if task.kind is TaskKind.ONBOARD and task.id not in self._pinned:
                raise QlogError(f"ONBOARD task {task.id!r} is on no vehicle", field="tasks")


@dataclass(frozen=True)
class PlannedStop:
    """One stop of a planned route, with its schedule in minutes."""

    task_id: TaskId
    kind: StopKind
    location: int
    arrival_min: float
    start_min: float
    """Service start: ``max(arrival, earliest)``."""
    lateness_min: float = 0.0


@dataclass
class VehicleRoute:
    """The ordered stops of one vehicle (empty when the vehicle stays idle)."""

    vehicle_id: VehicleId
    stops: list[PlannedStop]
    distance_km: float
    end_min: float
    """Arrival at the end location (open routes: end of the last service)."""


@dataclass(frozen=True)
class CostBreakdown:
    """The objective split into its terms, all in the problem's money units unless named."""

    distance_km: float
    distance_cost: float
    lateness_min: float
    lateness_cost: float
    dropped: int
    drop_cost: float
    fixed_cost: float
    vehicles_used: int

    @property
    def total(self) -> float:
        return self.distance_cost + self.lateness_cost + self.drop_cost + self.fixed_cost


class PlanStatus(str, Enum):
    """How far an engine got."""

    FEASIBLE = "feasible"
    """A plan that satisfies every hard constraint."""
    INFEASIBLE = "infeasible"
    """The engine returned a plan but it breaks a hard constraint (see ``Plan.violations``)."""
    NO_SOLUTION = "no_solution"
    """Nothing found within the time limit."""


@dataclass
class Plan:
    """What an engine returns: routes, dropped tasks, costs and provenance."""

    routes: list[VehicleRoute]
    dropped: list[TaskId]
    cost: CostBreakdown
    engine: str
    status: PlanStatus
    wall_time_s: float
    violations: list[str] = field(default_factory=list)
    work: int = 0
    """The engine's own work behind this plan: OR-Tools solutions found, PyVRP iterations run."""

    def task_sequences(self) -> dict[VehicleId, list[tuple[TaskId, StopKind]]]:
        """Per vehicle id, the (task, stop kind) order: the form a warm start consumes."""
        return {r.vehicle_id: [(s.task_id, s.kind) for s in r.stops] for r in self.routes}
