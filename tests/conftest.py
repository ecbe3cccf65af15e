"""Shared fixtures: small scenarios built in code, and the path to the optional shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmix_logistics.scenario import Scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def small_scenario_dict(**overrides) -> dict:
    """A 6x6 grid, one depot, 4 vans, a 3-hour day: fast enough for property tests."""
    data = {
        "name": "small",
        "seed": 1,
        "horizon": {"start_min": 0, "end_min": 180},
        "network": {"kind": "grid", "rows": 6, "cols": 6, "spacing_km": 1.0, "speed_kmh": 30},
        "depots": [{"name": "d", "node": "center", "docks": 2, "workers": 2, "pick_time_min": 3, "load_time_min": 1}],
        "fleet": [{"name": "van", "count": 4, "capacity": 4, "speed_kmh": 30, "cost_per_km": 0.5}],
        "demand": {"rate_per_hour": 30, "size": {"min": 1, "max": 2}, "due_window_min": {"min": 30, "max": 90},
                   "max_late_min": 30, "last_order_min": 150},
        "observation": {"pending_slots": 4, "neighbor_slots": 2},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


@pytest.fixture
def small_scenario() -> Scenario:
    return scenario_from_dict(small_scenario_dict())


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared reference data not found at {SHARED_DATA}")
    return SHARED_DATA
