"""Traces: export then import gives the day's KPIs back; busy intervals match utilization; route maps draw."""

from __future__ import annotations

import numpy as np
import pytest

from qmix_logistics.common.errors import QlogError
from qmix_logistics.scenario import scenario_from_dict
from qmix_logistics.studies.route_map import parse_window, route_map_png, trace_legs
from qmix_logistics.studies.trace import (
    kpis_from_trace,
    read_trace,
    simulate_traced,
    write_trace,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def two_type_scenario():
    """Two vehicle types with different speeds, costs and a short shift, so every KPI term is exercised."""
    return scenario_from_dict({
        "name": "mixed", "seed": 2, "horizon": {"start_min": 0, "end_min": 150},
        "network": {"kind": "grid", "rows": 6, "cols": 6, "spacing_km": 1.0, "speed_kmh": 30, "arterial_every": 3},
        "depots": [{"name": "d", "node": "center", "docks": 1, "workers": 2, "pick_time_min": 3, "load_time_min": 1}],
        "fleet": [{"name": "van", "count": 2, "capacity": 4, "speed_kmh": 30, "cost_per_km": 0.5},
                  {"name": "bike", "count": 1, "capacity": 2, "speed_kmh": 18, "cost_per_km": 0.1,
                   "shift_start_min": 20, "shift_end_min": 100}],
        "demand": {"rate_per_hour": 40, "size": {"min": 1, "max": 2}, "due_window_min": {"min": 20, "max": 60},
                   "max_late_min": 20, "last_order_min": 130},
    })


@pytest.mark.parametrize("policy", ["greedy", "random"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_trace_round_trip_rebuilds_kpis(tmp_path, policy, suffix):
    scenario = two_type_scenario()
    report, table = simulate_traced(scenario, policy, episodes=2, seed=4)
    path = write_trace(table, tmp_path / f"trace{suffix}")
    back = read_trace(path)
    assert len(back) == len(table)
    for episode in report.episodes:
        rebuilt = kpis_from_trace(path, seed=episode.seed)
        assert rebuilt.keys() == episode.kpis.keys()
        for name, value in episode.kpis.items():
            assert rebuilt[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_trace_columns_and_order_fields():
    _, table = simulate_traced(two_type_scenario(), "greedy", episodes=1)
    for col in ("seed", "time_min", "kind", "vehicle", "order", "node", "x_km", "y_km", "dest", "size", "due_min"):
        assert col in table.columns
    arrivals = table[table["kind"] == "order_arrival"]
    assert arrivals["dest"].notna().all() and arrivals["size"].notna().all() and arrivals["due_min"].notna().all()
    assert (arrivals["dest"].to_numpy() == arrivals["node"].to_numpy()).all()
    assert table[table["kind"] == "depart"]["dest"].isna().all()
    assert np.all(np.diff(table["time_min"].to_numpy()) >= 0)
    assert set(table["kind"]) >= {"order_arrival", "order_ready", "depart", "arrive", "load", "deliver",
                                  "shift_start", "shift_end", "busy_start", "busy_end"}


def test_trace_with_several_days_needs_a_seed(tmp_path):
    _, table = simulate_traced(two_type_scenario(), "greedy", episodes=2)
    with pytest.raises(QlogError, match="pick one"):
        kpis_from_trace(table)
    with pytest.raises(QlogError, match="--trace"):
        write_trace(table, tmp_path / "trace.xlsx")


def test_route_map_draws_the_window(tmp_path):
    scenario = two_type_scenario()
    _, table = simulate_traced(scenario, "greedy", episodes=1)
    legs = trace_legs(table)
    assert (legs["end_min"] >= legs["start_min"]).all() and len(legs) > 5
    png = route_map_png(table, scenario, parse_window("30:90"))
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000
    with pytest.raises(QlogError, match="--window"):
        parse_window("90:30")


def test_shift_gif_has_one_frame_per_step(tmp_path):
    from PIL import Image

    from qmix_logistics.studies.route_animation import write_shift_gif

    scenario = two_type_scenario()
    _, table = simulate_traced(scenario, "greedy", episodes=1)
    path = write_shift_gif(table, scenario, tmp_path / "shift.gif", (30.0, 50.0), frame_min=2.0)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 11
    with pytest.raises(QlogError, match="--gif"):
        write_shift_gif(table, scenario, tmp_path / "shift.mp4", (30.0, 50.0))
