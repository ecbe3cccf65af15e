"""The one interval of a mean (bootstrap, fixed seed, paired or not) and the one way numbers are printed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qmix_logistics.common.formatting import format_number, plus_minus, signed_interval
from qmix_logistics.common.stats import mean_interval, without_nan


def test_interval_is_fixed_and_brackets_the_mean():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    first = mean_interval(x)
    assert first == mean_interval(list(x))  # same values, same interval, to the last digit
    assert first.mean == pytest.approx(6.2) and first.n == 5
    assert x.min() <= first.low < first.mean < first.high <= x.max()
    assert first.half_width == pytest.approx((first.high - first.low) / 2)
    assert mean_interval(x, seed=1) != first  # the seed is what fixes it
    wider = mean_interval(x, confidence=0.99)
    assert wider.low <= first.low and wider.high >= first.high


def test_bca_corrects_for_skew_and_falls_back_when_it_cannot():
    skewed = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 30.0])
    percentile, bca = mean_interval(skewed), mean_interval(skewed, method="BCa")
    assert bca.low < bca.mean < bca.high and bca.high > percentile.high  # the long right tail
    two = mean_interval([1.0, 3.0], method="BCa")
    assert math.isfinite(two.low) and math.isfinite(two.high)


def test_one_value_has_no_interval_and_equal_values_a_point():
    one = mean_interval([3.0])
    assert one.mean == 3.0 and math.isnan(one.low) and math.isnan(one.high) and math.isnan(one.half_width)
    same = mean_interval([2.5, 2.5, 2.5], method="BCa")
    assert (same.mean, same.low, same.high) == (2.5, 2.5, 2.5)
    assert math.isnan(mean_interval([]).mean)
    assert without_nan({"a": [one.low, 1.0], "b": one.as_dict()}) == {
        "a": [None, 1.0], "b": {"mean": 3.0, "ci_low": None, "ci_high": None}}


def test_paired_interval_is_the_interval_of_the_differences():
    rng = np.random.default_rng(3)
    day = rng.normal(1000.0, 300.0, size=8)  # busy and quiet days, shared by both policies
    a, b = day + rng.normal(0.0, 5.0, 8), day + 40.0 + rng.normal(0.0, 5.0, 8)
    paired = mean_interval(b, paired_with=a)
    assert paired == mean_interval(b - a)
    assert 0 < paired.low < paired.mean < paired.high  # b is dearer on every day: significant
    unpaired = mean_interval(b).half_width + mean_interval(a).half_width
    assert paired.half_width < unpaired / 10  # the shared day-to-day variation cancels
    swapped = mean_interval(a, paired_with=b)
    assert swapped.low == pytest.approx(-paired.high) and swapped.high == pytest.approx(-paired.low)
    assert mean_interval([1.0, 2.0], paired_with=[1.0, 2.0]).as_dict() == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    with pytest.raises(ValueError, match="length"):
        mean_interval([1.0, 2.0], paired_with=[1.0])


def test_plus_minus_shows_the_precision_the_interval_justifies():
    assert plus_minus(-1711.4, 115.2) == "-1,711 ± 115"
    assert plus_minus(0.93012, 0.0538) == "0.930 ± 0.054"
    assert plus_minus(326.0, 7.94) == "326.0 ± 7.9"
    assert plus_minus(326.0, 0.0) == "326 ± 0"
    assert plus_minus(0.5, float("nan")) == "0.500" and plus_minus(1234.0, None) == "1,234"
    assert plus_minus(float("nan"), 1.0) == ""
    assert signed_interval(163.2, 116.0, 194.4, 0) == "+163 [+116, +194]"
    assert signed_interval(-0.15, float("nan"), float("nan"), 3) == "-0.150"


def test_format_number():
    assert format_number(None) == "" and format_number(float("nan")) == ""
    assert format_number(3) == "3" and format_number(np.int64(12345)) == "12,345" and format_number(12.0) == "12"
    assert format_number(0.12345) == "0.123" and format_number(12.345) == "12.3" and format_number(-1363.2) == "-1,363"
    assert format_number("greedy") == "greedy" and format_number(True) == "True"
    assert format_number(float("inf")) == "inf"
