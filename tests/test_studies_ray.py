"""The Ray executor gives the same rows as the local one for the same seeds, for studies and for `qlog eval`
(skipped without Ray)."""

from __future__ import annotations

import pytest

from qmix_logistics.evaluation.compare import evaluate
from qmix_logistics.studies.sweep import run_sweep

ray = pytest.importorskip("ray", reason="ray is an optional extra: pip install 'qmix-logistics[ray]'")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def deterministic(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "decision_ms_mean"} for r in rows]


@pytest.mark.slow
def test_ray_equals_local(small_scenario, local_ray):
    kwargs = {"sweeps": ["fleet=2,4"], "episodes": 2, "seed": 5}
    local = run_sweep(small_scenario, ["greedy", "random"], workers=1, **kwargs)
    remote = run_sweep(small_scenario, ["greedy", "random"], executor="ray", **kwargs)
    assert remote.executor == "ray"
    assert deterministic(remote.rows()) == deterministic(local.rows())
    assert ray.is_initialized()  # a session the caller started is left running


@pytest.mark.slow
def test_eval_days_on_ray_equal_the_days_played_here(small_scenario, local_ray):
    here = evaluate(small_scenario, ["greedy", "batching"], 3, seed=8)
    remote = evaluate(small_scenario, ["greedy", "batching"], 3, seed=8, executor="ray")
    for label in ("greedy", "batching"):
        assert [e.kpis for e in remote.episodes[label]] == [e.kpis for e in here.episodes[label]]
        assert [e.seed for e in remote.episodes[label]] == [8, 9, 10]


@pytest.mark.slow
def test_planner_days_with_a_work_budget_on_ray_equal_the_days_played_here(local_ray):
    from qmix_logistics.scenario import scenario_from_dict
    from tests.conftest import small_scenario_dict

    scenario = scenario_from_dict(small_scenario_dict(horizon={"start_min": 0, "end_min": 90},
                                                      demand={"last_order_min": 60}))
    kwargs = {"planner_time_limit_s": 0.05, "planner_budget": "work"}
    here = evaluate(scenario, ["ortools", "pyvrp"], 1, seed=4, **kwargs)
    remote = evaluate(scenario, ["ortools", "pyvrp"], 1, seed=4, executor="ray", **kwargs)
    for label in ("ortools", "pyvrp"):
        assert [e.kpis for e in remote.episodes[label]] == [e.kpis for e in here.episodes[label]]
        assert [e.planner["work"] for e in remote.episodes[label]] == [e.planner["work"] for e in here.episodes[label]]
