"""Read benchmark instances (Solomon VRPTW, VRPLIB CVRP/VRPTW, Li & Lim PDPTW).

A file is first read into a :class:`BenchmarkInstance` that keeps the raw data (coordinates,
demands, windows), because the independent feasibility checker must judge routes from the raw data
rather than from the :class:`Problem` the engines see. :func:`to_problem` then converts it: one
location per customer (index = customer number, depot 0), hard windows, every customer required,
travel time = distance, and the best-known costs' convention of unrounded Euclidean distances.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vrplib

from qmix_logistics.common.errors import QlogError
from qmix_logistics.planning.problem import Problem, Task, TaskKind, Vehicle


@dataclass
class BenchmarkInstance:
    """Raw data of a benchmark file; node 0 is the depot, node i is customer i."""

    name: str
    kind: str
    """"vrptw" (Solomon), "pdptw" (Li & Lim) or "cvrp" (VRPLIB without windows)."""
    source: Path
    coords: np.ndarray
    demand: np.ndarray
    ready_min: np.ndarray
    due_min: np.ndarray
    service_min: np.ndarray
    capacity: int
    num_vehicles: int
    sibling: np.ndarray
    """PDPTW: for a pickup its delivery node, for a delivery its pickup node, else 0."""
    round_distances: bool = False
    """VRPLIB EUC_2D convention: distances rounded to the nearest integer."""

    @property
    def num_nodes(self) -> int:
        return int(self.coords.shape[0])

    def distance_matrix(self) -> np.ndarray:
        """Euclidean distances between nodes (double precision unless the format rounds)."""
        delta = self.coords[:, None, :] - self.coords[None, :, :]
        distance = np.sqrt((delta**2).sum(axis=-1))
        return np.rint(distance) if self.round_distances else distance


def _sniff(path: Path, text: str) -> str:
    upper = text.upper()
    if "VEHICLE" in upper and "CUSTOMER" in upper:
        return "solomon"
    if "DIMENSION" in upper or path.suffix.lower() == ".vrp":
        return "vrplib"
    return "lilim"


def read_instance(path: str | Path) -> BenchmarkInstance:
    """Read a Solomon, VRPLIB or Li & Lim file (the format is recognised from the content)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise QlogError(f"cannot read instance: {exc.strerror}", source=str(path)) from exc
    fmt = _sniff(path, text)
    if fmt == "lilim":
        return _read_lilim(path, text)
    try:
        data = vrplib.read_instance(path, instance_format=fmt, compute_edge_weights=False)
    except Exception as exc:  # vrplib raises assorted errors on malformed text
        raise QlogError(f"malformed {fmt} instance ({exc})", source=str(path)) from exc
    return _from_vrplib(path, fmt, data)


def _from_vrplib(path: Path, fmt: str, data: dict) -> BenchmarkInstance:
    for key in ("node_coord", "demand", "capacity"):
        if key not in data:
            raise QlogError(f"missing section {key.upper()}", source=str(path), field=key)
    coords = np.asarray(data["node_coord"], dtype=float)
    n = coords.shape[0]
    depots = np.atleast_1d(data.get("depot", [0]))
    if len(depots) != 1 or int(depots[0]) != 0:
        raise QlogError("only a single depot at node 1 is supported", source=str(path),
                        field="DEPOT_SECTION")
    windows = np.asarray(data.get("time_window", [[0.0, math.inf]] * n), dtype=float)
    service = np.asarray(data.get("service_time", np.zeros(n)), dtype=float)
    if windows.shape != (n, 2) or service.shape not in ((n,), ()):
        raise QlogError("time windows or service times do not match the node count",
                        source=str(path), field="TIME_WINDOW_SECTION")
    demand = np.asarray(data["demand"], dtype=int)
    if demand.shape != (n,):
        raise QlogError("demands do not match the node count", source=str(path), field="DEMAND")
    weight_type = str(data.get("edge_weight_type", "")).upper()
    if weight_type not in ("", "EUC_2D", "FLOAT_2D", "EXACT_2D"):
        raise QlogError(f"edge weight type {weight_type} is not supported", source=str(path),
                        field="EDGE_WEIGHT_TYPE")
    return BenchmarkInstance(
        name=str(data.get("name", path.stem)).strip() or path.stem,
        kind="vrptw" if "time_window" in data else "cvrp",
        source=path,
        coords=coords,
        demand=demand,
        ready_min=windows[:, 0],
        due_min=windows[:, 1],
        service_min=np.broadcast_to(service, (n,)).astype(float),
        capacity=int(np.atleast_1d(data["capacity"])[0]),
        num_vehicles=int(data.get("vehicles", n - 1)),
        sibling=np.zeros(n, dtype=int),
        round_distances=fmt == "vrplib" and weight_type == "EUC_2D",
    )


def _read_lilim(path: Path, text: str) -> BenchmarkInstance:
    """Li & Lim: ``vehicles capacity speed``, then ``id x y demand ready due service p d``."""
    lines = [(no, line.split()) for no, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise QlogError("empty instance file", source=str(path))

    def numbers(no: int, fields: list[str], count: int, what: str) -> list[float]:
        if len(fields) < count:
            raise QlogError(f"expected {count} numbers ({what}), got {len(fields)}",
                            source=str(path), field=f"line {no}")
        try:
            return [float(f) for f in fields[:count]]
        except ValueError as exc:
            raise QlogError(f"not a number in {what}: {exc}", source=str(path),
                            field=f"line {no}") from exc

    vehicles, capacity, _speed = numbers(*lines[0], 3, "vehicles capacity speed")
    rows = [numbers(no, fields, 9, "id x y demand earliest latest service pickup delivery")
            for no, fields in lines[1:]]
    table = np.array(rows)
    if table.shape[0] < 2 or not np.array_equal(table[:, 0], np.arange(table.shape[0])):
        raise QlogError("task ids must run 0, 1, 2, ... with the depot first", source=str(path))
    n = table.shape[0]
    sibling = np.where(table[:, 3] >= 0, table[:, 8], table[:, 7]).astype(int)
    sibling[table[:, 3] == 0] = 0
    for i in range(1, n):
        j = sibling[i]
        ok = 0 < j < n and sibling[j] == i and table[i, 3] == -table[j, 3] != 0
        if not ok:
            raise QlogError(f"task {i} has no matching pickup/delivery partner", source=str(path),
                            field=f"line {lines[i + 1][0]}")
    return BenchmarkInstance(
        name=path.stem, kind="pdptw", source=path, coords=table[:, 1:3],
        demand=table[:, 3].astype(int), ready_min=table[:, 4], due_min=table[:, 5],
        service_min=table[:, 6], capacity=int(capacity), num_vehicles=int(vehicles),
        sibling=sibling)


def to_problem(instance: BenchmarkInstance, *, minimise_vehicles: bool = False) -> Problem:
    """The generic problem of a benchmark: identical vehicles at the depot, hard windows.

    The objective is total distance. ``minimise_vehicles`` gives the literature's hierarchical
    objective instead (fewest vehicles first, then distance): each vehicle costs more than any
    set of routes can drive, namely twice the sum of all depot-customer distances.
    """
    distance = instance.distance_matrix()
    horizon = float(instance.due_min[0])
    fixed = 2.0 * float(distance[0].sum() + distance[:, 0].sum()) if minimise_vehicles else 0.0
    vehicles = [Vehicle(id=v, start_location=0, end_location=0, capacity=instance.capacity,
                        shift_end_min=horizon, fixed_cost=fixed)
                for v in range(instance.num_vehicles)]
    tasks = []
    for i in range(1, instance.num_nodes):
        if instance.kind != "pdptw":
            tasks.append(Task(id=i, kind=TaskKind.VISIT, location=i, size=int(instance.demand[i]),
                              earliest_min=float(instance.ready_min[i]),
                              due_min=float(instance.due_min[i]),
                              service_min=float(instance.service_min[i])))
        elif instance.demand[i] > 0:
            d = int(instance.sibling[i])
            tasks.append(Task(id=i, kind=TaskKind.PICKUP_DELIVERY, location=d, pickup_location=i,
                              size=int(instance.demand[i]),
                              earliest_min=float(instance.ready_min[d]),
                              due_min=float(instance.due_min[d]),
                              service_min=float(instance.service_min[d]),
                              pickup_earliest_min=float(instance.ready_min[i]),
                              pickup_due_min=float(instance.due_min[i]),
                              pickup_service_min=float(instance.service_min[i])))
    return Problem(travel_min=distance, distance_km=distance, vehicles=vehicles, tasks=tasks,
                   hard_time_windows=True, name=instance.name)


def best_known_distance(instance: BenchmarkInstance, bks_file: str | Path | None = None, *,
                        hierarchical: bool = False) -> float | None:
    """Best-known distance from a ``BKS.json`` (default: beside the instance), None if unknown.

    The ``NAME_distance`` entry (distance-only objective) is preferred; files that only give the
    hierarchical ``NAME`` entry (vehicles first, e.g. Li & Lim) fall back to it. With
    ``hierarchical`` the ``NAME`` entry is used: the distance of the fewest-vehicles solution.
    """
    path = Path(bks_file) if bks_file is not None else instance.source.parent / "BKS.json"
    if not path.is_file():
        return None
    try:
        table = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise QlogError(f"unreadable best-known-solutions file ({exc})", source=str(path)) from exc
    keys = [instance.name] if hierarchical else [f"{instance.name}_distance", instance.name]
    for key in keys:
        entry = table.get(key)
        if isinstance(entry, dict) and "best_known_cost" in entry:
            return float(entry["best_known_cost"])
        if isinstance(entry, (int, float)):
            return float(entry)
    return None
