"""Sweep axes: parsing, fleet scaling across vehicle types, and applying a variant to a scenario."""

from __future__ import annotations

import pytest

from qmix_logistics.common.errors import QlogError
from qmix_logistics.scenario import Scenario, VehicleType
from qmix_logistics.studies.grid import (
    apply_variant,
    grid_variants,
    parse_axes,
    parse_axis,
    scale_fleet,
)


def test_inclusive_ranges_and_lists():
    assert parse_axis("fleet=4:16:2").values == (4, 6, 8, 10, 12, 14, 16)
    assert parse_axis("demand=0.5:2.0:0.25").values == (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    assert parse_axis("fleet=4,8,12").values == (4, 8, 12)
    assert parse_axis("demand = 1.3").values == (1.3,)


@pytest.mark.parametrize("spec", [
    "speed=1:2:1", "fleet", "fleet=", "fleet=4:2:1", "fleet=4:8", "fleet=4:8:0", "fleet=a,b",
    "fleet=1.5", "fleet=0", "demand=-1", "demand=1,1", "fleet=1:5000:1",
])
def test_malformed_axes_name_the_flag(spec):
    with pytest.raises(QlogError) as err:
        parse_axis(spec)
    assert err.value.field == "--sweep"


def test_a_key_is_swept_once():
    with pytest.raises(QlogError, match="swept twice"):
        parse_axes(["fleet=2,4", "fleet=6"])


def test_grid_is_the_product_last_axis_fastest():
    variants = grid_variants(parse_axes(["fleet=2,4", "demand=1,2"]))
    assert [v.as_dict() for v in variants] == [
        {"fleet": 2, "demand": 1.0}, {"fleet": 2, "demand": 2.0}, {"fleet": 4, "demand": 1.0}, {"fleet": 4, "demand": 2.0}]
    assert [v.index for v in variants] == [0, 1, 2, 3]
    assert variants[1].label == "fleet=2 demand=2"
    assert grid_variants([])[0].label == "base"


@pytest.mark.parametrize("counts,total", [([6, 2], 4), ([6, 2], 16), ([1, 1, 1], 3), ([5, 3, 2], 7), ([9, 1], 3)])
def test_fleet_scaling_is_proportional_at_least_one_and_exact(counts, total):
    fleet = [VehicleType(name=f"t{i}", count=c) for i, c in enumerate(counts)]
    scaled = scale_fleet(fleet, total)
    assert sum(scaled) == total
    assert min(scaled) >= 1
    for got, c in zip(scaled, counts):  # within one vehicle of the exact share, unless lifted to 1
        assert abs(got - c * total / sum(counts)) < 1.0 or got == 1


def test_fleet_smaller_than_the_number_of_types_is_an_error():
    with pytest.raises(QlogError, match="at least one"):
        scale_fleet([VehicleType(name="a"), VehicleType(name="b")], 1)


def test_apply_variant_copies(small_scenario: Scenario):
    variant = grid_variants(parse_axes(["fleet=7", "demand=1.5"]))[0]
    varied = apply_variant(small_scenario, variant)
    assert varied.n_vehicles == 7 and varied.demand.scale == 1.5
    assert small_scenario.n_vehicles == 4 and small_scenario.demand.scale == 1.0


def test_demand_sweep_needs_generated_demand(small_scenario: Scenario, tmp_path):
    csv = tmp_path / "o.csv"
    csv.write_text("time_min,node,size\n1,3,1\n")
    replay = small_scenario.model_copy(deep=True)
    replay.demand.csv = csv
    replay.demand.kind = "csv"
    with pytest.raises(QlogError, match="poisson"):
        apply_variant(replay, grid_variants(parse_axes(["demand=2"]))[0])
