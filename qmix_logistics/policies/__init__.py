"""Dispatch policies behind one protocol: random, greedy, rolling-horizon planners and learned ones."""

from __future__ import annotations

from pathlib import Path

from qmix_logistics.common.errors import QlogError
from qmix_logistics.policies.base import (
    ActionPolicy,
    Policy,
    PolicySpec,
    check_compatible,
)
from qmix_logistics.policies.batching import BatchingPolicy
from qmix_logistics.policies.heuristics import GreedyPolicy, RandomPolicy
from qmix_logistics.scenario import Scenario

BUILTIN = ("random", "greedy", "batching", "ortools", "pyvrp", "hindsight")


def make_policy(spec: str, scenario: Scenario) -> Policy:
    """Build a policy from its name, a checkpoint path, or the URL of a policy server."""
    if spec == "random":
        return RandomPolicy()
    if spec == "greedy":
        return GreedyPolicy()
    if spec == "batching":
        return BatchingPolicy()
    if spec in ("ortools", "pyvrp"):
        from qmix_logistics.policies.rolling_horizon import RollingHorizonPolicy

        return RollingHorizonPolicy(engine=spec)
    if spec == "hindsight":  # a full-information bound for eval reports, not a dispatcher
        from qmix_logistics.policies.hindsight import HindsightPolicy

        return HindsightPolicy()
    if spec.startswith(("http://", "https://")):
        from qmix_logistics.policies.remote import RemotePolicy

        return RemotePolicy(spec, scenario)
    path = Path(spec)
    if path.exists():
        from qmix_logistics.policies.learned import LearnedPolicy

        return LearnedPolicy.from_checkpoint(path, scenario)
    raise QlogError(
        f"unknown policy {spec!r}: use one of {', '.join(BUILTIN)}, a checkpoint file or run folder, "
        "or a policy server URL",
        field="--policy",
    )


__all__ = [
    "ActionPolicy", "BatchingPolicy", "GreedyPolicy", "Policy", "PolicySpec", "RandomPolicy", "check_compatible",
    "make_policy",
]
