"""Solve one benchmark file and score it: what ``qlog solve INSTANCE`` reports.

The cost is the total distance of the routes (the objective of the distance-only best-known
solutions), the gap is measured against the best-known distance, and feasibility is judged by
:mod:`qmix_logistics.planning.feasibility` on the raw file, not by the engine that built the routes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from qmix_logistics.planning.engines import plan
from qmix_logistics.planning.feasibility import FeasibilityReport, check_routes
from qmix_logistics.planning.instances import (
    best_known_distance,
    read_instance,
    to_problem,
)


@dataclass
class SolveResult:
    """One engine run on one instance."""

    instance: str
    engine: str
    cost: float
    """Total distance of the routes (instance units, km by convention)."""
    vehicles: int
    routes: list[list[int]]
    """Customer numbers in visiting order, one list per used vehicle (the depot is left out)."""
    bks_distance: float | None
    gap_pct: float | None
    """(cost - bks_distance) / bks_distance x 100; None when no best-known value is known."""
    time_s: float
    status: str
    feasibility: FeasibilityReport

    @property
    def feasible(self) -> bool:
        return self.feasibility.feasible

    def to_dict(self) -> dict:
        """Plain JSON-ready dictionary (numbers, strings, lists)."""
        return {
            "instance": self.instance, "engine": self.engine, "cost": self.cost,
            "vehicles": self.vehicles, "routes": self.routes, "bks_distance": self.bks_distance,
            "gap_pct": self.gap_pct, "time_s": self.time_s, "status": self.status,
            "feasible": self.feasible, "violations": list(self.feasibility.violations),
        }


def solve_instance(path: str | Path, engine: str = "ortools", time_limit_s: float = 10.0,
                   bks: float | str | Path | None = None, *,
                   minimise_vehicles: bool = False) -> SolveResult:
    """Read, solve and check one Solomon / VRPLIB / Li & Lim file.

    ``bks``: a best-known distance, or a ``BKS.json`` path; by default ``BKS.json`` beside the
    instance is used when present. ``minimise_vehicles`` switches to the hierarchical objective
    (fewest vehicles, then distance) and compares with the matching best-known entry.
    """
    started = time.perf_counter()
    instance = read_instance(path)
    problem = to_problem(instance, minimise_vehicles=minimise_vehicles)
    result = plan(problem, engine=engine, time_limit_s=time_limit_s)
    routes = [[stop.location for stop in route.stops] for route in result.routes if route.stops]
    report = check_routes(instance, routes)
    bks_distance = (float(bks) if isinstance(bks, (int, float))
                    else best_known_distance(instance, bks, hierarchical=minimise_vehicles))
    cost = result.cost.distance_km
    gap = (cost - bks_distance) / bks_distance * 100 if bks_distance and routes else None
    return SolveResult(
        instance=instance.name, engine=engine, cost=cost, vehicles=len(routes), routes=routes,
        bks_distance=bks_distance, gap_pct=gap, time_s=time.perf_counter() - started,
        status=result.status.value, feasibility=report)
