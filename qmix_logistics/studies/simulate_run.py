"""``qlog simulate`` from flags to files: a single run (with trace, map and GIF) or a planning study.

:func:`run_simulate` decides which of the two a set of options asks for, refuses flags that do not
belong to it (a :class:`QlogError` naming the flag, before any day is played), runs it and writes
its files. Default output folders follow the project's one pattern
(``reports/<command>__<scenario>__<seed>__<time>/``, see
:mod:`qmix_logistics.evaluation.run_folder`): ``simulate__...`` for a single run (``results.json``),
``sweep__...`` for a study. A study writes every finished episode to the folder's journal as it
ends and resumes a stopped one (``resume=True`` or the same ``out_dir``); stopping it raises
:class:`~qmix_logistics.evaluation.journal.RunStopped` naming the folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from qmix_logistics.common.atomic_io import atomic_write_bytes, atomic_write_json
from qmix_logistics.common.errors import QlogError
from qmix_logistics.evaluation.journal import DayJournal, RunStopped
from qmix_logistics.evaluation.progress import OnProgress, RunProgress
from qmix_logistics.evaluation.rollout import EpisodeResult
from qmix_logistics.evaluation.run_folder import REPORTS_ROOT, choose_run_folder
from qmix_logistics.evaluation.simulate import SimulationReport, simulate
from qmix_logistics.scenario import Scenario, load_scenario
from qmix_logistics.studies.sweep import SweepResult

DEFAULT_MAP_WINDOW_MIN = 120.0


@dataclass(frozen=True)
class SimulateOptions:
    """Everything ``qlog simulate`` can be asked; the defaults are a 5-day greedy single run."""

    policies: Sequence[str] = ("greedy",)
    episodes: int = 5
    seed: int | None = None
    """First seed (default: the scenario's)."""
    out: Path | None = None
    """Single run: the results JSON file (default ``<run folder>/results.json``)."""
    sweeps: Sequence[str] = ()
    workers: int | None = None
    executor: str = "local"
    address: str | None = None
    out_dir: Path | None = None
    """Study: the output folder (an earlier run's folder resumes it)."""
    resume: bool = False
    orders: Path | None = None
    """Replay this order CSV instead of the scenario's demand."""
    trace: Path | None = None
    map_png: Path | None = None
    gif: Path | None = None
    window: str | None = None
    """``start:end`` minutes of the map and GIF (default: the first 120 minutes of the day)."""
    reports_root: Path = REPORTS_ROOT

    @property
    def is_study(self) -> bool:
        """Several policies, a sweep, workers, an output folder, Ray or a resume make a study."""
        return (bool(self.sweeps) or len(self.policies) > 1 or self.workers is not None
                or self.out_dir is not None or self.executor != "local" or self.resume)


@dataclass(frozen=True)
class Output:
    """One file a run wrote: what it is, where, and a short note for people (may be empty)."""

    kind: str
    path: Path
    note: str = ""


@dataclass(frozen=True)
class SingleRun:
    """A finished single run: the KPI report and the files written."""

    report: SimulationReport
    outputs: list[Output] = field(default_factory=list)


@dataclass(frozen=True)
class StudyRun:
    """A finished study: its result, its folder and the files written there."""

    result: SweepResult
    out_dir: Path
    paths: dict[str, Path]


def check_options(options: SimulateOptions) -> None:
    """Refuse flags that do not fit together, naming the flag, before any work starts."""
    if options.episodes < 1:
        raise QlogError("needs at least one episode", field="--episodes")
    if not options.policies:
        raise QlogError("give at least one policy", field="--policy")
    if options.is_study:
        for flag, value in (("--trace", options.trace), ("--map", options.map_png), ("--gif", options.gif),
                            ("--window", options.window), ("--out", options.out)):
            if value is not None:
                raise QlogError(f"{flag} applies to a single policy without --sweep; studies write to --out-dir",
                                field=flag)
        return
    if options.address is not None:
        raise QlogError("--address only applies to --executor ray", field="--address")
    if options.window is not None and options.map_png is None and options.gif is None:
        raise QlogError("--window sets the span of --map or --gif; give one of them", field="--window")
    if options.trace is not None or options.map_png is not None or options.gif is not None:
        from qmix_logistics.studies.route_animation import check_gif_path
        from qmix_logistics.studies.route_map import parse_window
        from qmix_logistics.studies.trace import trace_format

        if options.trace is not None:
            trace_format(options.trace)  # a bad suffix fails now, not after the run
        if options.gif is not None:
            check_gif_path(options.gif)
        if options.window is not None:
            parse_window(options.window)


def run_simulate(scenario: Scenario | str | Path, options: SimulateOptions, *,
                 on_progress: OnProgress | None = None) -> SingleRun | StudyRun:
    """Run what ``options`` ask for on ``scenario`` (loaded, or its YAML file) and write its files."""
    check_options(options)
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if options.orders is not None:
        from qmix_logistics.studies.replay import replay_orders

        sc = replay_orders(sc, options.orders)
    if options.is_study:
        return _run_study(sc, options, on_progress)
    return _run_single(sc, options, on_progress)


def _episode_callback(options: SimulateOptions, policy: str, on_progress: OnProgress | None):
    if on_progress is None:
        return None
    done = 0

    def tick(result: EpisodeResult) -> None:
        nonlocal done
        done += 1
        on_progress(RunProgress(done, options.episodes, 0, policy, result.seed, float(result.kpis["total_cost"])))

    on_progress(RunProgress(0, options.episodes))
    return tick


def _run_single(sc: Scenario, options: SimulateOptions, on_progress: OnProgress | None) -> SingleRun:
    """One policy, no grid: the KPI report and its JSON, plus the trace, route map and GIF asked for."""
    policy = options.policies[0]
    first_seed = sc.seed if options.seed is None else options.seed
    tick = _episode_callback(options, policy, on_progress)
    traced = options.trace is not None or options.map_png is not None or options.gif is not None
    table = None
    if traced:
        from qmix_logistics.studies.trace import simulate_traced

        report, table = simulate_traced(sc, policy, episodes=options.episodes, seed=first_seed, on_episode=tick)
    else:
        report = simulate(sc, policy, episodes=options.episodes, seed=first_seed, on_episode=tick)
    out = options.out or choose_run_folder("simulate", sc.name, first_seed, root=options.reports_root) / "results.json"
    atomic_write_json(out, report.to_dict())
    outputs = [Output("results", out)]
    if table is not None:
        outputs += _write_pictures(sc, options, report, table)
    return SingleRun(report, outputs)


def _write_pictures(sc: Scenario, options: SimulateOptions, report: SimulationReport, table) -> list[Output]:
    from qmix_logistics.studies.route_animation import write_shift_gif
    from qmix_logistics.studies.route_map import parse_window, route_map_png
    from qmix_logistics.studies.trace import write_trace

    outputs = []
    if options.trace is not None:
        write_trace(table, options.trace)
        outputs.append(Output("trace", options.trace, f"{len(table)} events, {options.episodes} day(s)"))
    start = sc.horizon.start_min
    bounds = parse_window(options.window) if options.window else (start, start + DEFAULT_MAP_WINDOW_MIN)
    window = f"seed {report.episodes[0].seed}, {bounds[0]:g}-{bounds[1]:g} min"
    if options.map_png is not None:
        atomic_write_bytes(options.map_png, route_map_png(table, sc, bounds))
        outputs.append(Output("map", options.map_png, window))
    if options.gif is not None:
        write_shift_gif(table, sc, options.gif, bounds)
        outputs.append(Output("animation", options.gif, window))
    return outputs


def _run_study(sc: Scenario, options: SimulateOptions, on_progress: OnProgress | None) -> StudyRun:
    """A grid of what-ifs x policies on paired seeds, in parallel, written to one folder."""
    from qmix_logistics.studies.executors import check_executor
    from qmix_logistics.studies.sweep import plan_sweep, run_plan, sweep_settings
    from qmix_logistics.studies.sweep_outputs import write_sweep_outputs

    check_executor(options.executor, options.address)
    plan = plan_sweep(sc, list(options.policies), sweeps=list(options.sweeps), episodes=options.episodes,
                      seed=options.seed)
    folder = choose_run_folder("sweep", sc.name, plan.seeds[0], out_dir=options.out_dir, resume=options.resume,
                               root=options.reports_root)
    with DayJournal.open(folder, "sweep", sweep_settings(plan)) as journal:
        try:
            result = run_plan(plan, executor=options.executor, workers=options.workers, address=options.address,
                              on_progress=on_progress, journal=journal)
        except KeyboardInterrupt:
            raise RunStopped(folder, journal.days) from None
    return StudyRun(result, folder, write_sweep_outputs(result, folder))
