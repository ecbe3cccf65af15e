"""Where a run writes: one folder per run, named ``reports/<command>__<scenario>__<seed>__<time>/``.

``qlog simulate``, ``qlog simulate --sweep`` (command ``sweep``) and ``qlog eval`` all use this one
pattern, so runs sort by command, then scenario, then first seed, then start time, and a resumed run
can find the folder of the run it continues. The time is local, ``YYYYmmdd-HHMMSS``.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from qmix_logistics.common.errors import QlogError
from qmix_logistics.evaluation.journal import has_journal

REPORTS_ROOT = Path("reports")
_TIME_FORMAT = "%Y%m%d-%H%M%S"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A scenario or policy name made safe for a file name (``a/b:c`` -> ``a_b_c``)."""
    return _UNSAFE.sub("_", name).strip("_") or "run"


def run_folder_prefix(command: str, scenario: str, seed: int) -> str:
    """``<command>__<scenario>__<seed>__``: what every folder of such runs starts with."""
    return f"{command}__{safe_name(scenario)}__{seed}__"


def default_run_folder(command: str, scenario: str, seed: int, *, root: str | Path = REPORTS_ROOT,
                       now: datetime | None = None) -> Path:
    """A new folder name for a run started ``now`` (not created here)."""
    stamp = (now or datetime.now()).strftime(_TIME_FORMAT)
    return Path(root) / f"{run_folder_prefix(command, scenario, seed)}{stamp}"


def latest_run_folder(command: str, scenario: str, seed: int, *, root: str | Path = REPORTS_ROOT) -> Path | None:
    """The most recently started folder of this command, scenario and seed that holds finished days."""
    root = Path(root)
    if not root.is_dir():
        return None
    prefix = run_folder_prefix(command, scenario, seed)
    found = sorted(p for p in root.iterdir() if p.name.startswith(prefix) and has_journal(p))
    return found[-1] if found else None


def choose_run_folder(command: str, scenario: str, seed: int, *, out_dir: str | Path | None = None,
                      resume: bool = False, root: str | Path = REPORTS_ROOT) -> Path:
    """The folder a run writes to.

    ``out_dir`` wins when given (a journal already there is resumed). Otherwise ``resume`` picks the
    latest earlier folder of the same command, scenario and seed, and a plain run gets a new one.
    """
    if out_dir is not None:
        folder = Path(out_dir)
        if resume and not has_journal(folder):
            raise QlogError(f"{folder} holds no earlier run to resume", field="--resume")
        return folder
    if resume:
        found = latest_run_folder(command, scenario, seed, root=root)
        if found is None:
            pattern = Path(root) / f"{run_folder_prefix(command, scenario, seed)}*"
            raise QlogError(f"no earlier run to resume ({pattern} holds none); give its --out-dir",
                            field="--resume")
        return found
    return default_run_folder(command, scenario, seed, root=root)
