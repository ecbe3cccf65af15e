"""Action masks: the one way valid actions are drawn at random, shared by the learner and the baselines."""

from __future__ import annotations

import numpy as np


def uniform_valid_actions(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniform draw among the valid actions along the last axis of a boolean mask array.

    Random keys in [1, 2) on valid actions and 0 on masked ones make the argmax a uniform choice that can
    never land on a masked one; one ``rng.random(masks.shape)`` draw per call."""
    return np.where(masks, 1.0 + rng.random(masks.shape), 0.0).argmax(axis=-1)
