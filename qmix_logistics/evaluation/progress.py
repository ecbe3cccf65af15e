"""How long runs tell their caller how far they are: one small event per finished day.

Evaluations, simulations and studies call ``on_progress(RunProgress)`` once before the first day
(``label`` empty) and once after every day they play. The library never draws anything; the CLI
turns the events into a progress bar on a terminal or plain lines in a log file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands: days done out of the total, and which day just finished."""

    done: int
    """Days finished, those taken over from an earlier run included."""
    total: int
    """Days the whole run has (every policy, variant and seed)."""
    resumed: int = 0
    """Of ``done``, the days read back from an earlier, interrupted run (played before this call)."""
    label: str = ""
    """What played the day that just finished (a policy, or ``variant · policy``); empty at the start."""
    seed: int | None = None
    total_cost: float | None = None
    """That day's total cost in the scenario's currency."""

    @property
    def started(self) -> bool:
        """False for the event sent before the first day is played."""
        return bool(self.label)


OnProgress = Callable[[RunProgress], None]
