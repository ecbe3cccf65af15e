"""`qlog validate` and `qlog simulate` (single runs, traces and maps, and planning studies)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from qlog_cli.console import ProgressReporter, console, print_stopped, summary_table
from rich import box
from rich.table import Table

from qmix_logistics.common.errors import QlogError
from qmix_logistics.scenario import load_scenario

if TYPE_CHECKING:  # the study stack (pandas, scipy, matplotlib) loads only when a command needs it
    from qmix_logistics.studies.simulate_run import SingleRun, StudyRun


def validate(scenario: Path = typer.Argument(..., help="Scenario YAML file.")) -> None:
    """Check a scenario file: schema, files, node ids, network connectivity and the training settings."""
    from qmix_logistics.env import DispatchEnv
    from qmix_logistics.network.nodes import check_references
    from qmix_logistics.training import learner_config

    sc = load_scenario(scenario)
    net = check_references(sc, source=str(scenario))
    try:
        learner_config(sc)
    except QlogError as exc:  # name this file, not the learner, as the place to fix `training.<field>`
        raise QlogError(exc.reason, source=str(scenario), field=exc.field) from None
    env = DispatchEnv(sc)
    console.print(
        f"[green]ok[/] {scenario}: {sc.name!r}, {net.n_nodes} nodes, {net.graph.number_of_edges()} edges, "
        f"{sc.n_vehicles} vehicles, {len(sc.depots)} depot(s), obs {env.obs_size} floats, "
        f"{env.n_actions} actions, state {env.state_size} floats"
    )


_SHORT_HEADERS = {"episodes": "n", "service level": "service", "total cost": "cost", "utilization": "util"}


def _print_single(run: SingleRun) -> None:
    report = run.report
    console.print(summary_table(f"{report.scenario} · {report.policy} · {len(report.episodes)} episode(s)",
                                report.summary()))
    for output in run.outputs:
        note = f" ({output.note})" if output.note else ""
        console.print(f"{output.kind}: {output.path}{note}", highlight=False)


def _print_study(run: StudyRun) -> None:
    from qmix_logistics.studies.summary import headline_rows

    result = run.result
    rows = headline_rows(result.summary(), [a.key for a in result.axes])
    table = Table(title=f"{result.scenario} · {len(result.seeds)} paired seed(s) · mean ± 95% CI",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in rows[0]:
        header = _SHORT_HEADERS.get(col, col)
        width = max([len(header)] + [len(str(r[col])) for r in rows])  # never squeeze numbers into "…"
        table.add_column(header, justify="left" if col == "policy" else "right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    wide = console.measure(table, options=console.options.update_width(1000)).maximum
    console.print(table, width=max(console.width, wide), crop=False)  # wrap lines rather than drop columns
    where = f"{result.executor}" + (f", {result.workers} worker(s)" if result.workers else "")
    resumed = f", {result.resumed} resumed from the earlier run" if result.resumed else ""
    console.print(f"{len(result.outcomes)} episodes in {result.wall_s:.1f} s ({where}{resumed})")
    console.print(f"wrote {run.out_dir}/: " + ", ".join(p.name for p in run.paths.values()), highlight=False)


def simulate_cmd(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    policy: Optional[list[str]] = typer.Option(
        None, "--policy", "-p",
        help="random, greedy, batching, ortools, pyvrp, a checkpoint or a policy URL; repeat to compare (default: greedy)."),
    episodes: int = typer.Option(5, "--episodes", "-n", min=1, help="Days to simulate (seeds seed, seed+1, ...)."),
    seed: int = typer.Option(None, "--seed", help="First seed (default: the scenario's seed)."),
    out: Path = typer.Option(None, "--out", "-o",
                             help="JSON results file of a single run "
                                  "(default: reports/simulate__<scenario>__<seed>__<time>/results.json)."),
    sweep: Optional[list[str]] = typer.Option(
        None, "--sweep", help="What-if axis: fleet=4:16:2 (total vehicles) or demand=0.5:2.0:0.25 (rate scale); "
                              "inclusive ranges or comma lists; repeat for a grid."),
    workers: int = typer.Option(None, "--workers", min=1, help="Parallel local worker processes for studies (default: all cores)."),
    executor: str = typer.Option("local", "--executor", help="Where study episodes run: local or ray."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (default: start a local Ray)."),
    out_dir: Path = typer.Option(None, "--out-dir",
                                 help="Study folder (default: reports/sweep__<scenario>__<seed>__<time>/); "
                                      "a folder of a stopped study is resumed."),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue the latest stopped study of this scenario and seed (or --out-dir)."),
    orders: Path = typer.Option(None, "--orders", help="Replay this order CSV instead of the scenario's demand."),
    trace: Path = typer.Option(None, "--trace", help="Write every event of every day to PATH.csv or PATH.parquet."),
    map_png: Path = typer.Option(None, "--map", help="Draw the first day's drives in --window to this PNG."),
    gif: Path = typer.Option(None, "--gif", help="Animate the first day's vehicles in --window to this GIF."),
    window: str = typer.Option(None, "--window", help="Map/GIF window start:end in minutes (default: the first 120)."),
) -> None:
    """Run policies for several days and print KPIs; with --sweep or several policies, run a planning study.

    A study (several --policy, any --sweep, --workers, --out-dir, --resume or --executor ray) plays
    every variant x policy on the same seeds, in parallel, and writes results.csv/json, summary.csv,
    PNG figures and report.html to --out-dir; a stopped study continues where it was.
    """
    from qmix_logistics.evaluation.journal import RunStopped
    from qmix_logistics.studies.simulate_run import SimulateOptions, StudyRun, run_simulate

    options = SimulateOptions(
        policies=list(policy or ["greedy"]), episodes=episodes, seed=seed, out=out, sweeps=list(sweep or []),
        workers=workers, executor=executor, address=address, out_dir=out_dir, resume=resume, orders=orders,
        trace=trace, map_png=map_png, gif=gif, window=window)
    label, unit = ("sweep", "episodes") if options.is_study else ("simulate", "days")
    try:
        with ProgressReporter(label, unit) as progress:
            run = run_simulate(scenario, options, on_progress=progress)
    except RunStopped as stopped:
        print_stopped(stopped.folder, stopped.days_kept, "episode(s)")
        raise typer.Exit(130) from None
    if isinstance(run, StudyRun):
        _print_study(run)
    else:
        _print_single(run)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("simulate")(simulate_cmd)
