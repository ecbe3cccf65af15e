"""What a running ``train`` call tells its caller: one small snapshot after every collection round.

The learner draws nothing on screen. A caller that wants a progress bar or log lines passes
``on_progress`` to ``train`` and renders these snapshots however suits it (a terminal bar, a line every
30 s in CI, a notebook widget); without one, training is silent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrainProgress:
    """A snapshot of a running ``train`` call."""

    env_steps: int
    """Env steps collected so far, over all sessions of a resumed run."""
    total_env_steps: int
    """The step budget, ``config.total_env_steps``."""
    episodes: int
    """Training episodes collected so far."""
    sps: float
    """Env steps per second over this call, collection and learning together."""
    epsilon: float
    """Exploration rate at ``env_steps``."""
    recent_return: float
    """Mean return of the last training episodes (NaN before the first)."""
    elapsed_s: float
    """Wall time of this call so far, in seconds."""
    last_eval: dict[str, float] = field(default_factory=dict)
    """The latest evaluation's figures (empty until the first evaluation)."""
    note: str | None = None
    """A one-off message worth showing the user (what the replay memory holds, an early stop); else None."""

    @property
    def fraction(self) -> float:
        """Share of the step budget done, in [0, 1]."""
        return min(self.env_steps / self.total_env_steps, 1.0) if self.total_env_steps > 0 else 1.0

    @property
    def eta_s(self) -> float:
        """Seconds left at the current speed (NaN while the speed is unknown)."""
        if self.sps <= 0.0 or not math.isfinite(self.sps):
            return math.nan
        return max(self.total_env_steps - self.env_steps, 0) / self.sps


#: The caller's progress callback; exceptions it raises stop training.
ProgressFn = Callable[[TrainProgress], None]
