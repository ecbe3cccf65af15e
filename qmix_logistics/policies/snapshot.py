"""Freeze the live world into a planning :class:`Problem`: what a rolling-horizon dispatcher solves.

The snapshot is the whole state (every vehicle, every known order), so a plan built from it is a
centralized decision. Choices made here, each an approximation of the simulator:

* **Vehicles** start at ``world.node`` (where a busy vehicle is heading) at ``max(now, free_at)``.
  A vehicle on a ``Load`` command (it has an ASSIGNED order) starts at that warehouse one loading
  time later, with the order counted as on board. A vehicle driving to deliver needs nothing
  special: its onboard order sits at its start location and its service time is the handover.
* **Onboard and assigned orders** are delivery-only tasks pinned to their vehicle. One that cannot
  reach its destination before its deadline or the shift end even driving straight there is left
  out (the simulator will drop it whatever the plan says); its units stay counted as load.
* **Ready orders** are pickup-and-delivery pairs whose pickup opens now. **Orders still being
  picked** are included too (``plan_picking``), with the pickup opening at an estimate: picking
  times are exponential, so the expected remaining time of an order in a picker's hands is the
  mean again; the k-th order in the warehouse's queue (first come, first served, ``workers``
  pickers) is expected ready after ``(1 + k // workers)`` mean picking times.
* **Prices**: per-km cost per vehicle, lateness after the due time at ``costs.lateness_per_min``
  (soft), the deadline (due + max lateness) as a hard latest delivery start, and a droppable order
  at ``drop_penalty + revenue_per_order`` (dropping forgoes the revenue as well). Orders that no
  vehicle can deliver before their deadline even from the warehouse right now are left out.
* **Service times**: the warehouse's ``load_time_min`` per pickup (dock queues are not modelled),
  ``demand.service_time_min`` per delivery.
* **Routes** end at the vehicle's home depot (``end_at_depot``), pricing the drive back that the
  next pickup needs anyway, except in the last ``open_last_min`` of a shift, where nothing follows
  and routes are open (they end wherever the last delivery is). ``end_at_depot=False`` gives open
  routes throughout. Routes must end by the vehicle's shift end.
* **Travel times**: the matrix of the slowest vehicle type for everyone. Exact when the fleet has
  one speed; with mixed speeds faster vehicles are planned pessimistically (they arrive early, and
  the next re-plan sees them free sooner), which keeps every planned time window and deadline
  attainable. Planning with the matrix of the most common type instead (vans on
  multi_warehouse.yaml) sent cargo bikes on routes they could not keep: 95 late orders a day
  instead of 25 (seeds 11 and 12). Distances come from the same type.

Locations are the distinct nodes involved (vehicle positions, warehouses, destinations) with the
sub-matrices of ``world.time_min``/``world.dist_km`` (rows of sources the world has already computed);
:attr:`Snapshot.nodes` maps them back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qmix_logistics.planning.problem import Objective, Problem, Task, TaskKind, Vehicle
from qmix_logistics.sim.world import OrderState, World

_PICKING, _READY, _ASSIGNED, _ONBOARD = (int(OrderState.PICKING), int(OrderState.READY),
                                         int(OrderState.ASSIGNED), int(OrderState.ONBOARD))


@dataclass(frozen=True)
class SnapshotOptions:
    """How the live world is turned into a problem (see the module notes)."""

    plan_picking: bool = True
    """Also plan orders still being picked, with an estimated ready time."""
    end_at_depot: bool = True
    """Close each route at the vehicle's home depot (False: open routes, ending anywhere).

    Measured on depot.yaml: closed routes cut the km by about 12 % at the same service level,
    because an open route does not see the drive back that every next trip starts with."""
    open_last_min: float = 60.0
    """With ``end_at_depot``: leave the route open anyway when the shift ends within this many
    minutes of the vehicle's start (the drive back is not needed, and would cut deliveries)."""
    lateness_weight: float = 1.0
    """Multiplies ``costs.lateness_per_min`` in the planner's objective (1 = the true price)."""
    drop_weight: float = 1.0
    """Multiplies ``drop_penalty + revenue_per_order`` in the planner's objective."""


@dataclass
class Snapshot:
    """A problem built from the world at ``time_min``; task ids are order ids, vehicle ids indices."""

    problem: Problem
    time_min: float
    nodes: np.ndarray
    """Network node of each problem location."""
    matrix_type: int
    """Vehicle type whose travel-time and distance matrices the problem uses."""
    planned_orders: frozenset[int]
    """READY/PICKING orders offered to the planner as pickup-and-delivery tasks."""
    pinned_orders: frozenset[int]
    """ONBOARD/ASSIGNED orders pinned to their vehicle."""


def matrix_type(world: World) -> int:
    """The vehicle type whose matrices stand for the fleet: the slowest (types are sorted by speed)."""
    return int(np.argmin(world.fleet.speeds))


def expected_ready_min(world: World) -> dict[int, float]:
    """Estimated time each PICKING order becomes ready (see the module notes), by order id."""
    now = world.now
    picking = np.flatnonzero(world.state == _PICKING)
    estimate: dict[int, float] = {}
    for d, depot in enumerate(world.scenario.depots):
        queue = picking[world.orders.depot[picking] == d]  # order ids follow arrival, so FIFO order
        for k, o in enumerate(queue):
            estimate[int(o)] = now + depot.pick_time_min * (1 + k // depot.workers)
    return estimate


def build_snapshot(world: World, options: SnapshotOptions | None = None) -> Snapshot:
    """The planning problem of the world as it stands now."""
    options = options or SnapshotOptions()
    scenario, orders, fleet = world.scenario, world.orders, world.fleet
    costs = scenario.costs
    now = world.now
    k = matrix_type(world)
    travel, dist = world.time_min[k], world.dist_km[k]
    load_time = np.array([d.load_time_min for d in scenario.depots])
    service = scenario.demand.service_time_min
    home = world.depot_node[fleet.home_depot]

    # Where and when each vehicle is next free, and what it will carry then.
    start_node = world.node.astype(np.int64).copy()
    start_min = np.maximum(np.maximum(now, world.free_at), fleet.shift_start).astype(float)
    carried: list[list[int]] = [list(world.onboard[v]) for v in range(world.n_vehicles)]
    for o in np.flatnonzero(world.state == _ASSIGNED):
        v = int(world.vehicle_of[o])
        depot = int(orders.depot[o])
        start_node[v] = world.depot_node[depot]
        start_min[v] = max(now, world.free_at[v]) + load_time[depot]
        carried[v].append(int(o))
    shift_end = np.minimum(fleet.shift_end, world.end_min)
    on_duty = [v for v in range(world.n_vehicles) if start_min[v] < shift_end[v]
               and (world.active[v] or fleet.shift_start[v] > now)]

    # Closed routes until the last stretch of a shift, when the drive back is no longer needed.
    closed = {v: options.end_at_depot and shift_end[v] - start_min[v] > options.open_last_min for v in on_duty}

    # Orders on board stay with their vehicle, unless they are lost whatever happens.
    pinned: dict[int, list[int]] = {}
    for v in on_duty:
        pinned[v] = [o for o in carried[v]
                     if start_min[v] + travel[start_node[v], orders.dest[o]]
                     <= min(orders.deadline_min[o], shift_end[v] - service
                            - (travel[orders.dest[o], home[v]] if closed[v] else 0.0))]

    # Orders waiting at a warehouse: ready now, or expected ready after picking.
    ready_at = {int(o): now for o in np.flatnonzero(world.state == _READY)}
    if options.plan_picking:
        ready_at.update(expected_ready_min(world))
    open_orders = []
    for o, ready in sorted(ready_at.items()):
        depot = int(orders.depot[o])
        wh = world.depot_node[depot]
        if ready + load_time[depot] + travel[wh, orders.dest[o]] <= orders.deadline_min[o]:
            open_orders.append(o)

    nodes = np.unique(np.concatenate([
        start_node[on_duty], home[on_duty], world.depot_node,
        orders.dest[open_orders + [o for v in on_duty for o in pinned[v]]],
    ]).astype(np.int64))
    loc = {int(n): i for i, n in enumerate(nodes)}

    drop_price = (costs.drop_penalty + costs.revenue_per_order) * options.drop_weight
    tasks: list[Task] = []
    vehicles: list[Vehicle] = []
    for v in on_duty:
        for o in pinned[v]:
            tasks.append(Task(id=o, kind=TaskKind.ONBOARD, location=loc[int(orders.dest[o])],
                              size=int(orders.size[o]), due_min=float(orders.due_min[o]),
                              service_min=service, deadline_min=float(orders.deadline_min[o])))
        vehicles.append(Vehicle(
            id=v, start_location=loc[int(start_node[v])], capacity=int(fleet.capacity[v]),
            start_min=float(start_min[v]),
            end_location=loc[int(home[v])] if closed[v] else None,
            shift_end_min=float(shift_end[v]),
            current_load=int(sum(orders.size[o] for o in carried[v])),
            onboard=tuple(pinned[v]), cost_per_km=float(fleet.cost_per_km[v])))
    for o in open_orders:
        depot = int(orders.depot[o])
        tasks.append(Task(
            id=o, kind=TaskKind.PICKUP_DELIVERY, location=loc[int(orders.dest[o])],
            size=int(orders.size[o]), due_min=float(orders.due_min[o]), service_min=service,
            pickup_location=loc[int(world.depot_node[depot])], pickup_earliest_min=ready_at[o],
            pickup_service_min=float(load_time[depot]), deadline_min=float(orders.deadline_min[o]),
            drop_penalty=drop_price))
    problem = Problem(
        travel_min=travel[np.ix_(nodes, nodes)], distance_km=dist[np.ix_(nodes, nodes)],
        vehicles=vehicles, tasks=tasks, hard_time_windows=False,
        objective=Objective(lateness_cost_per_min=costs.lateness_per_min * options.lateness_weight),
        name=f"{scenario.name}@{now:.1f}")
    return Snapshot(problem, now, nodes, k, frozenset(open_orders),
                    frozenset(o for v in on_duty for o in pinned[v]))
