"""Shared fixtures: small scenarios built in code, and the path to the optional shared data."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from qmix_logistics.scenario import Scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

#: GRU state size of the tiny checkpoint (the ``tiny_checkpoint`` fixture).
TINY_HIDDEN = 32


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


def train_tiny_checkpoint(run_dir: Path) -> Path:
    """A QMIX checkpoint for the small scenario after a few seconds of training, trained only if
    ``run_dir`` has none yet. Its weights are barely trained; its sizes and metadata are the real ones."""
    from qmix_logistics.env.parallel_env import make_parallel_env
    from qmix_logistics.marl import LearnerConfig, train
    from qmix_logistics.training import run_metadata

    checkpoint = run_dir / "checkpoint.pt"
    if not checkpoint.exists():
        scenario = scenario_from_dict(small_scenario_dict())
        config = LearnerConfig(total_env_steps=100, learning_starts=0, batch_size=4, buffer_mb=4, eval_episodes=1,
                               agent_hidden_dim=TINY_HIDDEN, mixer_embed_dim=8, hypernet_hidden_dim=16,
                               epsilon_anneal_steps=100, n_envs=1, device="cpu")
        train(functools.partial(make_parallel_env, scenario), config, run_dir,
              extra_metadata=run_metadata(scenario, config.mixer))
    return checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny checkpoint for the small scenario (``small_scenario_dict()``), trained once per test session
    and shared by the serving, parity and export tests. Treat it as read-only."""
    return train_tiny_checkpoint(tmp_path_factory.getbasetemp() / "tiny_checkpoint")
