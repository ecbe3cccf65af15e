"""Sweeps: reproducible for a seed whatever the worker count, sensible summaries, and every output file."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from matplotlib import image as mpimg

from qmix_logistics.common.errors import QlogError
from qmix_logistics.common.stats import mean_interval
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.kpis import KPI_DIRECTIONS
from qmix_logistics.studies.sweep import run_sweep
from qmix_logistics.studies.sweep_outputs import write_sweep_outputs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def deterministic(rows: list[dict]) -> list[dict]:
    """Rows without the one wall-clock column."""
    return [{k: v for k, v in r.items() if k != "decision_ms_mean"} for r in rows]


@pytest.fixture(scope="module")
def sweep_kwargs() -> dict:
    return {"policies": ["greedy", "random"], "sweeps": ["fleet=2,4", "demand=0.5,1.0"], "episodes": 2, "seed": 3}


def run(scenario: Scenario, kw: dict, **extra):
    return run_sweep(scenario, kw["policies"], sweeps=kw["sweeps"], episodes=kw["episodes"], seed=kw["seed"], **extra)


def assert_png(path, min_bytes: int = 5_000) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > min_bytes
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(pixels[..., :3].std()) > 0.01, f"{path.name} is one flat colour"


def test_rows_cover_the_grid_on_paired_seeds(small_scenario, sweep_kwargs):
    result = run(small_scenario, sweep_kwargs, workers=1)
    rows = result.rows()
    assert len(rows) == 4 * 2 * 2
    assert {(r["fleet"], r["demand"], r["policy"], r["seed"]) for r in rows} == {
        (f, d, p, s) for f in (2, 4) for d in (0.5, 1.0) for p in ("greedy", "random") for s in (3, 4)}
    for r in rows:
        assert set(KPI_DIRECTIONS) <= set(r) and {"return", "steps", "decision_ms_mean", "variant"} <= set(r)
    # paired seeds: within one demand level every fleet size and policy saw the same orders
    created = {(r["demand"], r["seed"]): set() for r in rows}
    for r in rows:
        created[(r["demand"], r["seed"])].add(r["orders_created"])
    assert all(len(v) == 1 for v in created.values())
    for o in result.outcomes:  # the over-the-day profile is a share of the on-shift fleet
        assert np.all(o.busy_vehicle_min <= o.on_shift_vehicle_min + 1e-9)
        assert o.on_shift_vehicle_min.sum() == pytest.approx(o.variant.as_dict()["fleet"] * 180.0)


@pytest.mark.slow
def test_same_seed_same_rows_for_any_worker_count(small_scenario, sweep_kwargs):
    serial = deterministic(run(small_scenario, sweep_kwargs, workers=1).rows())
    again = deterministic(run(small_scenario, sweep_kwargs, workers=1).rows())
    pooled = run(small_scenario, sweep_kwargs, workers=2)
    assert serial == again
    assert deterministic(pooled.rows()) == serial
    assert pooled.workers == 2


def test_summary_means_and_bootstrap_intervals(small_scenario, sweep_kwargs):
    result = run(small_scenario, sweep_kwargs, workers=1)
    summary = result.summary()
    assert len(summary) == 8 and all(s["episodes"] == 2 for s in summary)
    first = summary[0]
    values = [r["service_level"] for r in result.rows()[:2]]
    interval = mean_interval(values)
    assert first["service_level_mean"] == pytest.approx(np.mean(values))
    assert (first["service_level_ci_low"], first["service_level_ci_high"]) == (interval.low, interval.high)
    assert first["service_level_ci95"] == pytest.approx(interval.half_width)
    assert min(values) <= first["service_level_ci_low"] <= first["service_level_ci_high"] <= max(values)
    assert math.isnan(mean_interval([1.0]).half_width)


def test_outputs_are_written(small_scenario, sweep_kwargs, tmp_path):
    result = run(small_scenario, sweep_kwargs, workers=1)
    paths = write_sweep_outputs(result, tmp_path / "study")
    lines = paths["csv"].read_text().splitlines()
    assert len(lines) == 1 + 16
    assert lines[0].startswith("variant,fleet,demand,policy,seed,orders_created")
    data = json.loads(paths["json"].read_text())
    assert len(data["rows"]) == 16 and len(data["summary"]) == 8 and data["seeds"] == [3, 4]
    assert len(paths["summary_csv"].read_text().splitlines()) == 1 + 8
    for name in ("kpi_curves", "lateness", "utilization"):
        assert_png(paths[name])
    html = paths["report"].read_text()
    assert html.count("data:image/png;base64,") == 3 and "<table>" in html and "greedy" in html


def test_single_policy_without_axes_still_plots(small_scenario, tmp_path):
    result = run_sweep(small_scenario, ["greedy"], episodes=1, workers=1)
    assert [r["variant"] for r in result.rows()] == ["base"]
    paths = write_sweep_outputs(result, tmp_path)
    for name in ("kpi_curves", "lateness", "utilization"):
        assert_png(paths[name], min_bytes=2_000)


def test_ray_executor_without_ray_says_how_to_install(small_scenario, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(QlogError, match=r"pip install 'qmix-logistics\[ray\]'") as err:
        run_sweep(small_scenario, ["greedy"], episodes=1, executor="ray")
    assert err.value.field == "--executor"
