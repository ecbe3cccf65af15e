"""`qlog validate` and `qlog simulate`."""

from __future__ import annotations

from pathlib import Path

import typer

from qmix_logistics.atomic_io import atomic_write_json
from qmix_logistics.env import DispatchEnv
from qmix_logistics.scenario import load_scenario
from qmix_logistics.simulation import simulate
from qlog_cli.console import console, progress_bar, summary_table


def validate(scenario: Path = typer.Argument(..., help="Scenario YAML file.")) -> None:
    """Check a scenario file: schema, files, node ids and network connectivity."""
    sc = load_scenario(scenario)
    env = DispatchEnv(sc)
    net = env.net
    console.print(
        f"[green]ok[/] {scenario}: {sc.name!r}, {net.n_nodes} nodes, {net.graph.number_of_edges()} edges, "
        f"{sc.n_vehicles} vehicles, {len(sc.depots)} depot(s), obs {env.obs_size} floats, "
        f"{env.n_actions} actions, state {env.state_size} floats"
    )


def simulate_cmd(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    policy: str = typer.Option("greedy", "--policy", "-p", help="random, greedy, ortools, pyvrp, a checkpoint or a policy URL."),
    episodes: int = typer.Option(5, "--episodes", "-n", min=1, help="Days to simulate (seeds seed, seed+1, ...)."),
    seed: int = typer.Option(None, "--seed", help="First seed (default: the scenario's seed)."),
    out: Path = typer.Option(None, "--out", "-o", help="JSON results file (default: reports/simulate__<scenario>__<policy>.json)."),
) -> None:
    """Run a policy for several days and print a KPI table; results also go to JSON."""
    sc = load_scenario(scenario)
    with progress_bar() as bar:
        task = bar.add_task(f"simulate {policy}", total=episodes, status="")

        def tick(res) -> None:
            bar.update(task, advance=1, status=f"cost {res.kpis['total_cost']:.0f}")

        report = simulate(sc, policy, episodes=episodes, seed=seed, on_episode=tick)
    console.print(summary_table(f"{sc.name} · {report.policy} · {episodes} episode(s)", report.summary()))
    safe = report.policy.replace("/", "_").replace(":", "_")
    out = out or Path("reports") / f"simulate__{sc.name}__{safe}.json"
    atomic_write_json(out, report.to_dict())
    console.print(f"results: {out}")


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("simulate")(simulate_cmd)
