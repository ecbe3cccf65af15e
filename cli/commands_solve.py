"""`qlog eval` (compare policies on paired days) and `qlog solve` (one benchmark instance)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer
from qlog_cli.console import console, err_console, fmt, progress_bar
from rich.table import Table

from qmix_logistics.common.atomic_io import atomic_write_json, atomic_write_text
from qmix_logistics.common.errors import QlogError
from qmix_logistics.evaluation.compare import evaluate, save_report
from qmix_logistics.planning.engines import ENGINES
from qmix_logistics.planning.solve import SolveResult, solve_instance
from qmix_logistics.scenario import load_scenario


def eval_cmd(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    policies: str = typer.Option("greedy,batching,ortools,pyvrp,random", "--policies", "-p",
                                 help="Comma-separated: random, greedy, batching, ortools, pyvrp, checkpoints, policy URLs."),
    episodes: int = typer.Option(5, "--episodes", "-n", min=1, help="Days per policy (seeds seed, seed+1, ...)."),
    seed: int = typer.Option(None, "--seed", help="First seed (default: the scenario's seed)."),
    out_dir: Path = typer.Option(None, "--out-dir", "-o", help="Output folder (default: reports/eval__<scenario>__<time>/)."),
    planner_time_limit: float = typer.Option(None, "--planner-time-limit",
                                             help="Search seconds per re-plan of the ortools/pyvrp planners."),
) -> None:
    """Compare policies on the same seeded days: KPI means with 95 % intervals, paired wins, timing."""
    sc = load_scenario(scenario)
    specs = [p.strip() for p in policies.split(",") if p.strip()]
    with progress_bar() as bar:
        task = bar.add_task("eval", total=episodes * len(specs), status="")

        def tick(label: str, result) -> None:
            bar.update(task, advance=1, status=f"{label} seed {result.seed}: cost {result.kpis['total_cost']:.0f}")

        report = evaluate(sc, specs, episodes, seed, on_progress=tick, planner_time_limit_s=planner_time_limit)
    seeds = report.seeds
    table = Table(title=f"{sc.name} · {len(seeds)} paired day(s), seeds {seeds[0]}..{seeds[-1]} · mean ± 95 % CI")
    table.add_column("")
    for label in report.policies:
        table.add_column(label, justify="right")
    for row in report.display_rows():
        table.add_row(*(row[c] for c in ["", *report.policies]))
    console.print(table)
    pairs = report.pair_rows()
    if pairs:
        table = Table(title="paired by day: W-T-L of the first policy, Δ = first − second [95 % CI]")
        for i, column in enumerate(pairs[0]):
            table.add_column(column, justify="left" if i == 0 else "right", no_wrap=i == 0)
        for row in pairs:
            table.add_row(*row.values())
        console.print(table)
    out = out_dir or Path("reports") / f"eval__{sc.name}__{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    for kind, path in save_report(report, out).items():
        console.print(f"{kind}: {path}")


def _bks_arg(value: str | None) -> float | Path | None:
    """``--bks``: a best-known distance, or a BKS.json file."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        path = Path(value)
        if not path.is_file():
            raise QlogError("neither a number nor an existing BKS.json file", source=value, field="--bks") from None
        return path


def _routes_text(result: SolveResult) -> str:
    """VRPLIB solution format: one ``Route #k: customers`` line per vehicle, then the cost."""
    lines = [f"Route #{k}: {' '.join(str(c) for c in route)}" for k, route in enumerate(result.routes, 1)]
    return "\n".join(lines + [f"Cost {result.cost:.6f}"]) + "\n"


def solve_cmd(
    instance: Path = typer.Argument(..., help="Solomon, VRPLIB (.vrp) or Li & Lim instance file."),
    engine: str = typer.Option("ortools", "--engine", "-e", help="ortools or pyvrp."),
    time_limit: float = typer.Option(10.0, "--time-limit", "-t", help="Search seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout and nothing else."),
    bks: str = typer.Option(None, "--bks", help="Best-known distance, or a BKS.json file (default: BKS.json beside the instance)."),
    routes_out: Path = typer.Option(None, "--routes-out", help="Write the routes (VRPLIB .sol text; JSON if the name ends in .json)."),
) -> None:
    """Solve one benchmark instance; print cost, vehicles, gap to the best known and feasibility."""
    if engine not in ENGINES:
        raise QlogError(f"unknown engine {engine!r}; choose one of {sorted(ENGINES)}", field="--engine")
    if time_limit <= 0:
        raise QlogError("the time limit must be positive", field="--time-limit")
    best = _bks_arg(bks)
    try:
        result = solve_instance(instance, engine=engine, time_limit_s=time_limit, bks=best)
    except UnicodeDecodeError:
        raise QlogError("not a text file", source=str(instance)) from None
    if routes_out is not None:
        if routes_out.suffix.lower() == ".json":
            atomic_write_json(routes_out, {"instance": result.instance, "cost": result.cost, "routes": result.routes})
        else:
            atomic_write_text(routes_out, _routes_text(result))
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    gap = "unknown" if result.gap_pct is None else f"{result.gap_pct:+.2f} % (best known {fmt(result.bks_distance)})"
    console.print(f"[bold]{result.instance}[/] · {engine} · {result.time_s:.1f} s · {result.status}")
    console.print(f"cost {result.cost:.2f} · vehicles {result.vehicles} · gap {gap}")
    if result.feasible:
        console.print("[green]feasible[/] (checked against the raw instance)")
    else:
        console.print(f"[red]infeasible[/]: {len(result.feasibility.violations)} violation(s)")
        for line in result.feasibility.violations[:10]:
            err_console.print(f"  {line}", highlight=False)
    for k, route in enumerate(result.routes[:20], 1):
        console.print(f"route {k}: {' '.join(str(c) for c in route)}", highlight=False)
    if len(result.routes) > 20:
        console.print(f"... {len(result.routes) - 20} more route(s)")
    if routes_out is not None:
        console.print(f"routes: {routes_out}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("solve")(solve_cmd)
