"""``qlog eval`` from start to files: pick the run folder, resume its journal, evaluate, write the report.

The folder is ``reports/eval__<scenario>__<seed>__<time>/`` unless ``out_dir`` is given. Each
finished day goes to ``days.jsonl`` there as it ends; a run stopped half way keeps those days, and
the same call with ``resume=True`` (or the same ``out_dir``) plays only the days still missing,
after checking that the scenario, policies, seeds and planner time limit are the ones of the
stopped run. The report files are written at the end, atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qmix_logistics.evaluation.compare import (
    EvalReport,
    PlannerOverrides,
    check_eval_args,
    eval_settings,
    evaluate,
)
from qmix_logistics.evaluation.journal import DayJournal, RunStopped, scenario_fingerprint
from qmix_logistics.evaluation.progress import OnProgress
from qmix_logistics.evaluation.render import save_report
from qmix_logistics.evaluation.run_folder import REPORTS_ROOT, choose_run_folder
from qmix_logistics.scenario import Scenario, load_scenario


@dataclass(frozen=True)
class EvalRun:
    """A finished ``qlog eval``: the report, the folder it went to and the files written there."""

    report: EvalReport
    out_dir: Path
    paths: dict[str, Path]


def run_eval(
    scenario: Scenario | str | Path,
    policies: list[str],
    episodes: int,
    seed: int | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    planner_time_limit_s: float | None = None,
    planner_budget: str = "time",
    on_progress: OnProgress | None = None,
    reports_root: str | Path = REPORTS_ROOT,
    executor: str = "local",
    workers: int | None = 1,
    address: str | None = None,
) -> EvalRun:
    """Evaluate ``policies`` on ``episodes`` paired days and write the report files.

    ``scenario`` is a loaded scenario or its YAML file. ``resume`` continues the latest stopped run
    of the same scenario and first seed under ``reports_root`` when no ``out_dir`` is given. A run
    stopped by Ctrl-C raises :class:`RunStopped` (a ``KeyboardInterrupt``) naming its folder.
    ``executor``, ``workers`` and ``address`` say where the days run (see :func:`evaluate`); they do not
    change the results, so a run may be resumed on another executor.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    planner = PlannerOverrides(planner_time_limit_s, planner_budget)
    check_eval_args(policies, episodes, planner)
    first = sc.seed if seed is None else int(seed)
    folder = choose_run_folder("eval", sc.name, first, out_dir=out_dir, resume=resume, root=reports_root)
    settings = eval_settings(scenario_fingerprint(sc), policies, [first + i for i in range(episodes)],
                             planner)
    with DayJournal.open(folder, "eval", settings) as journal:
        try:
            report = evaluate(sc, policies, episodes, first, on_progress=on_progress,
                              planner_time_limit_s=planner_time_limit_s, planner_budget=planner_budget,
                              journal=journal,
                              executor=executor, workers=workers, address=address)
        except KeyboardInterrupt:
            raise RunStopped(folder, journal.days) from None
    return EvalRun(report, folder, save_report(report, folder))
