"""Simulator invariants, checked step by step over random scenarios and random valid actions."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmix_logistics.common.masks import uniform_valid_actions
from qmix_logistics.env import DispatchEnv
from qmix_logistics.scenario import scenario_from_dict
from qmix_logistics.sim.world import OrderState
from tests.conftest import small_scenario_dict

scenarios = st.fixed_dictionaries({
    "rows": st.integers(3, 7),
    "vehicles": st.integers(1, 6),
    "capacity": st.integers(2, 6),
    "rate": st.floats(5, 60),
    "docks": st.integers(1, 3),
    "depots": st.integers(1, 2),
    "pending": st.integers(1, 5),
    "radius": st.one_of(st.none(), st.floats(3, 30)),
    "seed": st.integers(0, 10_000),
})


def _build(p: dict):
    data = small_scenario_dict()
    data["network"] = {"kind": "grid", "rows": p["rows"], "cols": p["rows"], "spacing_km": 1.0, "speed_kmh": 30}
    data["depots"] = [{"name": f"d{i}", "node": i, "docks": p["docks"], "workers": 2} for i in range(p["depots"])]
    data["fleet"] = [{"name": "van", "count": p["vehicles"], "capacity": p["capacity"], "speed_kmh": 30}]
    data["demand"]["rate_per_hour"] = p["rate"]
    data["observation"] = {"pending_slots": p["pending"], "neighbor_slots": 2, "radius_min": p["radius"]}
    return scenario_from_dict(data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios)
def test_invariants_hold_every_step(p: dict) -> None:
    sc = _build(p)
    env = DispatchEnv(sc)
    rng = np.random.default_rng(p["seed"])
    obs, masks = env.reset(seed=p["seed"])
    w = env.world
    last_t = w.now
    done = False
    while not done:
        # every order is in exactly one state, and arrived orders are conserved
        arrived = np.count_nonzero(w.state != OrderState.FUTURE)
        assert arrived == w.next_arrival
        open_ = np.count_nonzero((w.state >= OrderState.PICKING) & (w.state <= OrderState.ONBOARD))
        assert open_ == w.open_orders
        # load equals what is on board and never exceeds capacity
        for v in range(w.n_vehicles):
            assert w.load[v] == sum(int(w.orders.size[o]) for o in w.onboard[v])
            assert 0 <= w.load[v] <= w.fleet.capacity[v]
            assert all(w.state[o] == OrderState.ONBOARD and w.vehicle_of[o] == v for o in w.onboard[v])
            assert sorted(w.onboard[v]) == sorted(int(o) for o in w.onboard_mat[v] if o >= 0)
        assert np.count_nonzero(w.state == OrderState.ONBOARD) == sum(len(x) for x in w.onboard)
        # masks: busy vehicles only wait; every agent has a valid action; observations are finite
        assert masks.any(axis=1).all() and masks[~w.deciding, 0].all()
        assert not masks[~w.deciding, 1:].any()
        assert np.isfinite(obs).all()
        obs, masks, reward, done, info = env.step(uniform_valid_actions(masks, rng))
        assert w.now >= last_t  # the clock never goes back
        last_t = w.now
    k = info["kpis"]
    assert k["delivered"] + k["dropped"] == k["orders_created"]
    assert k["on_time"] + k["late"] == k["delivered"]
    assert np.count_nonzero(w.state == OrderState.FUTURE) + k["orders_created"] == len(w.orders)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 1000), st.sampled_from(["random", "greedy"]))
def test_order_stream_does_not_depend_on_policy(seed: int, policy: str) -> None:
    from qmix_logistics.evaluation.rollout import run_episode
    from qmix_logistics.policies import make_policy

    sc = scenario_from_dict(small_scenario_dict())
    env = DispatchEnv(sc)
    run_episode(env, make_policy(policy, sc), seed)
    played = env.world.orders
    env.reset(seed=seed)
    fresh = env.world.orders
    for field in ("arrival_min", "dest", "size", "due_min", "pick_min", "depot"):
        assert np.array_equal(getattr(played, field), getattr(fresh, field))
