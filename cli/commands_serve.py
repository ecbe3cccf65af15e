"""`qlog serve` and `qlog export`: run a trained policy behind HTTP, or export it for the vehicles."""

from __future__ import annotations

from pathlib import Path

import typer
from qlog_cli.console import console, err_console


def serve_cmd(
    checkpoint: Path = typer.Argument(..., help="Checkpoint file or run folder."),
    host: str = typer.Option("127.0.0.1", "--host", help="Bind address; non-loopback needs --allow-remote."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    token: str = typer.Option(None, "--token", envvar="QLOG_TOKEN", show_envvar=True,
                              help="Require 'Authorization: Bearer TOKEN' on /v1/ endpoints."),
    max_body_kb: int = typer.Option(1024, "--max-body-kb", min=1, help="Refuse request bodies over N KiB (413)."),
    allow_remote: bool = typer.Option(False, "--allow-remote",
                                      help="Allow binding to an address other machines can reach."),
    scenario: Path = typer.Option(None, "--scenario",
                                  help="Refuse to serve unless the policy fits this scenario's fleet and observation."),
) -> None:
    """Serve a policy over HTTP: each vehicle asks for its own action (docs at /docs)."""
    from qmix_logistics.scenario import load_scenario
    from qmix_logistics.serving.server import check_host, is_loopback, serve

    check_host(host, allow_remote=allow_remote)
    if not is_loopback(host):
        err_console.print(f"[bold yellow]warning:[/] serving on {host}, reachable from other machines"
                          + ("" if token else " and without a token") + "; put TLS in front of it")

    def announce(url: str) -> None:
        console.print(f"serving {checkpoint} on {url} (docs: {url}/docs"
                      + (", token required on /v1/" if token else "") + "); Ctrl-C stops")

    serve(checkpoint, host=host, port=port, token=token, max_body_bytes=max_body_kb * 1024,
          allow_remote=allow_remote, on_loaded=announce,
          scenario=load_scenario(scenario) if scenario is not None else None)


def export_cmd(
    checkpoint: Path = typer.Argument(..., help="Checkpoint file or run folder."),
    fmt: str = typer.Option("onnx", "--format", "-f",
                            help="onnx (current torch exporter) or torchscript (deprecated in torch 2.13)."),
    out: Path = typer.Option(None, "--out", "-o",
                             help="Output file (default: agent_step.onnx or agent_step.pt beside the checkpoint)."),
) -> None:
    """Export the agent network (one decision step) to run on the vehicles themselves."""
    from qmix_logistics.serving.export import export_policy

    path = export_policy(checkpoint, fmt, out)
    console.print(f"[green]exported[/] {path} ({fmt}): (observation, last_action, agent_id, hidden) "
                  "-> (q_values, new_hidden)")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
    app.command("export")(export_cmd)
