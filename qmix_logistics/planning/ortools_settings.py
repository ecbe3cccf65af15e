"""How the OR-Tools engine searches, and why these defaults.

Measured on the six shared Solomon instances and on Solomon instances kept aside for validation
(first twelve: C103 C206 R102 R106 R110 R203 R206 R210 RC102 RC105 RC203 RC207, then all 50 that
are not shared), with 10 s of CPU per run so that a busy machine cannot distort the comparison:

| guided local search (lambda 0.1 unless named)  | shared 6 | 12 held out | all 50 unseen |
|-------------------------------------------------|----------|-------------|---------------|
| parallel cheapest insertion (PCI), default ops  |   1.08 % |      3.64 % |               |
| PCI, lambda 0.05 / 0.2 / 0.3                    |   worse  |             |               |
| local cheapest cost insertion, path-LNS off     |   1.48 % |             |               |
| PCI, multi-armed-bandit operator order          |   1.56 % |             |               |
| PCI, simulated annealing / tabu instead         |   worse  |             |               |
| PCI, the two path-LNS operators off             |   0.92 % |      3.52 % |        3.05 % |
| savings, the two path-LNS operators off         |   1.49 % |      2.63 % |        2.69 % |
| **the last two in parallel, cheaper one wins**  |   0.90 % |      2.43 % |        2.16 % |

Gaps are to the best-known *distance*. Per instance, guided local search is chaotic (a tiny change
moves single gaps by half a point either way), so only changes that help on both sets were kept:

* the two path-LNS operators rebuild routes by cheapest insertion under a 0.1 s sub-limit each;
  in a 10 s budget that time buys more plain moves, and every other operator is left on. They
  stay on when the problem has pickup-and-delivery pairs: re-inserting a pair is what they do
  well, and on Li & Lim lrc101 switching them off cost 1.3 points (lc101, lr101 unchanged);
* parallel cheapest insertion and savings give starting solutions of different shapes (PCI is
  better on tight windows, savings on the long routes of R2/RC2), and the machine has two cores
  while OR-Tools searches on one: running both and keeping the cheaper plan cuts the unseen-
  instance gap by almost a third at no extra wall time. ``workers=1`` keeps a single in-process search (PCI).

Not adopted: OR-Tools 9.15's ``use_iterated_local_search`` (SISR ruin-and-recreate), which in
our runs through the Python wrapper stopped at the first local optimum; cross-exchange,
relocate-neighbours and the other LNS operators; restricted operator neighbourhoods (much worse).
The capacity formulation (free start load, see the engine) searches exactly like the textbook
one (identical results).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from google.protobuf import text_format
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from qmix_logistics.common.errors import QlogError

FirstSolution = routing_enums_pb2.FirstSolutionStrategy
Metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic


@dataclass(frozen=True)
class OrToolsSettings:
    """Search settings; the defaults are the ones measured above."""

    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    """Name of a ``FirstSolutionStrategy`` value: builds the starting routes."""
    alternative_first_solutions: tuple[str, ...] = ("SAVINGS",)
    """Starting strategies of the other portfolio members (worker 2, 3, ...)."""
    workers: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))
    """Searches run in parallel processes, each from its own first solution; the cheapest wins.
    Two by default (one on a single-core machine); a dispatcher that plans often may prefer 1."""
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    """Name of a ``LocalSearchMetaheuristic`` value: how the search escapes local optima."""
    gls_lambda: float = 0.1
    """Guided local search penalty weight relative to the average arc cost."""
    use_full_propagation: bool = False
    log_search: bool = False
    extra_operators: tuple[str, ...] = field(default_factory=tuple)
    """``local_search_operators`` fields to switch on besides OR-Tools' defaults."""
    disabled_operators: tuple[str, ...] = field(default_factory=tuple)
    """``local_search_operators`` fields to switch off."""
    disabled_operators_without_pairs: tuple[str, ...] = (
        "use_global_cheapest_insertion_path_lns", "use_local_cheapest_insertion_path_lns")
    """Switched off only for problems without pickup-and-delivery pairs (see above)."""
    extra_parameters: str = ""
    """Further ``RoutingSearchParameters`` in protobuf text format, merged last."""


def search_parameters(settings: OrToolsSettings, time_limit_s: float, *, has_pairs: bool = False,
                      solution_limit: int | None = None):
    """OR-Tools search parameters for these settings; invalid combinations are a user error.

    ``solution_limit`` stops the search after that many solutions (each accepted move of the local
    search is one), whichever of it and the time limit comes first: a search that the solution limit
    stops is reproducible, one that the clock stops depends on the machine and its load."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    try:
        params.first_solution_strategy = getattr(FirstSolution, settings.first_solution)
        params.local_search_metaheuristic = getattr(Metaheuristic, settings.metaheuristic)
    except AttributeError as exc:
        raise QlogError(f"unknown OR-Tools strategy {exc.args[0]}", field="settings") from None
    params.guided_local_search_lambda_coefficient = settings.gls_lambda
    params.use_full_propagation = settings.use_full_propagation
    params.log_search = settings.log_search
    for name in settings.extra_operators:
        setattr(params.local_search_operators, name, optional_boolean_pb2.BOOL_TRUE)
    disabled = settings.disabled_operators
    if not has_pairs:
        disabled += settings.disabled_operators_without_pairs
    for name in disabled:
        setattr(params.local_search_operators, name, optional_boolean_pb2.BOOL_FALSE)
    try:
        text_format.Merge(settings.extra_parameters, params)
    except text_format.ParseError as exc:
        raise QlogError(f"bad extra OR-Tools parameters: {exc}", field="settings") from None
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    if solution_limit is not None:
        params.solution_limit = max(1, int(solution_limit))
    error = pywrapcp.FindErrorInRoutingSearchParameters(params)
    if error:
        raise QlogError(f"invalid OR-Tools search parameters: {error}", field="settings")
    return params


def portfolio(settings: OrToolsSettings) -> list[OrToolsSettings]:
    """The searches to run side by side: one per first-solution strategy, at most ``workers``."""
    strategies = [settings.first_solution, *settings.alternative_first_solutions]
    return [replace(settings, first_solution=s) for s in strategies[:max(1, settings.workers)]]
