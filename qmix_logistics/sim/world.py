"""The SimPy world: orders are picked, wait for a dock, ride along fastest paths and are delivered.

Vehicles are SimPy processes that sleep on a per-vehicle decision event until a policy hands them a
command ("sleep until woken up"). Pickers and loading docks are ``simpy.Resource`` objects. Travel
times come from the network's per-source table: a vehicle only ever stands at a depot or at an order's
destination, and the whole day's orders are drawn up front, so the world computes the rows of all
those sources when it is built (one batched Dijkstra) and no step ever searches for a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Union

import numpy as np
import simpy

from qmix_logistics.network import RoadNetwork
from qmix_logistics.network.nodes import depot_nodes
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.demand import OrderStream, generate_orders


class OrderState(IntEnum):
    """Every arrived order is in exactly one of these states."""

    FUTURE = 0  # not arrived yet: unknown to everyone
    PICKING = 1  # queued for or being picked at its warehouse
    READY = 2  # picked, waiting for a vehicle
    ASSIGNED = 3  # a vehicle is on its way to load it
    ONBOARD = 4
    DELIVERED = 5
    DROPPED = 6  # missed its deadline or the end of the shift


_PICKING, _READY, _ASSIGNED, _ONBOARD, _DELIVERED, _DROPPED = (int(s) for s in list(OrderState)[1:])


@dataclass(frozen=True)
class Wait:
    """Stay put until ``minutes`` pass (default: the scenario's wait) or a new order is ready."""

    minutes: float | None = None


@dataclass(frozen=True)
class Load:
    """Drive to the order's warehouse, take a dock and load it."""

    order: int


@dataclass(frozen=True)
class Deliver:
    """Drive to an onboard order's destination and hand it over."""

    order: int


@dataclass(frozen=True)
class ReturnToDepot:
    """Drive back to the home depot."""


Command = Union[Wait, Load, Deliver, ReturnToDepot]


class CommandError(ValueError):
    """A command that the vehicle cannot carry out now (a policy bug, not a user error)."""


@dataclass(frozen=True)
class Fleet:
    """Static per-vehicle attributes, expanded from the scenario's vehicle types."""

    type_index: np.ndarray
    capacity: np.ndarray
    cost_per_km: np.ndarray
    home_depot: np.ndarray
    shift_start: np.ndarray
    shift_end: np.ndarray
    speeds: tuple[float, ...]

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "Fleet":
        names = [d.name for d in scenario.depots]
        speeds = tuple(sorted({vt.speed_kmh for vt in scenario.fleet}))
        rows = []
        for vt in scenario.fleet:
            start = vt.shift_start_min if vt.shift_start_min is not None else scenario.horizon.start_min
            end = vt.shift_end_min if vt.shift_end_min is not None else scenario.horizon.end_min
            home = names.index(vt.depot) if vt.depot else 0
            cost = vt.cost_per_km * scenario.costs.km_weight
            rows += [(speeds.index(vt.speed_kmh), vt.capacity, cost, home, start, end)] * vt.count
        cols = list(zip(*rows))
        return cls(
            type_index=np.array(cols[0], dtype=np.int64),
            capacity=np.array(cols[1], dtype=np.int64),
            cost_per_km=np.array(cols[2], dtype=np.float64),
            home_depot=np.array(cols[3], dtype=np.int64),
            shift_start=np.array(cols[4], dtype=np.float64),
            shift_end=np.array(cols[5], dtype=np.float64),
            speeds=speeds,
        )


class World:
    """One simulated day for one seed. Drive it with :meth:`apply` and :meth:`advance`."""

    def __init__(self, scenario: Scenario, net: RoadNetwork, seed: int, *, record_events: bool = False,
                 orders: OrderStream | None = None) -> None:
        self.scenario = scenario
        self.net = net
        self.seed = seed
        self.fleet = Fleet.from_scenario(scenario)
        self.depot_node = depot_nodes(scenario, net)
        travel = net.travel_times(self.fleet.speeds)
        travel.ensure(self.depot_node)
        self.orders = orders if orders is not None else generate_orders(scenario, net, seed, travel.time_min[0])
        sources = np.concatenate([self.depot_node, self.orders.dest])  # every node a vehicle can stand at
        if not travel.fits(sources):
            travel = net.travel_times(self.fleet.speeds, fresh=True)
        travel.ensure(sources)
        self.travel = travel
        self.time_min = travel.time_min  # [type, from, to] minutes, rows computed per source
        self.dist_km = travel.dist_km  # [type, from, to] km along the fastest path
        self.start_min = scenario.horizon.start_min
        self.end_min = max(scenario.horizon.end_min, float(self.fleet.shift_end.max()))
        self.sim = simpy.Environment(initial_time=self.start_min)
        self.record_events = record_events
        self.events: list[tuple[float, str, int, int, int]] = []  # (time, kind, vehicle, order, node)

        n, a = len(self.orders), len(self.fleet.capacity)
        self.n_vehicles = a
        self.state = np.zeros(n, dtype=np.int8)
        self.vehicle_of = np.full(n, -1, dtype=np.int64)
        self.ready_at = np.full(n, np.nan)
        self.delivered_at = np.full(n, np.nan)
        self.next_arrival = 0
        self.open_orders = 0  # arrived and neither delivered nor dropped

        home = self.depot_node[self.fleet.home_depot]
        self.node = home.copy()  # where each vehicle is, or the node it is heading to when busy
        self.free_at = np.full(a, self.start_min)  # when a busy vehicle expects to be free again
        self.load = np.zeros(a, dtype=np.int64)
        self.onboard: list[list[int]] = [[] for _ in range(a)]
        # the same onboard sets as a padded matrix for the compiled observation kernel
        self.onboard_mat = np.full((a, int(self.fleet.capacity.max())), -1, dtype=np.int64)
        self.km = np.zeros(a)
        self.busy_min = np.zeros(a)
        self.active = np.zeros(a, dtype=bool)
        self.deciding = np.zeros(a, dtype=bool)
        self.wait_min = scenario.observation.wait_min

        self.km_cost = 0.0
        self.lateness_cost = 0.0
        self.drop_cost = 0.0
        self.revenue = 0.0
        self.done = False

        self._decide: list[simpy.Event | None] = [None] * a
        self._pending: list[int] = []
        self._waiting: dict[int, simpy.Event] = {}
        self.workers = [simpy.Resource(self.sim, d.workers) for d in scenario.depots]
        self.docks = [simpy.Resource(self.sim, d.docks) for d in scenario.depots]
        self._load_time = [d.load_time_min for d in scenario.depots]
        self.sim.process(self._arrivals())
        for v in range(a):
            self.sim.process(self._vehicle(v))

    # ------------------------------------------------------------------ public driving interface
    @property
    def now(self) -> float:
        return float(self.sim.now)

    @property
    def total_cost(self) -> float:
        return self.km_cost + self.lateness_cost + self.drop_cost - self.revenue

    def pending_decisions(self) -> list[int]:
        """Vehicles waiting for a command, in index order."""
        return sorted(self._pending)

    def can_load(self, v: int, o: int) -> bool:
        return (0 <= o < len(self.state) and self.state[o] == _READY
                and self.load[v] + self.orders.size[o] <= self.fleet.capacity[v])

    def apply(self, commands: dict[int, Command]) -> None:
        """Hand each deciding vehicle its command; vehicles without one wait.

        Commands are checked in vehicle order, so when two vehicles ask for the same order the first
        gets it and the second waits. A command that is impossible for any other reason raises.
        """
        for v in self.pending_decisions():
            cmd = commands.get(v, Wait())
            if isinstance(cmd, Load):
                if self.state[cmd.order] == _READY and not self.can_load(v, cmd.order):
                    raise CommandError(f"vehicle {v} cannot fit order {cmd.order}")
                if not self.can_load(v, cmd.order):
                    cmd = Wait(min(1.0, self.wait_min))  # lost a race for the order this step
                else:
                    self.state[cmd.order] = _ASSIGNED
                    self.vehicle_of[cmd.order] = v
            elif isinstance(cmd, Deliver):
                if cmd.order not in self.onboard[v]:
                    raise CommandError(f"order {cmd.order} is not on vehicle {v}")
            elif not isinstance(cmd, (Wait, ReturnToDepot)):
                raise CommandError(f"unknown command {cmd!r}")
            self.deciding[v] = False
            event = self._decide[v]
            assert event is not None
            event.succeed(cmd)
        self._pending.clear()

    def advance(self) -> bool:
        """Run the clock to the next moment some vehicle must decide. Returns True when the day is over."""
        sim = self.sim
        while not self._pending:
            if self.next_arrival >= len(self.state) and self.open_orders == 0:
                break  # no order left to serve: the day is over early
            t = sim.peek()
            if t > self.end_min:
                break
            sim.step()
        if not self._pending:
            self._finish()
        return self.done

    # ------------------------------------------------------------------ processes
    def _log(self, kind: str, v: int, o: int, node: int) -> None:
        self.events.append((self.now, kind, v, o, node))

    def _arrivals(self):
        """Reveal orders at their arrival times; picking then runs on callbacks (no process per order)."""
        orders = self.orders
        for o in range(len(orders)):
            delay = orders.arrival_min[o] - self.sim.now
            if delay > 0:
                yield self.sim.timeout(delay)
            self.state[o] = _PICKING
            self.next_arrival = o + 1
            self.open_orders += 1
            if self.record_events:
                self._log("order_arrival", -1, o, int(orders.dest[o]))
            deadline = self.sim.timeout(max(0.0, orders.deadline_min[o] - self.sim.now), value=o)
            deadline.callbacks.append(self._on_deadline)
            request = self.workers[int(orders.depot[o])].request()
            request.order = o  # type: ignore[attr-defined]
            request.callbacks.append(self._on_picker)

    def _on_picker(self, request: simpy.Event) -> None:
        """A picker is free for this order: pick it, then release the picker."""
        timer = self.sim.timeout(self.orders.pick_min[request.order], value=request)  # type: ignore[attr-defined]
        timer.callbacks.append(self._on_picked)

    def _on_picked(self, timer: simpy.Event) -> None:
        request = timer.value
        o = request.order
        d = int(self.orders.depot[o])
        self.workers[d].release(request)
        if self.state[o] == _PICKING:
            self.state[o] = _READY
            self.ready_at[o] = self.sim.now
            if self.record_events:
                self._log("order_ready", -1, o, int(self.depot_node[d]))
            for wake in list(self._waiting.values()):
                if not wake.triggered:
                    wake.succeed()

    def _on_deadline(self, event: simpy.Event) -> None:
        o = event.value
        if self.state[o] in (_DELIVERED, _DROPPED):
            return
        self._drop(o)

    def _drop(self, o: int) -> None:
        if self.state[o] == _ONBOARD:
            self._unboard(int(self.vehicle_of[o]), o)
        self.state[o] = _DROPPED
        self.open_orders -= 1
        self.drop_cost += self.scenario.costs.drop_penalty
        if self.record_events:
            self._log("drop", int(self.vehicle_of[o]), o, -1)

    def _vehicle(self, v: int):
        fleet = self.fleet
        if fleet.shift_start[v] > self.sim.now:
            yield self.sim.timeout(fleet.shift_start[v] - self.sim.now)
        self.active[v] = True
        while self.sim.now < fleet.shift_end[v]:
            event = self.sim.event()
            self._decide[v] = event
            self.deciding[v] = True
            self.free_at[v] = self.sim.now
            self._pending.append(v)
            cmd = yield event
            start = self.sim.now
            if isinstance(cmd, Wait):
                yield from self._wait(v, cmd.minutes)
                continue
            if isinstance(cmd, Load):
                yield from self._load(v, cmd.order)
            elif isinstance(cmd, Deliver):
                yield from self._deliver(v, cmd.order)
            else:
                yield from self._drive(v, int(self.depot_node[fleet.home_depot[v]]))
            self.busy_min[v] += self.sim.now - start
        self.active[v] = False

    def _wait(self, v: int, minutes: float | None):
        minutes = self.wait_min if minutes is None else minutes
        minutes = max(1e-3, min(minutes, self.fleet.shift_end[v] - self.sim.now))
        wake = self.sim.event()
        self._waiting[v] = wake
        self.free_at[v] = self.sim.now + minutes
        timer = self.sim.timeout(minutes)
        timer.callbacks.append(lambda _e: wake.triggered or wake.succeed())
        yield wake
        del self._waiting[v]

    def _drive(self, v: int, target: int):
        origin = int(self.node[v])
        if origin == target:
            return
        k = self.fleet.type_index[v]
        row = self.travel.rows_for(origin)
        minutes = self.travel.rows_min[k, row, target]
        km = self.travel.rows_km[k, row, target]
        self.km[v] += km
        self.km_cost += km * self.fleet.cost_per_km[v]
        self.node[v] = target
        self.free_at[v] = self.sim.now + minutes
        if self.record_events:
            self._log("depart", v, -1, origin)
        yield self.sim.timeout(minutes)
        if self.record_events:
            self._log("arrive", v, -1, target)

    def _load(self, v: int, o: int):
        d = int(self.orders.depot[o])
        yield from self._drive(v, int(self.depot_node[d]))
        if self.state[o] != _ASSIGNED:
            return  # dropped on the way
        with self.docks[d].request() as req:
            yield req
            yield self.sim.timeout(self._load_time[d])
        if self.state[o] != _ASSIGNED:
            return
        self.state[o] = _ONBOARD
        self.onboard[v].append(o)
        self.onboard_mat[v, int(np.argmin(self.onboard_mat[v]))] = o
        self.load[v] += self.orders.size[o]
        if self.record_events:
            self._log("load", v, o, int(self.depot_node[d]))

    def _deliver(self, v: int, o: int):
        yield from self._drive(v, int(self.orders.dest[o]))
        if self.state[o] != _ONBOARD or self.vehicle_of[o] != v:
            return  # dropped on the way
        self.state[o] = _DELIVERED
        self.delivered_at[o] = self.sim.now
        self._unboard(v, o)
        self.open_orders -= 1
        costs = self.scenario.costs
        self.revenue += costs.revenue_per_order
        self.lateness_cost += max(0.0, self.sim.now - self.orders.due_min[o]) * costs.lateness_per_min
        if self.record_events:
            self._log("deliver", v, o, int(self.orders.dest[o]))
        service = self.scenario.demand.service_time_min
        if service > 0:
            yield self.sim.timeout(service)

    def _unboard(self, v: int, o: int) -> None:
        self.onboard[v].remove(o)
        self.onboard_mat[v][self.onboard_mat[v] == o] = -1
        self.load[v] -= self.orders.size[o]

    def _finish(self) -> None:
        """End of the day: whatever arrived and was not delivered is dropped."""
        if self.done:
            return
        open_ids = np.flatnonzero((self.state >= _PICKING) & (self.state <= _ONBOARD))
        for o in open_ids:
            self._drop(int(o))
        self.done = True
