"""The run's logs: TensorBoard scalars plus ``progress.csv`` and ``eval.csv`` in the run folder.

The CSVs make a run inspectable with nothing but a spreadsheet or pandas. On resume both logs continue
where the checkpoint left off: rows logged after the checkpoint (by a run that then died) are dropped and
new rows are appended, and TensorBoard gets ``purge_step`` for the same effect.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from qmix_logistics.common.atomic_io import atomic_path

PROGRESS_COLUMNS = (
    "env_steps",
    "episodes",
    "updates",
    "epsilon",
    "return_mean",
    "episode_length",
    "td_loss",
    "margin_loss",
    "total_loss",
    "grad_norm",
    "q_taken_mean",
    "sps",
    "time_unix",
)
EVAL_COLUMNS = ("env_steps", "metric", "value")
_TENSORBOARD_TAGS = {
    "return_mean": "charts/return",
    "episode_length": "charts/episode_length",
    "epsilon": "charts/epsilon",
    "sps": "charts/SPS",
    "td_loss": "losses/td",
    "margin_loss": "losses/margin",
    "total_loss": "losses/total",
    "grad_norm": "losses/grad_norm",
    "q_taken_mean": "losses/q_taken",
}


class CsvLog:
    """Append-only CSV with a fixed header; on resume, rows past ``keep_until_step`` are dropped first."""

    def __init__(self, path: Path, columns: tuple[str, ...], *, keep_until_step: int | None) -> None:
        self.path, self.columns = path, columns
        resuming = keep_until_step is not None and path.exists()
        if resuming:
            self._drop_rows_after(keep_until_step)  # type: ignore[arg-type]
        self._handle = path.open("a" if resuming else "w", newline="")
        self._writer = csv.DictWriter(self._handle, fieldnames=columns, extrasaction="ignore")
        if not resuming:
            self._writer.writeheader()
            self._handle.flush()

    def _drop_rows_after(self, step: int) -> None:
        """Keep rows up to ``step``; a file written with other columns (an older version) gets this header."""
        with self.path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = tuple(reader.fieldnames or ())
        kept = [row for row in rows if int(float(row["env_steps"])) <= step]
        if len(kept) == len(rows) and header == self.columns:
            return
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(kept)

    def write(self, row: dict[str, Any]) -> None:
        """Append one row and flush it, so a crash loses at most the row being written."""
        self._writer.writerow({key: _format(value) for key, value in row.items()})
        self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


def _format(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


class RunLog:
    """TensorBoard plus the two CSVs for one run folder."""

    def __init__(self, run_dir: Path, *, resume_step: int | None = None) -> None:
        """Start fresh logs, or with ``resume_step`` continue the existing ones from that env step."""
        self.writer = SummaryWriter(log_dir=str(run_dir / "tb"), purge_step=resume_step)
        self.progress = CsvLog(run_dir / "progress.csv", PROGRESS_COLUMNS, keep_until_step=resume_step)
        self.evals = CsvLog(run_dir / "eval.csv", EVAL_COLUMNS, keep_until_step=resume_step)

    def log_progress(self, row: dict[str, Any]) -> None:
        """One progress row (keys from PROGRESS_COLUMNS); NaN-valued scalars are skipped in TensorBoard."""
        self.progress.write(row)
        for key, tag in _TENSORBOARD_TAGS.items():
            value = row.get(key)
            if isinstance(value, (int, float)) and value == value:
                self.writer.add_scalar(tag, value, row["env_steps"])

    def log_eval(self, env_steps: int, results: dict[str, float]) -> None:
        """Evaluation results under ``eval/<metric>``, one CSV row per metric."""
        for metric, value in sorted(results.items()):
            self.evals.write({"env_steps": env_steps, "metric": metric, "value": float(value)})
            self.writer.add_scalar(f"eval/{metric}", float(value), env_steps)

    def log_text(self, tag: str, text: str) -> None:
        """Free-text notes (config, buffer capacity) visible in TensorBoard's text tab."""
        self.writer.add_text(tag, text)

    def close(self) -> None:
        """Flush and close everything."""
        self.writer.close()
        self.progress.close()
        self.evals.close()
