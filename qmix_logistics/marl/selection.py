"""Choosing the policy a run keeps: its best few evaluations, played again on more days.

A training evaluation plays a handful of fixed days, so its score is noisy, and the best of twenty noisy
scores owes much to luck. With ``select_candidates`` set, the run keeps the policies of its best-scoring
evaluations as files under ``candidates/`` while it trains; at the end each is played on ``select_episodes``
further days, and ``best.pt`` becomes the one whose mean over all its days (the evaluation's and these) is
best. ``selection.csv`` in the run folder lists them.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qmix_logistics.common.atomic_io import atomic_path

CANDIDATES_DIR = "candidates"
SELECTION_FILE = "selection.csv"


@dataclass(frozen=True)
class Candidate:
    """One evaluated policy on the short list: when it was evaluated and what it scored there."""

    env_steps: int
    score: float
    """Mean return of its training evaluation."""

    def path(self, run_dir: Path) -> Path:
        """Its policy's checkpoint file."""
        return run_dir / CANDIDATES_DIR / f"step_{self.env_steps:010d}.pt"


@dataclass(frozen=True)
class Choice:
    """A candidate's scores once it has been played on the selection days too."""

    candidate: Candidate
    selection_score: float
    """Mean return on the selection days."""
    combined: float
    """Mean return over the evaluation's days and the selection days, weighted by their counts."""


class CandidatePool:
    """The ``size`` best-scoring evaluated policies of a run, as checkpoint files in ``candidates/``."""

    def __init__(self, run_dir: Path, size: int, candidates: list[Candidate] | None = None) -> None:
        self.run_dir, self.size = run_dir, size
        self.candidates = sorted(candidates or [], key=lambda c: c.env_steps)

    def offer(self, env_steps: int, score: float, save: Callable[[Path], None]) -> bool:
        """Keep the policy evaluated at ``env_steps`` (written by ``save(path)``) if it is among the best
        ``size`` scores so far, dropping the worst one beyond that; True when it was kept."""
        if self.size == 0 or math.isnan(score):
            return False
        worst = min(self.candidates, key=lambda c: c.score, default=None)
        if len(self.candidates) >= self.size and worst is not None and score <= worst.score:
            return False
        candidate = Candidate(env_steps, score)
        path = candidate.path(self.run_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(path)
        self.candidates = sorted(
            [c for c in self.candidates if c.env_steps != env_steps] + [candidate], key=lambda c: c.env_steps
        )
        while len(self.candidates) > self.size:
            dropped = min(self.candidates, key=lambda c: c.score)
            self.candidates.remove(dropped)
            dropped.path(self.run_dir).unlink(missing_ok=True)
        return True

    def choose(self, play: Callable[[Path], float], eval_days: int, select_days: int) -> list[Choice]:
        """Play every candidate on the selection days (``play(path)`` returns its mean return there) and
        return them best first; the candidates whose file is gone are left out."""
        choices = []
        for candidate in self.candidates:
            path = candidate.path(self.run_dir)
            if not path.is_file():
                continue
            selection_score = play(path)
            combined = (candidate.score * eval_days + selection_score * select_days) / (eval_days + select_days)
            choices.append(Choice(candidate, selection_score, combined))
        return sorted(choices, key=lambda c: (-c.combined, c.candidate.env_steps))

    def to_list(self) -> list[list[float]]:
        """Plain data for a checkpoint's counters."""
        return [[c.env_steps, c.score] for c in self.candidates]

    @staticmethod
    def candidates_from(data: list[list[float]] | None) -> list[Candidate]:
        """Inverse of :meth:`to_list`."""
        return [Candidate(int(steps), float(score)) for steps, score in data or []]


def keep_choice(run_dir: Path, best_name: str, choices: list[Choice]) -> None:
    """Copy the best choice's policy to ``best_name`` and write ``selection.csv``, both atomically."""
    winner = choices[0].candidate.path(run_dir)
    with atomic_path(run_dir / best_name) as tmp:
        shutil.copyfile(winner, tmp)
    with atomic_path(run_dir / SELECTION_FILE) as tmp, tmp.open("w") as handle:
        handle.write("env_steps,eval_return,selection_return,combined_return,kept\n")
        for choice in sorted(choices, key=lambda c: c.candidate.env_steps):
            kept = int(choice is choices[0])
            handle.write(f"{choice.candidate.env_steps},{choice.candidate.score:.6g},"
                         f"{choice.selection_score:.6g},{choice.combined:.6g},{kept}\n")
