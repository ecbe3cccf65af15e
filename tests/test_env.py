"""The multi-agent env: trajectory-level seeding, action semantics, and the PettingZoo adapter."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from qmix_logistics.common.masks import uniform_valid_actions
from qmix_logistics.env import DispatchEnv
from qmix_logistics.env.parallel_env import DispatchParallelEnv
from qmix_logistics.policies.batching import batching_actions, batching_choices
from qmix_logistics.scenario import Scenario, scenario_from_dict
from qmix_logistics.sim.world import Deliver, Load, OrderState, ReturnToDepot, Wait


def _trajectory(env: DispatchEnv, seed: int):
    rng = np.random.default_rng(seed)
    obs, masks = env.reset(seed=seed)
    frames = [(obs.copy(), masks.copy(), env.state().copy())]
    rewards, done = [], False
    while not done:
        obs, masks, r, done, info = env.step(uniform_valid_actions(masks, rng))
        frames.append((obs.copy(), masks.copy(), env.state().copy()))
        rewards.append(r)
    return frames, rewards, info["kpis"]


def test_same_seed_same_trajectory_and_kpis(small_scenario: Scenario) -> None:
    a = _trajectory(DispatchEnv(small_scenario), 5)
    b = _trajectory(DispatchEnv(small_scenario), 5)
    assert len(a[0]) == len(b[0])
    for (o1, m1, s1), (o2, m2, s2) in zip(a[0], b[0]):
        assert np.array_equal(o1, o2) and np.array_equal(m1, m2) and np.array_equal(s1, s2)
    assert a[1] == b[1] and a[2] == b[2]
    c = _trajectory(DispatchEnv(small_scenario), 6)
    assert c[2] != a[2]


def test_shapes_and_action_meanings(small_scenario: Scenario) -> None:
    env = DispatchEnv(small_scenario)
    obs, masks = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (4, env.obs_size)
    assert env.state().shape == (env.state_size,)
    names = env.action_meanings()
    assert len(names) == env.n_actions and names[0] == "wait" and names[-1] == "return to depot"


def test_actions_map_to_commands(small_scenario: Scenario) -> None:
    env = DispatchEnv(small_scenario)
    obs, masks = env.reset(seed=2)
    w = env.world
    for _ in range(200):
        deciding = w.pending_decisions()
        for v in deciding:
            for a in np.flatnonzero(masks[v]):
                cmd = env.action_to_command(v, int(a))
                if isinstance(cmd, Load):
                    assert w.state[cmd.order] == OrderState.READY and w.can_load(v, cmd.order)
                elif isinstance(cmd, Deliver):
                    assert cmd.order in w.onboard[v]
                elif isinstance(cmd, ReturnToDepot):
                    assert w.node[v] != w.depot_node[w.fleet.home_depot[v]]
                else:
                    assert isinstance(cmd, Wait)
        obs, masks, _, done, _ = env.step(uniform_valid_actions(masks, np.random.default_rng(_)))
        if done:
            break


def test_invalid_action_is_refused(small_scenario: Scenario) -> None:
    env = DispatchEnv(small_scenario)
    _, masks = env.reset(seed=0)
    bad = np.zeros(env.n_agents, dtype=np.int64)
    v, a = np.argwhere(~masks)[0]
    bad[v] = a
    with pytest.raises(ValueError, match="invalid action"):
        env.step(bad)
    with pytest.raises(ValueError):
        env.step(np.full(env.n_agents, env.n_actions))


def test_steps_always_have_a_decision(small_scenario: Scenario) -> None:
    env = DispatchEnv(small_scenario)
    _, masks = env.reset(seed=3)
    rng = np.random.default_rng(0)
    done = False
    while not done:
        assert env.world.deciding.any()
        _, masks, _, done, _ = env.step(uniform_valid_actions(masks, rng))


def test_pettingzoo_parallel_api(small_scenario: Scenario) -> None:
    parallel_api_test(DispatchParallelEnv(small_scenario), num_cycles=400)
    env = DispatchParallelEnv(small_scenario)
    assert env.observation_space("vehicle_0") is env.observation_space("vehicle_0")
    obs, _ = env.reset(seed=1)
    assert set(obs["vehicle_0"]) == {"observation", "action_mask"}
    assert env.state().shape == env.state_space.shape


def _all_left_to_colleagues(env: DispatchEnv, v: int, masks: np.ndarray) -> bool:
    """``v`` is empty and every order it could load at its warehouse would ride with a colleague's trip there."""
    w = env.world
    here = int(w.node[v])
    slots = [k for k in range(env.layout.pending_slots) if masks[v, 1 + k]
             and int(w.depot_node[w.orders.depot[env.pending_ids[v, k]]]) == here]
    travel = w.time_min[w.fleet.type_index[v], here]
    left = [k for k in slots if env.pending_topup_share[v, k] <= env.scenario.batching.top_up_detour_ratio
            and w.orders.due_min[env.pending_ids[v, k]] - w.now - travel[w.orders.dest[env.pending_ids[v, k]]] >= 0]
    return not w.onboard[v] and bool(slots) and len(left) == len(slots)


def _least_onboard_slack(env: DispatchEnv, v: int) -> float:
    """Minutes ``v`` could still wait before driving to its tightest onboard order, counted to the order's
    due time or the end of the shift, whichever comes first."""
    w = env.world
    travel = w.time_min[w.fleet.type_index[v], int(w.node[v])]
    return min(min(w.orders.due_min[o], w.fleet.shift_end[v]) - w.now - travel[w.orders.dest[o]] for o in w.onboard[v])


def _hold_slack(env: DispatchEnv, v: int) -> float:
    """The slack the batching rule holds on: the least onboard slack, and no more than the minutes left in the
    shift once every onboard order is delivered in the onboard slots' order."""
    w = env.world
    k = w.fleet.type_index[v]
    t, at = w.now, int(w.node[v])
    for o in env.onboard_ids[v][env.onboard_ids[v] >= 0]:
        t += w.time_min[k, at, int(w.orders.dest[o])] + w.scenario.demand.service_time_min
        at = int(w.orders.dest[o])
    return min(_least_onboard_slack(env, v), w.fleet.shift_end[v] - t)


def test_a_fleet_that_always_waits_still_delivers(small_scenario: Scenario) -> None:
    """Waiting whenever the mask allows it cannot keep loads at the warehouse all day: holding ends once an
    order on board is out of slack, so every load leaves and is delivered, late at worst."""
    env = DispatchEnv(small_scenario)
    _, masks = env.reset(seed=3)
    rng = np.random.default_rng(0)
    held_late = 0
    while not env.done:
        w = env.world
        actions = uniform_valid_actions(masks, rng)
        for v in w.pending_decisions():
            if masks[v, 0]:
                actions[v] = 0
            elif w.onboard[v] and w.load[v] < w.fleet.capacity[v] and bool((w.depot_node == w.node[v]).any()):
                held_late += _least_onboard_slack(env, v) <= 0  # room left, yet it must go
        _, masks, _, _, _ = env.step(actions)
    assert held_late > 0 and np.isfinite(env.world.delivered_at).sum() > 0


def test_the_rule_accepts_holding_or_leaving_within_its_hold_band(small_scenario: Scenario) -> None:
    """Within the hold band the rule's label comes with the other side of its threshold: a loaded vehicle
    that may hold is told to hold or to deliver its first stop, and either is accepted."""
    band = (2.0, 40.0)
    env = DispatchEnv(small_scenario)
    lay = env.layout
    alternatives = 0
    for seed in (1, 2):
        env.reset(seed=seed)
        while not env.done:
            actions, alternative = batching_choices(env, band)
            assert np.array_equal(actions, batching_actions(env))
            for v in np.flatnonzero(alternative >= 0):
                alternatives += 1
                assert env.holdable[v] and band[0] < _hold_slack(env, v) <= band[1]
                assert {int(actions[v]), int(alternative[v])} == {0, lay.first_deliver}
            env.step(actions)
    assert alternatives > 0


def test_the_rule_accepts_going_with_or_without_a_top_up_within_its_top_up_band(small_scenario: Scenario) -> None:
    """Within the top-up band the rule's label comes with the other side of its detour limit: a top-up whose
    detour share lies above the band's low end may be left out (hold or leave, as without it), and where the
    rule names no top-up, one whose share lies up to the band's high end is accepted."""
    band = (0.3, 1.5)
    env = DispatchEnv(small_scenario)
    lay, ratio = env.layout, small_scenario.batching.top_up_detour_ratio
    left_out = taken_on = 0
    for seed in (1, 2, 3):
        env.reset(seed=seed)
        while not env.done:
            actions, alternative = batching_choices(env, top_up_band=band)
            assert np.array_equal(actions, batching_actions(env))
            w = env.world
            for v in np.flatnonzero(alternative >= 0):
                assert w.onboard[v]
                a, alt = int(actions[v]), int(alternative[v])
                loads = [int(x) - 1 for x in (a, alt) if 1 <= x <= lay.pending_slots]
                assert len(loads) == 1  # one side tops up, the other does not
                k = loads[0]
                trip = w.time_min[w.fleet.type_index[v], w.node[v], w.orders.dest[env.pending_ids[v, k]]]
                share = env.pending_detour[v, k] / trip
                if a == 1 + k:
                    left_out += 1
                    assert band[0] < share <= ratio + 1e-9
                else:
                    taken_on += 1
                    assert ratio < share <= band[1] + 1e-9
            env.step(actions)
    assert left_out > 0 and taken_on > 0


def test_no_idling_with_work_unless_allowed(small_scenario: Scenario) -> None:
    rng = np.random.default_rng(0)
    for allow in (False, True):
        sc = small_scenario.model_copy(deep=True)
        sc.observation.wait_with_work = allow
        env = DispatchEnv(sc)
        _, masks = env.reset(seed=4)
        seen_work = seen_hold = seen_yield = False
        for _ in range(300):
            w = env.world
            work = masks[:, 1:-1].any(axis=1)
            seen_work |= bool(work.any())
            # holding at a warehouse for more orders: something on board, room left, no order on board out of slack
            hold = np.array([bool(w.onboard[v]) and w.load[v] < w.fleet.capacity[v]
                             and bool((w.depot_node == w.node[v]).any()) and _least_onboard_slack(env, v) > 0
                             for v in range(env.n_agents)])
            yielding = np.array([_all_left_to_colleagues(env, v, masks) for v in range(env.n_agents)])
            seen_hold |= bool((work & hold & w.deciding).any())
            seen_yield |= bool((work & yielding & w.deciding).any())
            assert (masks[work, 0] == (allow | hold[work] | yielding[work])).all()
            _, masks, _, done, _ = env.step(uniform_valid_actions(masks, rng))
            if done:
                break
        assert seen_work and seen_hold and (allow or seen_yield)


def _share(detour: float, own_trip: float) -> float:
    """A detour as a share of a trip of its own (0 or inf when that trip takes no time)."""
    return detour / own_trip if own_trip > 0 else (0.0 if detour <= 0 else np.inf)


def _route(env: DispatchEnv, v: int) -> tuple[int, list[int], int]:
    """Where vehicle ``v``'s trip starts, its customers in the order of its onboard slots, and its end (home)."""
    w = env.world
    stops = [int(w.orders.dest[o]) for o in env.onboard_ids[v] if o >= 0]
    return int(w.node[v]), stops, int(w.depot_node[w.fleet.home_depot[v]])


def _insertion(env: DispatchEnv, v: int, dest: int) -> float:
    """The extra drive of visiting ``dest`` at the cheapest place in ``v``'s route."""
    tt = env.world.time_min[env.world.fleet.type_index[v]]
    start, stops, end = _route(env, v)
    points = [start, *stops, end]
    return max(0.0, min(tt[a, dest] + tt[dest, b] - tt[a, b] for a, b in zip(points, points[1:])))


def test_onboard_slots_follow_the_cheapest_delivery_order(small_scenario: Scenario) -> None:
    """Slot order is the order of stops home that costs least, lateness priced in minutes of driving."""
    from itertools import permutations

    env = DispatchEnv(small_scenario)
    costs = small_scenario.costs
    env.reset(seed=4)
    checked = 0
    while not env.done:
        w = env.world
        for v in w.pending_decisions():
            onboard = [int(o) for o in env.onboard_ids[v] if o >= 0]
            if len(onboard) < 2:
                continue
            tt = w.time_min[w.fleet.type_index[v]]
            speed = w.fleet.speeds[w.fleet.type_index[v]]
            late_weight = costs.lateness_per_min / (w.fleet.cost_per_km[v] * speed / 60.0)
            start, _, end = _route(env, v)

            def cost(seq):
                t, total, at = w.now, 0.0, start
                for o in seq:
                    d = int(w.orders.dest[o])
                    t += tt[at, d]
                    total += tt[at, d] + late_weight * max(0.0, t - min(w.orders.due_min[o], w.fleet.shift_end[v]))
                    t += small_scenario.demand.service_time_min
                    at = d
                return total + tt[at, end]

            assert cost(onboard) == pytest.approx(min(cost(p) for p in permutations(onboard)), rel=1e-9, abs=1e-6)
            checked += 1
        env.step(batching_actions(env))
    assert checked > 10


def test_batching_suggestions_are_valid_and_top_up_with_the_cheapest_insertion(small_scenario: Scenario) -> None:
    from qmix_logistics.env.kernel import (
        ONBOARD_FEATURES,
        OWN_FEATURES,
        PENDING_FEATURES,
    )

    env = DispatchEnv(small_scenario)
    lay = env.layout
    top_up_ratio = small_scenario.batching.top_up_detour_ratio
    off_pend = OWN_FEATURES + 1 + ONBOARD_FEATURES * lay.onboard_slots
    _, masks = env.reset(seed=9)
    done, topped_up, yielded = False, 0, 0
    while not done:
        w = env.world
        a = batching_actions(env)
        assert masks[np.arange(env.n_agents), a].all()
        loads = [int(env.pending_ids[v, a[v] - 1]) for v in w.pending_decisions() if 1 <= a[v] < lay.first_deliver]
        assert len(loads) == len(set(loads))  # one order, one vehicle
        for v in w.pending_decisions():
            tt = w.time_min[w.fleet.type_index[v]]
            for k in np.flatnonzero(env.pending_ids[v] >= 0):
                o = int(env.pending_ids[v, k])
                expected = (_insertion(env, v, int(w.orders.dest[o])) if w.onboard[v]
                            else tt[w.depot_node[w.orders.depot[o]], w.orders.dest[o]])
                assert env.pending_detour[v, k] == pytest.approx(expected)
                assert env.observations()[v, off_pend + k * PENDING_FEATURES + 6] == pytest.approx(
                    min(expected / env._tau, 4.0), rel=1e-5)
            here = int(w.node[v])
            for k in np.flatnonzero(env.pending_ids[v] >= 0):  # the colleagues' top-up share
                o = int(env.pending_ids[v, k])
                wh = int(w.depot_node[w.orders.depot[o]])
                shares = [_share(_insertion(env, u, int(w.orders.dest[o])),
                                 w.time_min[w.fleet.type_index[u], wh, w.orders.dest[o]])
                          for u in range(env.n_agents) if u != v and w.active[u] and int(w.node[u]) == wh
                          and w.onboard[u] and w.fleet.capacity[u] - w.load[u] >= w.orders.size[o]]
                assert env.pending_topup_share[v, k] == pytest.approx(min(shares, default=np.inf))
                assert env.observations()[v, off_pend + k * PENDING_FEATURES + 10] == pytest.approx(
                    min(min(shares, default=np.inf), 2.0), rel=1e-5)
            if not w.onboard[v]:  # an empty vehicle leaves a colleague the orders it would top up with
                here_slots = [k for k in range(lay.pending_slots) if masks[v, 1 + k]
                              and int(w.depot_node[w.orders.depot[env.pending_ids[v, k]]]) == here]
                left = [k for k in here_slots if env.pending_topup_share[v, k] <= top_up_ratio
                        and w.orders.due_min[env.pending_ids[v, k]] - w.now - tt[here, w.orders.dest[env.pending_ids[v, k]]] >= 0]
                assert a[v] - 1 not in left
                assert [k for k in here_slots if env.pending_left_to_colleague[v, k]] == left
                if a[v] == 0 and here_slots:
                    assert all(k in left or int(env.pending_ids[v, k]) in loads for k in here_slots)
                yielded += bool(left)
            eligible = [k for k in range(lay.pending_slots) if masks[v, 1 + k]
                        and int(w.depot_node[w.orders.depot[env.pending_ids[v, k]]]) == here
                        and env.pending_detour[v, k] <= top_up_ratio * tt[here, w.orders.dest[env.pending_ids[v, k]]]]
            if w.onboard[v] and 1 <= a[v] < lay.first_deliver:
                topped_up += 1
                assert a[v] - 1 in eligible  # a top-up never pulls the trip across town
                saving = {k: tt[here, w.orders.dest[env.pending_ids[v, k]]] - env.pending_detour[v, k]
                          for k in eligible}
                assert saving[a[v] - 1] >= max(saving.values()) - 1e-9 \
                    or any(int(env.pending_ids[v, k]) in loads for k in eligible)  # the top-up saving the most
            elif w.onboard[v] and a[v] == 0:
                assert all(int(env.pending_ids[v, k]) in loads for k in eligible)  # holds only with nothing to top up
        _, masks, _, done, info = env.step(a)
    assert topped_up > 0 and yielded > 0
    from qmix_logistics.evaluation.rollout import run_episode
    from qmix_logistics.policies.heuristics import GreedyPolicy

    greedy = run_episode(DispatchEnv(small_scenario), GreedyPolicy(), 9).kpis
    assert info["kpis"]["total_cost"] < greedy["total_cost"]


def test_the_batching_rules_hold_is_the_scenarios_setting(small_scenario: Scenario) -> None:
    """Holding for top-ups until less slack is left keeps loaded vehicles waiting at the warehouse for longer."""

    def holds(hold_slack_min: float) -> int:
        scenario = small_scenario.model_copy(update={"batching": small_scenario.batching.model_copy(
            update={"hold_slack_min": hold_slack_min})})
        env = DispatchEnv(scenario)
        env.reset(seed=3)
        held = 0
        while not env.done:
            actions = batching_actions(env)
            held += sum(1 for v in env.world.pending_decisions() if actions[v] == 0 and env.world.onboard[v])
            env.step(actions)
        return held

    assert holds(5.0) > holds(25.0) > holds(1e6) == 0


def test_an_empty_vehicle_sees_the_nearest_warehouses_orders_first_least_slack_first() -> None:
    from qmix_logistics.env.layout import ONBOARD_FEATURES, OWN_FEATURES, PENDING_FEATURES
    from tests.conftest import small_scenario_dict

    scenario = scenario_from_dict(small_scenario_dict(depots=[
        {"name": "west", "node": 7, "docks": 2, "workers": 2, "pick_time_min": 3, "load_time_min": 1},
        {"name": "east", "node": 28, "docks": 2, "workers": 2, "pick_time_min": 3, "load_time_min": 1}]))
    env = DispatchEnv(scenario)
    off = OWN_FEATURES + 1 + ONBOARD_FEATURES * env.layout.onboard_slots
    obs, _ = env.reset(seed=5)
    checked = 0
    while not env.done:
        w = env.world
        for v in w.pending_decisions():
            if w.onboard[v]:
                continue
            slots = [obs[v, off + k * PENDING_FEATURES: off + (k + 1) * PENDING_FEATURES]
                     for k in range(env.layout.pending_slots) if env.pending_ids[v, k] >= 0]
            keys = [(-f[5], round(float(f[1]), 5), float(f[3])) for f in slots]  # fits, drive to warehouse, slack
            assert keys == sorted(keys)
            checked += len({k[1] for k in keys}) > 1
        obs, _, _, _, _ = env.step(batching_actions(env))
    assert checked > 0


def test_a_loaded_vehicle_sees_its_top_ups_first_the_most_drive_saved_first(small_scenario: Scenario) -> None:
    """At its warehouse, a loaded vehicle's first slots are the orders within the detour limit there, the most
    drive saved against a trip of their own first; every other order comes after them, least detour first."""
    ratio = small_scenario.batching.top_up_detour_ratio
    env = DispatchEnv(small_scenario)
    checked = 0
    for seed in (1, 2, 3):
        env.reset(seed=seed)
        while not env.done:
            w = env.world
            for v in w.pending_decisions():
                here = int(w.node[v])
                if not w.onboard[v] or not (w.depot_node == here).any():
                    continue
                travel = w.time_min[w.fleet.type_index[v], here]
                shown = [k for k in range(env.layout.pending_slots) if env.pending_ids[v, k] >= 0
                         and w.orders.size[env.pending_ids[v, k]] <= w.fleet.capacity[v] - w.load[v]]
                own = {k: travel[w.orders.dest[env.pending_ids[v, k]]] for k in shown}
                top_up = [int(w.depot_node[w.orders.depot[env.pending_ids[v, k]]]) == here
                          and env.pending_detour[v, k] <= ratio * own[k] for k in shown]
                assert top_up == sorted(top_up, reverse=True)  # the top-ups first
                saved = [own[k] - env.pending_detour[v, k] for k, up in zip(shown, top_up) if up]
                assert saved == sorted(saved, reverse=True)
                checked += len(saved) > 1
            env.step(batching_actions(env))
    assert checked > 0


def test_the_batching_rule_does_not_hold_orders_past_the_shift() -> None:
    """Orders due after the shift ends cannot wait for their due time: a loaded vehicle stops holding for
    top-ups once an order on board, or the trip's last stop, would be left with less than ``hold_slack_min``
    before the shift ends."""
    from tests.conftest import small_scenario_dict

    # long trips (room for eight one-unit orders) make the trip's end bind before any single order's slack
    scenario = scenario_from_dict(small_scenario_dict(
        demand={"due_window_min": {"min": 150, "max": 170}, "size": {"min": 1, "max": 1}},
        fleet=[{"name": "van", "count": 3, "capacity": 8, "speed_kmh": 30, "cost_per_km": 0.5}]))
    hold_slack = scenario.batching.hold_slack_min
    env = DispatchEnv(scenario)
    holds, late_holds = 0, 0
    for seed in range(1, 9):
        env.reset(seed=seed)
        w = env.world
        while not env.done:
            actions = batching_actions(env)
            for v in w.pending_decisions():
                if actions[v] == 0 and w.onboard[v]:
                    holds += 1
                    late_holds += _hold_slack(env, v) <= hold_slack  # counts each order's slack to the shift too
            env.step(actions)
    assert holds > 0 and late_holds == 0


def test_a_vehicle_may_load_only_orders_it_can_hand_over_before_its_shift_ends() -> None:
    """Loading is valid only where the drive to the warehouse, the loading and the drive to the customer end
    within the vehicle's shift; orders arriving until the day's last minutes make such loads come up."""
    from tests.conftest import small_scenario_dict

    scenario = scenario_from_dict(small_scenario_dict(demand={"last_order_min": 178}))
    env = DispatchEnv(scenario)
    lay = env.layout
    allowed = refused = 0
    for seed in (1, 2, 3):
        _, masks = env.reset(seed=seed)
        w = env.world
        rng = np.random.default_rng(seed)
        while not env.done:
            for v in w.pending_decisions():
                tt = w.time_min[w.fleet.type_index[v]]
                for k in range(lay.pending_slots):
                    o = int(env.pending_ids[v, k])
                    if o < 0 or w.load[v] + w.orders.size[o] > w.fleet.capacity[v]:
                        continue
                    d = int(w.orders.depot[o])
                    wh = int(w.depot_node[d])
                    end = (w.now + tt[int(w.node[v]), wh] + scenario.depots[d].load_time_min
                           + tt[wh, int(w.orders.dest[o])])
                    assert masks[v, 1 + k] == (end <= w.fleet.shift_end[v] + 1e-9)
                    allowed += bool(masks[v, 1 + k])
                    refused += not masks[v, 1 + k]
            _, masks, _, _, _ = env.step(uniform_valid_actions(masks, rng))
    assert allowed > 0 and refused > 0


@pytest.mark.slow
def test_batching_beats_greedy_on_the_depot_scenario() -> None:
    from qmix_logistics.evaluation.rollout import run_episode
    from qmix_logistics.policies.batching import BatchingPolicy
    from qmix_logistics.policies.heuristics import GreedyPolicy
    from qmix_logistics.scenario import load_scenario
    from tests.conftest import ROOT

    env = DispatchEnv(load_scenario(ROOT / "scenarios" / "depot.yaml"))
    for seed in (0, 1):
        greedy = run_episode(env, GreedyPolicy(), seed).kpis
        batching = run_episode(env, BatchingPolicy(), seed).kpis
        assert batching["total_cost"] < greedy["total_cost"] and batching["km"] < greedy["km"]


def test_parallel_env_passes_the_teachers_action_only_when_asked(small_scenario: Scenario) -> None:
    from qmix_logistics.policies.batching import batching_actions, batching_choices

    _, infos = DispatchParallelEnv(small_scenario).reset(seed=9)
    assert not any("expert_action" in infos[a] for a in infos)
    pz = DispatchParallelEnv(small_scenario, teacher=batching_actions)
    _, infos = pz.reset(seed=9)
    assert all("expert_action" in infos[a] for a in pz.possible_agents)


def test_a_vehicle_sees_its_type_its_lead_on_each_order_and_when_neighbours_are_free() -> None:
    from qmix_logistics.env.layout import NEIGHBOR_FEATURES, ONBOARD_FEATURES, OWN_FEATURES, PENDING_FEATURES
    from qmix_logistics.scenario import load_scenario
    from tests.conftest import ROOT

    env = DispatchEnv(load_scenario(ROOT / "scenarios" / "multi_warehouse.yaml"))
    lay = env.layout
    off_pend = OWN_FEATURES + 1 + ONBOARD_FEATURES * lay.onboard_slots
    off_nb = off_pend + PENDING_FEATURES * lay.pending_slots
    rng = np.random.default_rng(0)
    obs, masks = env.reset(seed=3)
    f = env.world.fleet
    types = {tuple(np.round(obs[v, 9:12], 6)) for v in range(env.n_agents)}
    assert len(types) == len({(c, s) for c, s in zip(f.capacity, f.type_index)}) > 1  # bikes and vans differ
    assert np.allclose(obs[:, 9], f.capacity / f.capacity.max()) and obs[:, 10:12].max() == pytest.approx(1.0)
    checked = 0
    for _ in range(300):
        w = env.world
        base = np.maximum(w.now, w.free_at)
        for v in range(env.n_agents):
            for k in np.flatnonzero(env.pending_ids[v] >= 0):
                wh = int(w.depot_node[w.orders.depot[env.pending_ids[v, k]]])
                mine = base[v] + w.time_min[f.type_index[v]][w.node[v], wh]
                rivals = [base[u] + w.time_min[f.type_index[u]][w.node[u], wh] for u in range(env.n_agents)
                          if u != v and w.active[u] and w.load[u] < f.capacity[u]]
                expected = np.clip((min(rivals, default=np.inf) - mine) / env._tau, -2.0, 4.0)
                assert obs[v, off_pend + k * PENDING_FEATURES + 7] == pytest.approx(expected, abs=1e-4)
                checked += 1
            for s in range(env.neighbor_slots):
                assert obs[v, off_nb + s * NEIGHBOR_FEATURES + 6] >= 0.0
        obs, masks, _, done, _ = env.step(uniform_valid_actions(masks, rng))
        if done:
            break
    assert checked > 100


def test_a_vehicle_sees_its_least_onboard_slack_each_orders_detour_share_and_extra_drive() -> None:
    from qmix_logistics.env.layout import ONBOARD_FEATURES, OWN_FEATURES, PENDING_FEATURES
    from qmix_logistics.scenario import load_scenario
    from tests.conftest import ROOT

    env = DispatchEnv(load_scenario(ROOT / "scenarios" / "multi_warehouse.yaml"))
    lay = env.layout
    off_pend = OWN_FEATURES + 1 + ONBOARD_FEATURES * lay.onboard_slots
    rng = np.random.default_rng(1)
    obs, masks = env.reset(seed=4)
    tau = env._tau
    f = env.world.fleet
    loaded = shares = 0
    for _ in range(400):
        w = env.world
        for v in range(env.n_agents):
            tt = w.time_min[f.type_index[v]]
            base = max(w.now, w.free_at[v])
            here = int(w.node[v])
            slacks = [w.orders.due_min[o] - base - tt[here, w.orders.dest[o]] for o in w.onboard[v]]
            expected = np.clip(min(slacks) / tau, -2.0, 4.0) if slacks else 4.0
            assert obs[v, OWN_FEATURES - 1] == pytest.approx(expected, abs=1e-4)
            loaded += bool(slacks)
            slots = np.flatnonzero(env.pending_ids[v] >= 0)
            if not len(slots):
                continue
            to_wh = {k: tt[here, w.depot_node[w.orders.depot[env.pending_ids[v, k]]]] for k in slots}
            fitting = [to_wh[k] for k in slots if obs[v, off_pend + k * PENDING_FEATURES + 5] > 0]
            nearest = min(fitting or to_wh.values())
            for k in slots:
                o = int(env.pending_ids[v, k])
                own = tt[w.depot_node[w.orders.depot[o]], w.orders.dest[o]]
                p = off_pend + k * PENDING_FEATURES
                assert obs[v, p + 8] == pytest.approx(min(env.pending_detour[v, k] / own, 2.0), abs=1e-4)
                assert obs[v, p + 9] == pytest.approx(np.clip((to_wh[k] - nearest) / tau, 0.0, 4.0), abs=1e-4)
                shares += 1
        obs, masks, _, done, _ = env.step(uniform_valid_actions(masks, rng))
        if done:
            break
    assert loaded > 50 and shares > 100
