"""Teacher labels on the learner's own states (DAgger): the protocol the trainer calls, and the buffer they go to.

Demonstrations recorded before training show the teacher's states only; a policy that imitates them drifts
into states the teacher never visits and has no label for (Ross et al., 2011). A relabeller takes episodes the
learner has just played and returns stretches of them whose ``expert`` array holds the teacher's decision at
each step (-1 where it has none). They are kept in their own FIFO buffer next to the recorded
demonstrations, and the demonstration share of every batch is drawn from both in proportion to their steps.

The learner knows nothing about who labels: the dispatch side plugs in a rolling-horizon planner
(:mod:`qmix_logistics.teaching.dagger`); any env can plug in its own oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .buffer import Episode


class Relabeller(Protocol):
    """Labels stretches of the learner's episodes with a teacher's decisions."""

    interval_episodes: int
    """Label after every this many training episodes."""

    def __call__(self, episodes: Sequence[Episode]) -> list[Episode]:
        """Labelled stretches of ``episodes`` (``demo`` True, ``expert`` -1 where the teacher gave no label)."""
        ...

    def close(self) -> None:
        """Release processes or connections the relabeller holds."""
        ...


@dataclass(frozen=True)
class LabelAgreement:
    """How often the learner already did what the teacher says, over the labelled choices of some stretches."""

    labelled: int
    """Agent steps with a teacher label and more than one valid action."""
    agreed: int
    """Of those, steps where the learner's own action was the teacher's."""

    @property
    def share(self) -> float:
        return self.agreed / self.labelled if self.labelled else float("nan")

    @classmethod
    def of(cls, episodes: Sequence[Episode]) -> LabelAgreement:
        labelled = agreed = 0
        for episode in episodes:
            if episode.expert is None:
                continue
            choice = (episode.expert >= 0) & (episode.avail[:-1].sum(axis=-1) > 1)
            labelled += int(choice.sum())
            agreed += int((choice & (episode.expert == episode.actions)).sum())
        return cls(labelled, agreed)


def demo_split(n_demo: int, demo_steps: int, labelled_steps: int, rng: np.random.Generator,
               share: float | None = None) -> int:
    """How many of ``n_demo`` demonstration windows come from the relabelled buffer: each window picks it
    with probability ``share``, or (None) in proportion to the transitions each buffer holds."""
    if n_demo == 0 or labelled_steps == 0:
        return 0
    if demo_steps == 0:
        return n_demo
    p = labelled_steps / (demo_steps + labelled_steps) if share is None else share
    return int(rng.binomial(n_demo, p))
