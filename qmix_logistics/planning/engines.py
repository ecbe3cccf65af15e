"""One entry point over the planning engines: ``plan(problem, engine=...)``.

Callers (the benchmark solver, later the rolling-horizon dispatcher) pick an engine by name so
that switching is a flag, not an import.
"""

from __future__ import annotations

from typing import Any, Callable

from qmix_logistics.common.errors import QlogError
from qmix_logistics.planning.ortools_engine import solve_ortools
from qmix_logistics.planning.problem import Plan, Problem


def solve_pyvrp(problem: Problem, time_limit_s: float = 10.0, **options: Any) -> Plan:
    """:func:`qmix_logistics.planning.pyvrp_engine.solve_pyvrp`, imported on first use so that OR-Tools
    runs never load PyVRP."""
    from qmix_logistics.planning.pyvrp_engine import solve_pyvrp as solve

    return solve(problem, time_limit_s, **options)


ENGINES: dict[str, Callable[..., Plan]] = {"ortools": solve_ortools, "pyvrp": solve_pyvrp}


def plan(problem: Problem, engine: str = "ortools", time_limit_s: float = 10.0,
         warm_start: Plan | None = None, work_limit: int | None = None, **engine_options: Any) -> Plan:
    """Solve ``problem`` with the named engine within ``time_limit_s`` seconds of search.

    ``work_limit`` also stops the search after that much of the engine's own work (OR-Tools:
    solutions, PyVRP: iterations); a plan that it ends, not the clock, is reproducible anywhere.

    ``warm_start`` is a previous plan (typically from the last dispatch epoch); each engine uses
    whatever of it still fits the new problem and otherwise starts afresh. ``engine_options`` go
    to the engine as keywords: ``settings=OrToolsSettings(...)`` for OR-Tools (e.g. ``workers=1``
    for one in-process search), ``seed=...`` for PyVRP.
    """
    try:
        solver = ENGINES[engine]
    except KeyError:
        raise QlogError(f"unknown engine {engine!r}; choose one of {sorted(ENGINES)}",
                        field="engine") from None
    if time_limit_s <= 0:
        raise QlogError("the time limit must be positive", field="time_limit_s")
    if work_limit is not None and work_limit < 1:
        raise QlogError("the work limit must be at least 1", field="work_limit")
    return solver(problem, time_limit_s, warm_start=warm_start, work_limit=work_limit, **engine_options)
