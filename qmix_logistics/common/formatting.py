"""Numbers as text, the same way in terminal tables, HTML reports and README figures.

Two rules: a plain number gets the precision its size calls for (:func:`format_number`), and a
mean with an interval gets as many decimals as the interval's width justifies, two significant
digits of the half-width (:func:`plus_minus`). An undefined value (NaN, None) is shown blank, an
undefined interval is left out.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

MAX_DECIMALS = 3


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_number(value: Any) -> str:
    """Whole numbers with thousands separators, others with 3 decimals below 10, 1 below 1000, else 0.

    Non-numbers are returned as text and missing values (None, NaN) as an empty string.
    """
    if _missing(value):
        return ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if isinstance(value, numbers.Integral) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{MAX_DECIMALS}f}"


def interval_decimals(half_width: float) -> int:
    """Decimals that show two significant digits of ``half_width`` (0 to 3)."""
    if half_width <= 0 or not math.isfinite(half_width):
        return MAX_DECIMALS
    return int(min(MAX_DECIMALS, max(0, 1 - math.floor(math.log10(half_width)))))


def plus_minus(mean: float, half_width: float | None) -> str:
    """``mean ± half-width`` with the half-width's precision; just the mean when there is no interval.

    ``plus_minus(-1711.4, 115.2)`` gives ``-1,711 ± 115``, ``plus_minus(0.9301, 0.0538)`` gives
    ``0.930 ± 0.054``, and a zero-width interval gives ``326 ± 0``.
    """
    if _missing(mean):
        return ""
    if _missing(half_width):
        return format_number(mean)
    assert half_width is not None
    if half_width <= 0:
        return f"{format_number(mean)} ± 0"
    decimals = interval_decimals(half_width)
    return f"{mean:,.{decimals}f} ± {half_width:,.{decimals}f}"


def signed_interval(mean: float, low: float, high: float, decimals: int) -> str:
    """``+mean [+low, +high]`` with explicit signs, for paired differences (``Δ [95 % CI]``)."""
    if _missing(low) or _missing(high):
        return f"{mean:+,.{decimals}f}"
    return f"{mean:+,.{decimals}f} [{low:+,.{decimals}f}, {high:+,.{decimals}f}]"
