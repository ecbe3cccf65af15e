"""A day of orders, drawn up front from the seed (or read from a CSV) so every policy sees the same stream.

The whole stream, including each order's picking time, is fixed before the first decision: a policy's
choices can never change which orders a seed produces.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.network.nodes import depot_nodes, resolve_node
from qmix_logistics.network.road_network import RoadNetwork
from qmix_logistics.network.travel_times import TravelView
from qmix_logistics.scenario import Demand, Scenario


@dataclass(frozen=True)
class OrderStream:
    """Orders sorted by arrival; index i is the order's id for the whole episode."""

    arrival_min: np.ndarray
    depot: np.ndarray
    dest: np.ndarray
    size: np.ndarray
    due_min: np.ndarray
    deadline_min: np.ndarray
    pick_min: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival_min)


def _arrival_times(spec: Demand, start: float, end: float, rng: np.random.Generator) -> np.ndarray:
    points = sorted(spec.profile, key=lambda p: p.at_min)
    bounds = [start] + [p.at_min for p in points if start < p.at_min < end] + [end]
    times = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        factor = 1.0
        for p in points:
            if p.at_min <= a:
                factor = p.factor
        rate = spec.rate_per_hour * spec.scale * factor / 60.0
        n = rng.poisson(rate * (b - a))
        times.append(rng.uniform(a, b, size=n))
    return np.sort(np.concatenate(times)) if times else np.zeros(0)


def _destinations(spec: Demand, net: RoadNetwork, n: int, rng: np.random.Generator) -> np.ndarray:
    if not spec.hotspots or spec.uniform_share >= 1.0:
        return rng.integers(0, net.n_nodes, size=n)
    pools, weights = [], []
    for i, h in enumerate(spec.hotspots):
        center = net.coords_km[_hotspot_node(net, h.node, i)]
        d = np.hypot(*(net.coords_km - center).T)
        pools.append(np.flatnonzero(d <= h.radius_km))
        weights.append(h.weight)
    w = np.array(weights) / sum(weights)
    uniform = rng.random(n) < spec.uniform_share
    which = rng.choice(len(pools), size=n, p=w)
    picks = rng.random(n)
    out = rng.integers(0, net.n_nodes, size=n)
    for k, pool in enumerate(pools):
        sel = (~uniform) & (which == k)
        out[sel] = pool[(picks[sel] * len(pool)).astype(np.int64)]
    return out


def _hotspot_node(net: RoadNetwork, ref: object, i: int) -> int:
    return resolve_node(net, ref, field=f"demand.hotspots.{i}.node")


Minutes = TravelView | np.ndarray
"""Drive minutes indexed ``[from, to]``: one vehicle type's :class:`TravelView` (rows per source) or a matrix."""


def nearest_depot(depots: np.ndarray, dest: np.ndarray, time_min: Minutes) -> np.ndarray:
    """Each order is fulfilled by the depot with the shortest drive to its destination (reads depot rows only)."""
    return np.argmin(time_min[depots[:, None], dest[None, :]], axis=0)


def generate_orders(scenario: Scenario, net: RoadNetwork, seed: int, time_min: Minutes) -> OrderStream:
    """Draw the day's orders for ``seed``; identical for every policy."""
    spec = scenario.demand
    if spec.kind == "csv":
        return read_orders_csv(spec.csv, scenario, net, time_min, seed)  # type: ignore[arg-type]
    rng = np.random.default_rng([seed, 0xD1])
    start = scenario.horizon.start_min
    last = spec.last_order_min if spec.last_order_min is not None else scenario.horizon.end_min - 60.0
    arrival = _arrival_times(spec, start, max(start, last), rng)
    n = len(arrival)
    dest = _destinations(spec, net, n, rng)
    size = rng.integers(int(spec.size.min), int(spec.size.max) + 1, size=n)
    due = arrival + rng.uniform(spec.due_window_min.min, spec.due_window_min.max, size=n)
    depots = depot_nodes(scenario, net)
    depot = nearest_depot(depots, dest, time_min)
    mean_pick = np.array([d.pick_time_min for d in scenario.depots])[depot]
    pick = rng.exponential(1.0, size=n) * mean_pick
    return OrderStream(arrival, depot, dest, size, due, due + spec.max_late_min, pick)


def read_orders_csv(
    path: Path, scenario: Scenario, net: RoadNetwork, time_min: Minutes, seed: int = 0
) -> OrderStream:
    """Replay real orders: ``time_min`` or ``timestamp``; ``node`` or ``lat``/``lon``; ``size``;
    ``due_min`` (absolute) or ``due_in_min``; optional ``depot`` (name). Lat/lon snap to the nearest node."""
    spec = scenario.demand
    rows = _read_rows(path)
    depots = depot_nodes(scenario, net)
    names = {d.name: i for i, d in enumerate(scenario.depots)}
    t0 = None
    arrival, dest, size, due, depot = [], [], [], [], []
    for lineno, row in enumerate(rows, 2):
        try:
            if row.get("time_min") not in (None, ""):
                t = float(row["time_min"])
            else:
                ts = datetime.fromisoformat(row["timestamp"])
                t0 = t0 or ts.replace(hour=0, minute=0, second=0, microsecond=0)
                t = (ts - t0).total_seconds() / 60.0
            if row.get("node") not in (None, ""):
                node = resolve_node(net, row["node"], field=f"line {lineno}: node")
            else:
                node = net.nearest_node_lonlat(float(row["lon"]), float(row["lat"]))
            s = int(float(row.get("size") or spec.size.min))
            if row.get("due_min") not in (None, ""):
                d = float(row["due_min"])
            else:
                d = t + float(row.get("due_in_min") or spec.due_window_min.max)
            dep = names[row["depot"]] if row.get("depot") else -1
        except QlogError as exc:
            raise QlogError(exc.reason, source=str(path), field=exc.field) from None
        except (KeyError, ValueError) as exc:
            raise QlogError(f"line {lineno}: bad or missing value ({exc})", source=str(path)) from None
        if s < 1:
            raise QlogError(f"line {lineno}: size must be at least 1", source=str(path))
        arrival.append(t), dest.append(node), size.append(s), due.append(d), depot.append(dep)
    order = np.argsort(np.array(arrival), kind="stable")
    arrival_a = np.array(arrival, dtype=np.float64)[order]
    dest_a = np.array(dest, dtype=np.int64)[order]
    depot_a = np.array(depot, dtype=np.int64)[order]
    auto = depot_a < 0
    depot_a[auto] = nearest_depot(depots, dest_a[auto], time_min)
    due_a = np.array(due, dtype=np.float64)[order]
    rng = np.random.default_rng([seed, 0xC5])
    mean_pick = np.array([d.pick_time_min for d in scenario.depots])[depot_a]
    pick = rng.exponential(1.0, size=len(order)) * mean_pick
    return OrderStream(arrival_a, depot_a, dest_a, np.array(size, dtype=np.int64)[order], due_a,
                       due_a + spec.max_late_min, pick)


def _read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            cols = set(reader.fieldnames or [])
    except OSError as exc:
        raise QlogError(f"cannot read order file: {exc.strerror}", source=str(path)) from None
    if not ({"time_min", "timestamp"} & cols) or not ({"node", "lat"} & cols):
        raise QlogError("needs columns time_min|timestamp and node|lat,lon", source=str(path), field="header")
    return rows
