"""`qlog validate` and `qlog simulate` (single runs, traces and maps, and planning studies)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich import box
from rich.table import Table

from qmix_logistics.common.atomic_io import atomic_write_bytes, atomic_write_json
from qmix_logistics.common.errors import QlogError
from qmix_logistics.scenario import load_scenario

if TYPE_CHECKING:  # the study stack (pandas, scipy, matplotlib) loads only when a command needs it
    from qmix_logistics.scenario import Scenario
    from qmix_logistics.studies.episode import EpisodeOutcome
    from qmix_logistics.studies.sweep import SweepResult
from qlog_cli.console import console, progress_bar, summary_table

_DEFAULT_MAP_WINDOW_MIN = 120.0


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


def _safe(name: str) -> str:
    return name.replace("/", "_").replace(":", "_")


def _run_single(sc: Scenario, policy: str, episodes: int, seed: int | None, out: Path | None,
                trace: Path | None, map_png: Path | None, gif: Path | None, window: str | None) -> None:
    """One policy, no grid: the classic KPI table and JSON, plus an optional trace, route map and GIF."""
    from qmix_logistics.evaluation.simulate import simulate
    from qmix_logistics.studies.route_animation import check_gif_path, write_shift_gif
    from qmix_logistics.studies.route_map import parse_window, route_map_png
    from qmix_logistics.studies.trace import simulate_traced, trace_format, write_trace

    traced = trace is not None or map_png is not None or gif is not None
    start = sc.horizon.start_min
    bounds = parse_window(window) if window else (start, start + _DEFAULT_MAP_WINDOW_MIN)
    if trace is not None:
        trace_format(trace)  # a bad suffix fails now, not after the run
    if gif is not None:
        check_gif_path(gif)
    if window is not None and map_png is None and gif is None:
        raise QlogError("--window sets the span of --map or --gif; give one of them", field="--window")
    with progress_bar() as bar:
        task = bar.add_task(f"simulate {policy}", total=episodes, status="")

        def tick(res) -> None:
            bar.update(task, advance=1, status=f"cost {res.kpis['total_cost']:.0f}")

        if traced:
            report, table = simulate_traced(sc, policy, episodes=episodes, seed=seed, on_episode=tick)
        else:
            report = simulate(sc, policy, episodes=episodes, seed=seed, on_episode=tick)
    console.print(summary_table(f"{sc.name} · {report.policy} · {episodes} episode(s)", report.summary()))
    out = out or Path("reports") / f"simulate__{sc.name}__{_safe(report.policy)}.json"
    atomic_write_json(out, report.to_dict())
    console.print(f"results: {out}")
    if trace is not None:
        write_trace(table, trace)
        console.print(f"trace: {trace} ({len(table)} events, {episodes} day(s))")
    window_text = f"seed {report.episodes[0].seed}, {bounds[0]:g}-{bounds[1]:g} min"
    if map_png is not None:
        atomic_write_bytes(map_png, route_map_png(table, sc, bounds))
        console.print(f"map: {map_png} ({window_text})")
    if gif is not None:
        write_shift_gif(table, sc, gif, bounds)
        console.print(f"animation: {gif} ({window_text})")


_SHORT_HEADERS = {"episodes": "n", "service level": "service", "total cost": "cost", "utilization": "util"}


def _study_table(result: SweepResult) -> Table:
    from qmix_logistics.studies.summary import headline_rows

    rows = headline_rows(result.summary(), [a.key for a in result.axes])
    table = Table(title=f"{result.scenario} · {len(result.seeds)} paired seed(s) · mean ± 95% CI",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in rows[0]:
        header = _SHORT_HEADERS.get(col, col)
        width = max([len(header)] + [len(str(r[col])) for r in rows])  # never squeeze numbers into "…"
        table.add_column(header, justify="left" if col == "policy" else "right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    return table


def _run_study(sc: Scenario, policies: list[str], sweeps: list[str], episodes: int, seed: int | None,
               executor: str, workers: int | None, address: str | None, out_dir: Path | None) -> None:
    """A grid of what-ifs x policies on paired seeds, in parallel, written to one folder."""
    from qmix_logistics.studies.executors import check_executor
    from qmix_logistics.studies.sweep import plan_sweep, run_plan
    from qmix_logistics.studies.sweep_outputs import write_sweep_outputs

    check_executor(executor, address)
    plan = plan_sweep(sc, policies, sweeps=sweeps, episodes=episodes, seed=seed)
    with progress_bar() as bar:
        task = bar.add_task(f"study {sc.name}", total=len(plan.tasks), status=f"starting {executor} workers")

        def tick(o: EpisodeOutcome) -> None:
            bar.update(task, advance=1, status=f"{o.variant.label} · {o.policy} · seed {o.seed}")

        result = run_plan(plan, executor=executor, workers=workers, address=address, on_outcome=tick)
    table = _study_table(result)
    wide = console.measure(table, options=console.options.update_width(1000)).maximum
    console.print(table, width=max(console.width, wide), crop=False)  # wrap lines rather than drop columns
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = out_dir or Path("reports") / f"sweep__{sc.name}__{result.seeds[0]}__{stamp}"
    paths = write_sweep_outputs(result, out_dir)
    where = f"{result.executor}" + (f", {result.workers} worker(s)" if result.workers else "")
    console.print(f"{len(result.outcomes)} episodes in {result.wall_s:.1f} s ({where})")
    console.print(f"wrote {out_dir}/: " + ", ".join(p.name for p in paths.values()))


def simulate_cmd(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    policy: Optional[list[str]] = typer.Option(
        None, "--policy", "-p",
        help="random, greedy, batching, ortools, pyvrp, a checkpoint or a policy URL; repeat to compare (default: greedy)."),
    episodes: int = typer.Option(5, "--episodes", "-n", min=1, help="Days to simulate (seeds seed, seed+1, ...)."),
    seed: int = typer.Option(None, "--seed", help="First seed (default: the scenario's seed)."),
    out: Path = typer.Option(None, "--out", "-o", help="JSON results file of a single run (default: reports/simulate__<scenario>__<policy>.json)."),
    sweep: Optional[list[str]] = typer.Option(
        None, "--sweep", help="What-if axis: fleet=4:16:2 (total vehicles) or demand=0.5:2.0:0.25 (rate scale); "
                              "inclusive ranges or comma lists; repeat for a grid."),
    workers: int = typer.Option(None, "--workers", min=1, help="Parallel local worker processes for studies (default: all cores)."),
    executor: str = typer.Option("local", "--executor", help="Where study episodes run: local or ray."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (default: start a local Ray)."),
    out_dir: Path = typer.Option(None, "--out-dir", help="Study folder (default: reports/sweep__<scenario>__<seed>__<time>)."),
    orders: Path = typer.Option(None, "--orders", help="Replay this order CSV instead of the scenario's demand."),
    trace: Path = typer.Option(None, "--trace", help="Write every event of every day to PATH.csv or PATH.parquet."),
    map_png: Path = typer.Option(None, "--map", help="Draw the first day's drives in --window to this PNG."),
    gif: Path = typer.Option(None, "--gif", help="Animate the first day's vehicles in --window to this GIF."),
    window: str = typer.Option(None, "--window", help="Map/GIF window start:end in minutes (default: the first 120)."),
) -> None:
    """Run policies for several days and print KPIs; with --sweep or several policies, run a planning study.

    A study (several --policy, any --sweep, --workers, --out-dir or --executor ray) plays every
    variant x policy on the same seeds, in parallel, and writes results.csv/json, summary.csv, PNG
    figures and report.html to --out-dir.
    """
    policies = list(policy or ["greedy"])
    sweeps = list(sweep or [])
    sc = load_scenario(scenario)
    if orders is not None:
        from qmix_logistics.studies.replay import replay_orders

        sc = replay_orders(sc, orders)
    study = bool(sweeps) or len(policies) > 1 or workers is not None or out_dir is not None or executor != "local"
    if not study:
        if address is not None:
            raise QlogError("--address only applies to --executor ray", field="--address")
        _run_single(sc, policies[0], episodes, seed, out, trace, map_png, gif, window)
        return
    for flag, value in (("--trace", trace), ("--map", map_png), ("--gif", gif), ("--window", window), ("--out", out)):
        if value is not None:
            raise QlogError(f"{flag} applies to a single policy without --sweep; studies write to --out-dir",
                            field=flag)
    _run_study(sc, policies, sweeps, episodes, seed, executor, workers, address, out_dir)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("simulate")(simulate_cmd)

