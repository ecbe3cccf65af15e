"""The `qlog` command: a thin layer that parses flags, calls one library function and prints."""

from __future__ import annotations

import sys

import typer
from qlog_cli import commands_serve, commands_sim, commands_solve, commands_train
from qlog_cli.console import err_console

from qmix_logistics.common.errors import QlogError

app = typer.Typer(
    name="qlog",
    help="Fleet dispatch: simulate a depot, learn QMIX dispatch policies, compare them with OR-Tools and PyVRP.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    """Every command module, imported by name: a module that fails to import fails the CLI loudly."""
    for module in (commands_sim, commands_solve, commands_train, commands_serve):
        module.register(app)


_register()


def main() -> None:
    """Console entry point: user errors become one red line and exit code 2, never a traceback."""
    try:
        app()
    except QlogError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
