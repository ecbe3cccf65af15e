"""What-if grids: parse ``--sweep key=range`` axes and turn each grid point into a scenario variant.

Two knobs answer the planner's questions "how many vans?" and "what if demand grows?":

* ``fleet=a:b:step`` (or ``fleet=4,8,12``) sets the total number of vehicles. When the scenario has
  several vehicle types, each type's count is scaled proportionally to its share of the original
  fleet, every type keeps at least one vehicle, and the counts sum exactly to the requested total
  (largest-remainder rounding, ties to the type listed first).
* ``demand=a:b:step`` (or a comma list) sets ``demand.scale``, the multiplier on every arrival rate.

Ranges are inclusive at both ends. The grid is the cartesian product of the axes in the order given.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

from pydantic import ValidationError

from qmix_logistics.common.errors import QlogError
from qmix_logistics.scenario import Scenario, VehicleType

SWEEP_KEYS = ("fleet", "demand")
_FLAG = "--sweep"
_MAX_POINTS = 1000


@dataclass(frozen=True)
class SweepAxis:
    """One swept knob and the values it takes, in increasing order of appearance."""

    key: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Variant:
    """One grid point: the knob values (empty for the scenario as written) and its position."""

    index: int
    params: tuple[tuple[str, float], ...]

    @property
    def label(self) -> str:
        """A short name such as ``fleet=8 demand=1.25`` (``base`` for the unchanged scenario)."""
        return " ".join(f"{k}={_fmt(v)}" for k, v in self.params) or "base"

    def as_dict(self) -> dict[str, float | int]:
        """Knob values by key; fleet sizes as integers."""
        return {k: int(v) if k == "fleet" else v for k, v in self.params}


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _number(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise QlogError(f"{spec!r}: {text!r} is not a number", field=_FLAG) from None
    if not math.isfinite(value):
        raise QlogError(f"{spec!r}: {text!r} is not a finite number", field=_FLAG)
    return value


def _range_values(spec: str, body: str) -> list[float]:
    parts = body.split(":")
    if len(parts) != 3:
        raise QlogError(f"{spec!r}: a range is start:stop:step, e.g. fleet=4:16:2", field=_FLAG)
    start, stop, step = (_number(p, spec) for p in parts)
    if step <= 0:
        raise QlogError(f"{spec!r}: the step must be positive", field=_FLAG)
    if stop < start:
        raise QlogError(f"{spec!r}: the stop ({_fmt(stop)}) is below the start ({_fmt(start)})", field=_FLAG)
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > _MAX_POINTS:
        raise QlogError(f"{spec!r}: {count} values is too many (at most {_MAX_POINTS})", field=_FLAG)
    # Multiply rather than accumulate so 0.5:2.0:0.25 gives exactly 0.5, 0.75, ..., 2.0.
    return [round(start + i * step, 10) for i in range(count)]


def parse_axis(spec: str) -> SweepAxis:
    """Parse ``key=start:stop:step`` or ``key=v1,v2,...``; errors name ``--sweep``."""
    key, sep, body = spec.partition("=")
    key = key.strip().lower()
    if not sep or not body.strip():
        raise QlogError(f"{spec!r}: expected key=start:stop:step or key=v1,v2 (keys: {', '.join(SWEEP_KEYS)})",
                        field=_FLAG)
    if key not in SWEEP_KEYS:
        raise QlogError(f"{spec!r}: unknown key {key!r} (known: {', '.join(SWEEP_KEYS)})", field=_FLAG)
    body = body.strip()
    if ":" in body:
        values = _range_values(spec, body)
    else:
        values = [_number(p.strip(), spec) for p in body.split(",")]
    if key == "fleet":
        if any(v < 1 or not float(v).is_integer() for v in values):
            raise QlogError(f"{spec!r}: fleet sizes must be whole numbers of at least 1", field=_FLAG)
    elif any(v < 0 for v in values):
        raise QlogError(f"{spec!r}: demand scales must not be negative", field=_FLAG)
    if len(set(values)) != len(values):
        raise QlogError(f"{spec!r}: a value appears twice", field=_FLAG)
    return SweepAxis(key, tuple(float(v) for v in values))


def parse_axes(specs: Sequence[str]) -> list[SweepAxis]:
    """Parse every ``--sweep`` flag; a key may appear once."""
    axes = [parse_axis(s) for s in specs]
    keys = [a.key for a in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise QlogError(f"{key!r} is swept twice; give one range or list per key", field=_FLAG)
    points = math.prod(len(a.values) for a in axes)
    if points > _MAX_POINTS:
        raise QlogError(f"the grid has {points} variants (at most {_MAX_POINTS})", field=_FLAG)
    return axes


def grid_variants(axes: Sequence[SweepAxis]) -> list[Variant]:
    """Every grid point, last axis varying fastest; one ``base`` variant when nothing is swept."""
    combos = itertools.product(*(a.values for a in axes))
    return [Variant(i, tuple(zip((a.key for a in axes), combo))) for i, combo in enumerate(combos)]


def scale_fleet(fleet: Sequence[VehicleType], total: int) -> list[int]:
    """Vehicle counts per type summing to ``total``, proportional to the current mix, at least 1 each."""
    if total < len(fleet):
        raise QlogError(f"fleet={total} is smaller than the number of vehicle types ({len(fleet)}); "
                        "every type keeps at least one vehicle", field=_FLAG)
    current = sum(vt.count for vt in fleet)
    quotas = [vt.count * total / current for vt in fleet]
    counts = [max(1, math.floor(q)) for q in quotas]
    while sum(counts) < total:  # hand out the remaining vehicles to the largest shortfalls
        i = max(range(len(fleet)), key=lambda j: (quotas[j] - counts[j], -j))
        counts[i] += 1
    while sum(counts) > total:  # only reachable through the at-least-one floor
        shrinkable = [j for j in range(len(fleet)) if counts[j] > 1]
        i = min(shrinkable, key=lambda j: (quotas[j] - counts[j], j))
        counts[i] -= 1
    return counts


def apply_variant(scenario: Scenario, variant: Variant) -> Scenario:
    """A copy of the scenario with the variant's fleet size and demand scale; the original is untouched."""
    out = scenario.model_copy(deep=True)
    for key, value in variant.params:
        if key == "fleet":
            for vt, count in zip(out.fleet, scale_fleet(out.fleet, int(value))):
                try:
                    vt.count = count
                except ValidationError:
                    raise QlogError(f"fleet={int(value)} gives {count} vehicles of type {vt.name!r} "
                                    "(at most 1000 per type)", field=_FLAG) from None
        elif key == "demand":
            if out.demand.kind != "poisson":
                raise QlogError("demand scaling needs generated (poisson) demand; this scenario replays "
                                "an order file", field=_FLAG)
            out.demand.scale = value
    return out
