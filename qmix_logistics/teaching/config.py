"""Who teaches a dispatch learner, and how many of the teacher's days it records.

These keys sit in a scenario's ``training:`` block next to the learner's own hyperparameters
(:class:`qmix_logistics.marl.LearnerConfig`, which knows nothing about dispatch); :func:`split_training`
separates the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from qmix_logistics.common.errors import QlogError

TeacherName = Literal["batching", "ortools", "pyvrp", "none"]


class TeachingConfig(BaseModel):
    """The teacher of a dispatch learner (``qlog train --teacher``) and its recorded days."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    teacher: TeacherName = "batching"
    """``batching``: the batching rule suggests an action at every step (exploration guide and, with
    ``margin_on_all_steps``, margin targets). ``ortools`` / ``pyvrp``: the rolling-horizon planner records
    ``demo_days`` whole days, kept as demonstrations for the whole run; the batching rule still guides
    exploration when ``expert_share`` > 0. ``none``: no teacher at all (plain reinforcement learning)."""
    demo_days: int | None = Field(None, ge=0)
    """Days the teacher records as kept demonstrations (None: 24 for a planner teacher, 0 for the rule)."""
    teacher_time_limit_s: float | None = Field(None, gt=0)
    """The planner teacher's search time per re-plan (None: the rolling horizon's default)."""
    teacher_search_budget: Literal["time", "work"] = "time"
    """What ends the planner teacher's searches: ``time`` (the clock) or ``work`` (a fixed amount of search,
    so that its recorded days and labels are the same on any machine; ``RollingHorizonConfig.search_budget``)."""
    demo_executor: Literal["local", "ray"] = "local"
    """Where the teacher's days are played: local processes or a Ray cluster (``demo_address``)."""
    demo_workers: int | None = Field(None, ge=1)
    """Local processes that play the teacher's days (None: one per core)."""
    demo_address: str | None = None
    """Ray cluster address for ``demo_executor: ray`` (None: start a local Ray)."""
    hold_band_min: tuple[float, float] | None = None
    """With the batching rule as teacher: where a loaded vehicle's least onboard slack (minutes) lies in this
    band (low, high], holding and leaving are both accepted by the margin loss, and what the critic has
    learnt decides between them (None: the rule's own ``hold_slack_min`` decides everywhere)."""
    top_up_band: tuple[float, float] | None = None
    """With the batching rule as teacher: where the top-up the rule names has a detour above this band's low
    share of a trip of its own, going without it is accepted as well; where it names none, the order that
    saves the most drive among those up to the high share is (None: ``top_up_detour_ratio`` decides
    everywhere)."""
    dagger_interval_episodes: int = Field(0, ge=0)
    """DAgger with a planner teacher: after every this many training episodes the planner labels a stretch
    of each episode of the round, planning afresh at every state the learner reached (0: off)."""
    dagger_steps: int = Field(48, ge=1)
    """Consecutive steps of an episode the planner labels each time (one search per step)."""

    @field_validator("dagger_interval_episodes")
    @classmethod
    def _dagger_needs_a_planner(cls, value: int, info: ValidationInfo) -> int:
        teacher = info.data.get("teacher")
        if value > 0 and teacher not in ("ortools", "pyvrp"):
            raise ValueError(f"DAgger needs a planner teacher (ortools or pyvrp), not {teacher!r}")
        return value

    @field_validator("hold_band_min", "top_up_band", mode="before")
    @classmethod
    def _band_from_text(cls, value: Any) -> Any:
        """``--set hold_band_min=5,25`` (or ``[5, 25]``) gives a band as text."""
        return value.strip().strip("[]()").split(",") if isinstance(value, str) else value

    @field_validator("hold_band_min", "top_up_band")
    @classmethod
    def _band_ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0.0 <= value[0] < value[1]:
            raise ValueError(f"a band must be two numbers, 0 <= low < high, not {list(value)}")
        return value

    @property
    def recorded_days(self) -> int:
        if self.demo_days is not None:
            return self.demo_days if self.teacher != "none" else 0
        return 24 if self.teacher in ("ortools", "pyvrp") else 0

    @property
    def guides_exploration(self) -> bool:
        """Whether the env offers the batching rule's suggestion at each step."""
        return self.teacher != "none"


TEACHING_KEYS = frozenset(TeachingConfig.model_fields)


def split_training(block: Mapping[str, Any], *, source: str | None = None) -> tuple[TeachingConfig, dict[str, Any]]:
    """The teaching settings and the remaining learner hyperparameters of a ``training:`` block."""
    teaching = {k: v for k, v in block.items() if k in TEACHING_KEYS}
    learner = {k: v for k, v in block.items() if k not in TEACHING_KEYS}
    try:
        return TeachingConfig.model_validate(teaching), learner
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise QlogError(f"{err['msg']} (got {err.get('input')!r})", source=source, field=f"training.{loc}") from None
