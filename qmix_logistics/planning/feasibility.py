"""Judge benchmark routes against the raw instance, independently of the engines.

Nothing here uses the :class:`Problem` or the matrices the engines saw: distances are recomputed
from the coordinates and every rule is re-applied from the file's own demands and windows. A bug
in the conversion to a problem, in the scaling to integers, or in an engine therefore shows up
as a violation here instead of as a suspiciously good gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from qmix_logistics.planning.instances import BenchmarkInstance

TIME_TOLERANCE_MIN = 1e-6


@dataclass
class FeasibilityReport:
    """Outcome of a check: every broken rule in words, and the recomputed totals."""

    violations: list[str] = field(default_factory=list)
    distance: float = 0.0
    """Total route length in the instance's distance units (km for our purposes)."""
    vehicles: int = 0
    served: int = 0

    @property
    def feasible(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict:
        return {"feasible": self.feasible, "violations": list(self.violations),
                "distance": self.distance, "vehicles": self.vehicles, "served": self.served}


def _leg(instance: BenchmarkInstance, a: int, b: int) -> float:
    (xa, ya), (xb, yb) = instance.coords[a], instance.coords[b]
    length = math.hypot(float(xa) - float(xb), float(ya) - float(yb))
    return float(round(length)) if instance.round_distances else length


def _check_route(instance: BenchmarkInstance, r: int, route: list[int], report: FeasibilityReport) -> None:
    """Walk one route from the depot and back, recording distance and every broken rule."""
    where = f"route {r}"
    pdptw = instance.kind == "pdptw"
    load = 0 if pdptw else sum(int(instance.demand[c]) for c in route)
    if load > instance.capacity:
        report.violations.append(f"{where}: total demand {load} exceeds capacity {instance.capacity}")
    clock = float(instance.ready_min[0])
    here = 0
    position: dict[int, int] = {}
    for step, customer in enumerate(route):
        travel = _leg(instance, here, customer)
        report.distance += travel
        start = max(clock + travel, float(instance.ready_min[customer]))
        if start > float(instance.due_min[customer]) + TIME_TOLERANCE_MIN:
            report.violations.append(
                f"{where}: customer {customer} served at {start:.4f}, after due {instance.due_min[customer]:g}")
        if pdptw:
            load += int(instance.demand[customer])
            partner = int(instance.sibling[customer])
            if instance.demand[customer] < 0 and partner not in position:
                report.violations.append(
                    f"{where}: delivery {customer} without its pickup {partner} earlier on the route")
            if load > instance.capacity or load < 0:
                report.violations.append(f"{where}: load {load} out of [0, capacity] at {customer}")
        position[customer] = step
        clock = start + float(instance.service_min[customer])
        here = customer
    if pdptw:
        for customer in route:
            partner = int(instance.sibling[customer])
            if instance.demand[customer] > 0 and partner not in position:
                report.violations.append(f"{where}: pickup {customer} delivered on another route")
    travel = _leg(instance, here, 0)
    report.distance += travel
    if clock + travel > float(instance.due_min[0]) + TIME_TOLERANCE_MIN:
        report.violations.append(f"{where}: back at the depot at {clock + travel:.4f}, after its due")


def check_routes(instance: BenchmarkInstance, routes: list[list[int]], *,
                 allow_unserved: bool = False) -> FeasibilityReport:
    """Check routes given as customer numbers (depot 0 left out) against the raw instance.

    Rules: every customer served exactly once (unless ``allow_unserved``), no more routes than
    vehicles, capacity never exceeded, service starts inside every window (waiting allowed), the
    route is back at the depot by its due time, and for PDPTW each pickup precedes its delivery
    on the same route.
    """
    report = FeasibilityReport()
    used = [route for route in routes if route]
    report.vehicles = len(used)
    if len(used) > instance.num_vehicles:
        report.violations.append(f"{len(used)} routes but only {instance.num_vehicles} vehicles")
    seen: dict[int, int] = {}
    for route in used:
        for customer in route:
            seen[customer] = seen.get(customer, 0) + 1
    bad = sorted(c for c in seen if not 0 < c < instance.num_nodes)
    if bad:
        report.violations.append(f"unknown customer numbers {bad}")
        return report
    for r, route in enumerate(used):
        _check_route(instance, r, route, report)
    report.served = len(seen)
    twice = sorted(c for c, count in seen.items() if count > 1)
    if twice:
        report.violations.append(f"customers served more than once: {twice}")
    missing = sorted(set(range(1, instance.num_nodes)) - set(seen))
    if missing and not allow_unserved:
        report.violations.append(f"customers never served: {missing}")
    return report
