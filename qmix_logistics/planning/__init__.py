"""Static vehicle-routing engines (OR-Tools, PyVRP) over one generic pickup-and-delivery problem.

Typical use::

    from qmix_logistics.planning import Problem, Vehicle, Task, TaskKind, plan
    result = plan(problem, engine="ortools", time_limit_s=5.0, warm_start=previous)

and for benchmark files ``solve_instance(path, engine="pyvrp")``.
"""

from qmix_logistics.planning.engines import ENGINES, plan
from qmix_logistics.planning.problem import (
    CostBreakdown,
    Objective,
    Plan,
    PlannedStop,
    PlanStatus,
    Problem,
    StopKind,
    Task,
    TaskKind,
    Vehicle,
    VehicleRoute,
)
from qmix_logistics.planning.solve import SolveResult, solve_instance

__all__ = [
    "ENGINES", "CostBreakdown", "Objective", "Plan", "PlanStatus", "PlannedStop", "Problem",
    "SolveResult", "StopKind", "Task", "TaskKind", "Vehicle", "VehicleRoute", "plan",
    "solve_instance",
]
