"""`qlog train`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from qlog_cli.console import console, err_console

from qmix_logistics.common.errors import QlogError


def train_cmd(
    scenario: Optional[Path] = typer.Argument(None, help="Scenario YAML (its `training:` block holds the defaults)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Total env steps (overrides training.total_env_steps)."),
    envs: Optional[int] = typer.Option(None, "--envs", min=1, help="Envs stepped in lockstep (overrides training.n_envs)."),
    env_workers: Optional[int] = typer.Option(
        None, "--env-workers", min=0, help="Processes that step them (overrides training.env_workers; 0 = in the "
                                           "training process; default: chosen from one env's measured step time)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Training seed (overrides training.seed)."),
    mixer: Optional[str] = typer.Option(
        None, "--mixer", help="qmix, vdn, iql, qplex, cw_qmix, ow_qmix or qtran (overrides training.mixer)."),
    teacher: Optional[str] = typer.Option(
        None, "--teacher", help="batching, ortools, pyvrp or none (overrides training.teacher): who the learner "
                                "imitates; a planner records its days first (cached)."),
    config: Optional[Path] = typer.Option(None, "--config", help="A YAML file of training hyperparameters."),
    set_: list[str] = typer.Option([], "--set", help="Override any hyperparameter: --set lr=1e-3 (repeatable)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder exactly."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Output folder (default runs/<scenario>__<seed>__<time>)."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the periodic comparison with the greedy baseline."),
) -> None:
    """Train a QMIX (or VDN/IQL) dispatcher; checkpoints, CSV and TensorBoard logs go to the run folder.

    Progress goes to stderr: a live bar on a terminal, one plain line every 30 s or 5 % of the steps otherwise.
    """
    from qlog_cli.train_progress import TrainProgressView

    from qmix_logistics.scenario import load_scenario
    from qmix_logistics.training import (
        load_training_file,
        resume_training,
        train_scenario,
    )

    overrides: dict[str, object] = {}
    if config is not None:
        overrides.update(load_training_file(config))
    for item in set_:
        if "=" not in item:
            raise QlogError(f"expected KEY=VALUE, got {item!r}", field="--set")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value
    for key, value in (("device", device if device != "auto" else None), ("total_env_steps", steps),
                       ("n_envs", envs), ("env_workers", env_workers), ("seed", seed), ("mixer", mixer), ("teacher", teacher)):
        if value is not None:
            overrides[key] = value
    if resume is None and scenario is None:
        raise QlogError("give a scenario file, or --resume RUN_DIR", field="SCENARIO")
    def demonstration(day, ready: int, total: int) -> None:
        how = "from the cache" if day.cached else f"{day.wall_s:.0f} s"
        err_console.print(f"teacher day {ready}/{total} (seed {day.seed}, {how}): cost "
                          f"{day.kpis['total_cost']:,.0f}, service {day.kpis['service_level']:.3f}", highlight=False)

    with TrainProgressView(err_console) as view:
        if resume is not None:
            result = resume_training(resume, overrides=overrides, on_progress=view, on_demonstration=demonstration,
                                     evaluate_against_greedy=not no_eval)
        else:
            result = train_scenario(load_scenario(scenario), run_dir=run_dir, overrides=overrides,
                                    on_progress=view, on_demonstration=demonstration,
                                    evaluate_against_greedy=not no_eval)
    console.print(f"[green]done[/] {result.env_steps:,} env steps, {result.episodes} episodes, "
                  f"{result.wall_seconds:.0f} s")
    if result.last_eval:
        console.print("last evaluation: " + ", ".join(f"{k} {v:.2f}" for k, v in result.last_eval.items()))
    console.print(f"checkpoint: {result.checkpoint_path}")
    if result.best_path is not None:
        how = (f"the best of {result.selected_from} candidates over their evaluation and selection days "
               f"(selection.csv)" if result.selected_from else "the best evaluation")
        console.print(f"kept the policy of {result.best_env_steps:,} env steps, {how}: {result.best_path} "
                      "(the policy the run folder stands for in eval, simulate, serve and export)")
    console.print(f"compare: qlog eval {scenario or '<scenario>'} --policies greedy,batching,ortools,{result.run_dir}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
