"""The days a run has finished, kept on disk as they finish, so a stopped run can resume.

A journal is one JSON-lines file (``days.jsonl``) in a run's output folder. Its first line is a
header: the kind of run (``eval``, ``sweep``) and the settings that decide its results (scenario
fingerprint, policies, seeds...). Every other line is one finished day, appended, flushed and
fsynced the moment the day ends, so a run stopped by Ctrl-C, a crash or a lost machine keeps every
day it completed. Only the last line can be incomplete (the write that was interrupted); it is
dropped when the journal is opened again.

Opening a journal in a folder that already has one checks that the settings are the same and
refuses otherwise (naming the first setting that differs), because mixing days of two different
runs would give a report that belongs to neither. The final reports are still written atomically
at the end; the journal is what a resume reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Mapping

from qmix_logistics.common.errors import QlogError
from qmix_logistics.scenario import Scenario

JOURNAL_NAME = "days.jsonl"
_FORMAT = "qlog-days/1"


def scenario_fingerprint(scenario: Scenario) -> dict[str, str]:
    """The scenario's name and a SHA-256 of its full definition: any edit changes the fingerprint."""
    text = scenario.model_dump_json()
    return {"name": scenario.name, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _normal(value: Any) -> Any:
    """The value as JSON gives it back (tuples become lists...), so saved and new settings compare."""
    return json.loads(json.dumps(value, default=str))


def _describe(value: Any) -> str:
    if isinstance(value, dict) and "sha256" in value:
        return f"{value.get('name')!r} (fingerprint {str(value['sha256'])[:12]})"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "(none)"
    return "(none)" if value is None else str(value)


class RunStopped(KeyboardInterrupt):
    """A run stopped by Ctrl-C (or a callback) after writing its finished days to ``folder``."""

    def __init__(self, folder: Path, days_kept: int) -> None:
        super().__init__(f"stopped with {days_kept} day(s) kept in {folder}")
        self.folder = folder
        self.days_kept = days_kept


class DayJournal:
    """An append-only file of finished days; use :meth:`open` to create or resume one."""

    def __init__(self, path: Path, kind: str, settings: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        self.path = path
        self.kind = kind
        self.settings = settings
        self.rows = rows
        """The days read back when the journal was opened (empty for a new run)."""
        self._fh: IO[str] | None = None
        self.appended = 0
        """Days added by this run."""

    @classmethod
    def open(cls, folder: str | Path, kind: str, settings: Mapping[str, Any]) -> DayJournal:
        """Start a journal in ``folder``, or reopen the one there after checking its settings.

        ``settings`` maps the flag a user would change (``--policies``, ``--seed``, ``SCENARIO``...)
        to its value; the flag is named in the error when a resumed run's setting differs. Nothing
        is written before the first day finishes, so a run that fails before it leaves no journal.
        """
        path = Path(folder) / JOURNAL_NAME
        wanted = _normal(dict(settings))
        header, rows = _read(path) if path.exists() else (None, [])
        if header is None or not rows:  # nothing finished yet: this run starts (or starts over)
            return cls(path, kind, wanted, [])
        if header.get("format") != _FORMAT or header.get("kind") != kind:
            raise QlogError(f"this folder holds a {header.get('kind', 'different')} run, not a {kind} run; "
                            "choose another --out-dir", source=str(path), field="--out-dir")
        saved = header.get("settings", {})
        for flag in dict.fromkeys([*wanted, *saved]):
            if saved.get(flag) != wanted.get(flag):
                raise QlogError(
                    f"the run in this folder was started with {flag} {_describe(saved.get(flag))}, this one "
                    f"asks for {_describe(wanted.get(flag))}; repeat the same command to resume, or choose "
                    f"another --out-dir (delete {JOURNAL_NAME} to start over)", source=str(path), field=flag)
        return cls(path, kind, wanted, rows)

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one finished day and make it durable before returning (the first also writes the header)."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self.rows
            self._fh = open(self.path, "w" if fresh else "a", encoding="utf-8")  # noqa: SIM115 (see close)
            if fresh:
                self._fh.write(json.dumps({"format": _FORMAT, "kind": self.kind, "settings": self.settings}) + "\n")
        self._fh.write(json.dumps(dict(row), default=_jsonable) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.appended += 1

    @property
    def days(self) -> int:
        """Days the folder holds now: those read back plus those added."""
        return len(self.rows) + self.appended

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> DayJournal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def has_journal(folder: str | Path) -> bool:
    """Whether ``folder`` holds days of an earlier run."""
    return (Path(folder) / JOURNAL_NAME).is_file()


def _read(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Header (None for an empty file) and rows; an incomplete last line is cut off the file."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # ``tail`` is empty when the file ends with a newline
    if tail:
        try:
            json.loads(tail)
        except ValueError:  # the append that was interrupted: that day is played again
            with open(path, "r+b") as fh:
                fh.truncate(len(data) - len(tail))
                os.fsync(fh.fileno())
        else:  # whole but unterminated: terminate it so the next append starts a new line
            complete.append(tail)
            _write_durably(path, "\n", mode="a")
    records = []
    for number, line in enumerate(complete, 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            raise QlogError(f"line {number} is not JSON; the file was edited or damaged",
                            source=str(path), field="--out-dir") from None
    if not records:
        return None, []
    if not isinstance(records[0], dict) or "format" not in records[0]:
        raise QlogError("the first line is not a run header", source=str(path), field="--out-dir")
    return records[0], records[1:]


def _write_durably(path: Path, text: str, mode: str) -> None:
    with open(path, mode, encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
