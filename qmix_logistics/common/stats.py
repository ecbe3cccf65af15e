"""The mean of a few episodes and its confidence interval: the one statistic every table reports.

Evaluations and studies play few days per cell (often 3 to 20), and KPIs such as total cost are
skewed, so the interval is a bootstrap of the mean (``scipy.stats.bootstrap``) rather than a normal
or Student-t formula. Paired samples (two policies on the same days) are resampled as pairs, so the
day-to-day variation both share cancels and an interval that excludes 0 is a real difference.

The resampling generator is seeded with a fixed value, so the same values always give the same
interval: a report is reproducible to the last digit. Two cases have no bootstrap:

* fewer than two values: there is no spread to estimate, and the interval is NaN on both ends
  (``None`` in JSON, left out in text, see :func:`without_nan`);
* all values equal (or all paired differences equal): the interval is the mean itself.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np
from scipy import stats as _scipy_stats

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0
Method = Literal["percentile", "BCa"]

# scipy >= 1.15 calls the generator argument ``rng``; older releases call it ``random_state``.
_RNG_ARG = "rng" if "rng" in inspect.signature(_scipy_stats.bootstrap).parameters else "random_state"


@dataclass(frozen=True)
class MeanInterval:
    """A sample mean and the two ends of its confidence interval (NaN when undefined)."""

    mean: float
    low: float
    high: float
    n: int
    """How many values (or pairs) the mean is taken over."""

    @property
    def half_width(self) -> float:
        """Half the interval's width (NaN when the interval is undefined); the ``±`` of tables."""
        return (self.high - self.low) / 2

    def as_dict(self) -> dict[str, float]:
        """``{"mean", "ci_low", "ci_high"}``, the keys reports store."""
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high}


def _mean_of_differences(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a - b, axis=axis)


def mean_interval(
    values: Sequence[float] | np.ndarray,
    paired_with: Sequence[float] | np.ndarray | None = None,
    *,
    confidence: float = CONFIDENCE,
    method: Method = "percentile",
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> MeanInterval:
    """Mean of ``values`` (or of ``values - paired_with``, day by day) with its bootstrap interval.

    ``method`` is ``"percentile"`` or ``"BCa"`` (bias-corrected and accelerated; where BCa cannot be
    computed for a sample, the percentile interval of the same resamples is used). ``seed`` fixes
    the resampling, so equal inputs give equal intervals.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("values must be one-dimensional")
    samples: tuple[np.ndarray, ...] = (x,)
    statistic: Any = np.mean
    if paired_with is not None:
        y = np.asarray(paired_with, dtype=np.float64)
        if y.shape != x.shape:
            raise ValueError(f"paired samples differ in length ({len(x)} and {len(y)})")
        samples, statistic = (x, y), _mean_of_differences
        x = x - y
    n = len(x)
    if n == 0:
        return MeanInterval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return MeanInterval(mean, math.nan, math.nan, n)
    if float(np.ptp(x)) == 0.0:
        return MeanInterval(mean, mean, mean, n)
    low, high = _bootstrap(samples, statistic, confidence, method, resamples, seed)
    if method == "BCa" and not (math.isfinite(low) and math.isfinite(high)):
        low, high = _bootstrap(samples, statistic, confidence, "percentile", resamples, seed)
    return MeanInterval(mean, low, high, n)


def _bootstrap(samples: tuple[np.ndarray, ...], statistic: Any, confidence: float, method: str,
               resamples: int, seed: int) -> tuple[float, float]:
    with warnings.catch_warnings():  # a degenerate BCa is handled by the caller
        warnings.simplefilter("ignore", _scipy_stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        result = _scipy_stats.bootstrap(
            samples, statistic, n_resamples=resamples, paired=len(samples) > 1, vectorized=True,
            confidence_level=confidence, method=method, **{_RNG_ARG: np.random.default_rng(seed)})
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def without_nan(obj: Any) -> Any:
    """A copy of nested dicts and lists with every NaN float replaced by ``None`` (strict JSON)."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: without_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [without_nan(v) for v in obj]
    return obj
