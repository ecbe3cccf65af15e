"""`qlog eval` (compare policies on paired days) and `qlog solve` (one benchmark instance)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from qlog_cli.console import ProgressReporter, console, err_console, print_stopped
from rich.table import Table

from qmix_logistics.common.atomic_io import atomic_write_json, atomic_write_text
from qmix_logistics.common.errors import QlogError
from qmix_logistics.common.formatting import format_number
from qmix_logistics.planning.engines import ENGINES
from qmix_logistics.planning.solve import SolveResult, solve_instance


def eval_cmd(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    policies: str = typer.Option("greedy,batching,ortools,pyvrp,random", "--policies", "-p",
                                 help="Comma-separated: random, greedy, batching, ortools, pyvrp, checkpoints, policy URLs."),
    episodes: int = typer.Option(5, "--episodes", "-n", min=1, help="Days per policy (seeds seed, seed+1, ...)."),
    seed: int = typer.Option(None, "--seed", help="First seed (default: the scenario's seed)."),
    out_dir: Path = typer.Option(None, "--out-dir", "-o",
                                 help="Output folder (default: reports/eval__<scenario>__<seed>__<time>/); "
                                      "a folder of a stopped run is resumed."),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue the latest stopped eval of this scenario and seed (or --out-dir), "
                                     "playing only the days it had not finished."),
    planner_time_limit: float = typer.Option(None, "--planner-time-limit",
                                             help="Search seconds per re-plan of the ortools/pyvrp planners."),
    planner_budget: str = typer.Option("time", "--planner-budget",
                                       help="What ends a planner's search: time (the clock; results vary with the "
                                            "machine and its load) or work (a fixed amount of search, the same "
                                            "results on every run, locally or on Ray)."),
    executor: str = typer.Option("local", "--executor", help="Where the days run: local processes or a ray cluster."),
    workers: int = typer.Option(None, "--workers", min=1,
                                help="Local processes playing days at once (default: one per core; 1 plays them "
                                     "in this process)."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (with --executor ray; default: a "
                                                        "local Ray instance)."),
) -> None:
    """Compare policies on the same seeded days: KPI means with 95 % intervals, paired wins, timing.

    Days are independent jobs: they run on all local cores by default, or on a Ray cluster; results of
    deterministic policies (the planners too, with --planner-budget work) do not depend on where they ran.
    """
    from qmix_logistics.evaluation.eval_run import run_eval
    from qmix_logistics.evaluation.journal import RunStopped
    from qmix_logistics.evaluation.render import display_rows, pair_rows

    specs = [p.strip() for p in policies.split(",") if p.strip()]
    try:
        with ProgressReporter("eval") as progress:
            run = run_eval(scenario, specs, episodes, seed, out_dir=out_dir, resume=resume,
                           planner_time_limit_s=planner_time_limit, planner_budget=planner_budget,
                           on_progress=progress, executor=executor, workers=workers, address=address)
    except RunStopped as stopped:
        print_stopped(stopped.folder, stopped.days_kept)
        raise typer.Exit(130) from None
    report = run.report
    seeds = report.seeds
    table = Table(title=f"{report.scenario} · {len(seeds)} paired day(s), seeds {seeds[0]}..{seeds[-1]} "
                        "· mean ± 95 % CI")
    table.add_column("")
    for label in report.policies:
        table.add_column(label, justify="right")
    for row in display_rows(report):
        table.add_row(*(row[c] for c in ["", *report.policies]))
    console.print(table)
    pairs = pair_rows(report)
    if pairs:
        table = Table(title="paired by day: W-T-L of the first policy, Δ = first − second [95 % CI]")
        for i, column in enumerate(pairs[0]):
            table.add_column(column, justify="left" if i == 0 else "right", no_wrap=i == 0)
        for row in pairs:
            table.add_row(*row.values())
        console.print(table)
    for label, stats in report.planner_stats().items():
        console.print(f"{label}: {stats['plans']:.0f} re-plans, {stats['retries']:.0f} restarted from the onboard-only "
                      f"plan, {stats['failures']:.0f} without a plan (previous kept), {stats['infeasible']:.0f} "
                      f"infeasible; fallback share {stats['fallback_share']:.1%}, {stats['solve_s']:.0f} s solving"
                      + (f", {stats['budget_s'] / max(stats['plans'], 1):.2f} s of search granted per re-plan"
                         if "budget_s" in stats else "")
                      + (f"; ended by the clock before their work: {stats.get('clock_stops', 0):.0f}"
                         if report.planner_budget == "work" else ""),
                      highlight=False)
    if report.resumed_days:
        console.print(f"{report.resumed_days} day(s) resumed from {run.out_dir}", highlight=False)
    for kind, path in run.paths.items():
        console.print(f"{kind}: {path}", highlight=False)


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
    best_known = format_number(result.bks_distance)
    gap = "unknown" if result.gap_pct is None else f"{result.gap_pct:+.2f} % (best known {best_known})"
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
