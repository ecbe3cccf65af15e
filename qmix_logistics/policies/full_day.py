"""The whole day as one planning :class:`Problem`, built from the full order stream (hindsight).

Where :mod:`qmix_logistics.policies.snapshot` freezes what a dispatcher knows *now*, this module
looks at every order of the day, future ones included, at the start of the shift. It exists for
the full-information reference of ``qlog eval`` (:mod:`qmix_logistics.policies.hindsight`) and
must never feed a real dispatcher. Choices, each meant to match the simulator or to err on the
optimistic side:

* **Ready times are exact.** Picking does not depend on dispatch: each warehouse's ``workers``
  pickers serve its orders first come, first served in arrival order, each taking the order's
  drawn ``pick_min`` (:func:`picking_ready_min` replays that queue the way ``sim/world.py`` does,
  dropped orders keeping their picker busy too). A pickup opens at that time.
* **Vehicles** start empty at their home depot at their shift start and may end anywhere (open
  routes: nothing follows the day), arriving at their last stop by their shift end; the handover
  that follows may run past it, as in the simulator, where a command begun in the shift is
  finished. Pickups and deliveries are separate stops, so a vehicle returns to reload whenever its
  capacity asks for it (multi-trip routes).
* **Prices** as in the snapshot: per-km cost per vehicle, lateness after the due time at
  ``costs.lateness_per_min`` (soft), the deadline as the latest delivery, and leaving an order out
  at ``drop_penalty + revenue_per_order``. Orders that cannot make their deadline even when loaded
  the moment they are ready are left out (the simulator drops them whatever happens).
* **Service times**: the warehouse's ``load_time_min`` per pickup, ``demand.service_time_min`` per
  delivery. **Dock contention is ignored**: two vehicles may load at one dock at the same moment.
  That can only make the plan's cost optimistic, as a bound's should be; the simulator then
  carries the plan out with real docks.
* **Travel times**: the slowest vehicle type's matrix for everyone, as in the snapshot (exact for
  a one-speed fleet, pessimistic for faster vehicles, so every planned time stays attainable).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from qmix_logistics.planning.problem import Objective, Problem, Task, TaskKind, Vehicle
from qmix_logistics.policies.snapshot import SnapshotOptions, matrix_type
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.demand import OrderStream
from qmix_logistics.sim.world import World


@dataclass
class FullDay:
    """The day's problem; task ids are order ids, vehicle ids are vehicle indices."""

    problem: Problem
    nodes: np.ndarray
    """Network node of each problem location."""
    ready_min: np.ndarray
    """When each order of the stream is picked and ready to load (minutes, every order)."""
    planned_orders: frozenset[int]
    """Orders offered to the planner; the others cannot make their deadline whatever happens."""


def picking_ready_min(orders: OrderStream, scenario: Scenario) -> np.ndarray:
    """Minute at which each order is picked: a first-come-first-served queue per warehouse.

    Every order queues at its warehouse on arrival (orders are sorted by arrival, so index order is
    queue order) for the first of the depot's ``workers`` pickers to be free, who then needs the
    order's ``pick_min``. Orders dropped while queued are picked all the same, as in the simulator.
    """
    ready = np.empty(len(orders))
    free = [[float(scenario.horizon.start_min)] * d.workers for d in scenario.depots]
    for o in range(len(orders)):
        pickers = free[int(orders.depot[o])]
        start = max(float(orders.arrival_min[o]), heapq.heappop(pickers))
        ready[o] = start + float(orders.pick_min[o])
        heapq.heappush(pickers, ready[o])
    return ready


def build_full_day(world: World, options: SnapshotOptions | None = None) -> FullDay:
    """The problem of the whole day of ``world``'s seed, every future order included.

    ``options`` supplies the price weights (``lateness_weight``, ``drop_weight``) so the day is
    priced exactly like the rolling horizon's snapshots; its routing options do not apply.
    """
    options = options or SnapshotOptions()
    scenario, orders, fleet = world.scenario, world.orders, world.fleet
    costs = scenario.costs
    k = matrix_type(world)
    travel, dist = world.time_min[k], world.dist_km[k]
    load_time = np.array([d.load_time_min for d in scenario.depots])
    service = scenario.demand.service_time_min
    home = world.depot_node[fleet.home_depot]
    shift_end = np.minimum(fleet.shift_end, world.end_min)
    on_duty = [v for v in range(world.n_vehicles) if fleet.shift_start[v] < shift_end[v]]

    ready = picking_ready_min(orders, scenario)
    warehouse = world.depot_node[orders.depot]
    earliest_delivery = ready + load_time[orders.depot] + travel[warehouse, orders.dest]
    planned = [int(o) for o in np.flatnonzero(earliest_delivery <= orders.deadline_min)]

    nodes = np.unique(np.concatenate([home[on_duty], world.depot_node, orders.dest[planned]]).astype(np.int64))
    loc = {int(n): i for i, n in enumerate(nodes)}
    vehicles = [
        Vehicle(id=v, start_location=loc[int(home[v])], capacity=int(fleet.capacity[v]),
                start_min=float(fleet.shift_start[v]), end_location=None,
                shift_end_min=float(shift_end[v] + service), cost_per_km=float(fleet.cost_per_km[v]))
        for v in on_duty]
    drop_price = (costs.drop_penalty + costs.revenue_per_order) * options.drop_weight
    tasks = [
        Task(id=o, kind=TaskKind.PICKUP_DELIVERY, location=loc[int(orders.dest[o])],
             size=int(orders.size[o]), due_min=float(orders.due_min[o]), service_min=service,
             pickup_location=loc[int(warehouse[o])], pickup_earliest_min=float(ready[o]),
             pickup_service_min=float(load_time[orders.depot[o]]),
             deadline_min=float(orders.deadline_min[o]), drop_penalty=drop_price)
        for o in planned]
    problem = Problem(
        travel_min=travel[np.ix_(nodes, nodes)], distance_km=dist[np.ix_(nodes, nodes)],
        vehicles=vehicles, tasks=tasks, hard_time_windows=False,
        objective=Objective(lateness_cost_per_min=costs.lateness_per_min * options.lateness_weight),
        name=f"{scenario.name}/seed {world.seed}/full day")
    return FullDay(problem, nodes, ready, frozenset(planned))
