"""The hindsight bound: exact ready times, the full-day problem, and whole days carried out in the simulator."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pytest

from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.compare import evaluate
from qmix_logistics.evaluation.rollout import run_episode
from qmix_logistics.planning.problem import PlanStatus, TaskKind
from qmix_logistics.policies import GreedyPolicy, make_policy
from qmix_logistics.policies import hindsight as hindsight_module
from qmix_logistics.policies.full_day import build_full_day, picking_ready_min
from qmix_logistics.policies.hindsight import HindsightPolicy, simulator_cost
from qmix_logistics.policies.played_day import ReplayedDay, play_day
from qmix_logistics.policies.rolling_horizon import RollingHorizonPolicy
from qmix_logistics.scenario import scenario_from_dict
from qmix_logistics.sim.demand import OrderStream
from qmix_logistics.sim.world import Deliver, Load, OrderState
from tests.conftest import small_scenario_dict

LIMIT_S = 1.0
"""Seconds of the full-day search in these tests."""
ONLINE_S = 0.02
"""Seconds per re-plan of the online planner's start day in these tests."""


def bound_policy() -> HindsightPolicy:
    """The bound with short searches; the online start day as ``qlog eval --planner-time-limit`` sets it."""
    policy = HindsightPolicy(time_limit_s=LIMIT_S)
    policy.config = replace(policy.config, time_limit_s=ONLINE_S)
    return policy


class Replayer:
    """A played day's replay as a policy, fresh at every reset."""

    def __init__(self, played) -> None:
        self.played, self.name = played, "replay"

    def reset(self, env, seed) -> None:
        self.replay = ReplayedDay(self.played)

    def act(self, env):
        return self.replay.act(env)


class Follower:
    """The bound's route following of its full-day plan, as a policy (the plan is kept across resets)."""

    def __init__(self, bound: HindsightPolicy) -> None:
        self.bound, self.name = bound, "follow"

    def reset(self, env, seed) -> None:
        pass

    def act(self, env):
        return self.bound.follow(env)


class CheckedCommands:
    """Wraps a policy and fails on any command the world would refuse or silently turn into a wait."""

    def __init__(self, policy) -> None:
        self.policy, self.name, self.commands = policy, policy.name, 0

    def reset(self, env, seed) -> None:
        self.policy.reset(env, seed)

    def act(self, env):
        w = env.world
        commands = self.policy.act(env)
        for v, cmd in commands.items():
            assert v in w.pending_decisions(), f"command for vehicle {v}, which is not deciding"
            if isinstance(cmd, Load):
                assert w.can_load(v, cmd.order), f"vehicle {v} cannot load order {cmd.order} now"
            if isinstance(cmd, Deliver):
                assert cmd.order in w.onboard[v], f"order {cmd.order} is not on vehicle {v}"
        self.commands += len(commands)
        return commands


def test_ready_times_replay_each_warehouse_picker_queue(small_scenario):
    # Two pickers, three orders at once: the third waits for the quicker of the first two.
    stream = OrderStream(arrival_min=np.array([0.0, 0.0, 0.0, 20.0]), depot=np.zeros(4, dtype=np.int64),
                         dest=np.zeros(4, dtype=np.int64), size=np.ones(4, dtype=np.int64),
                         due_min=np.full(4, 60.0), deadline_min=np.full(4, 90.0),
                         pick_min=np.array([3.0, 5.0, 1.0, 2.0]))
    np.testing.assert_allclose(picking_ready_min(stream, small_scenario), [3.0, 5.0, 4.0, 22.0])


@pytest.mark.parametrize("workers", [1, 2])
def test_ready_times_equal_what_a_simulated_day_records(workers):
    scenario = scenario_from_dict(small_scenario_dict(
        depots=[{"name": "d", "node": "center", "docks": 2, "workers": workers, "pick_time_min": 3,
                 "load_time_min": 1}]))
    env = DispatchEnv(scenario)
    for seed in (1, 2):
        run_episode(env, GreedyPolicy(), seed)
        w = env.world
        expected = picking_ready_min(w.orders, scenario)
        recorded = ~np.isnan(w.ready_at)
        assert recorded.sum() > len(w.orders) / 2  # one picker falls behind: a real queue builds up
        np.testing.assert_allclose(expected[recorded], w.ready_at[recorded], rtol=0, atol=1e-9)
        # An order the simulator never marked ready was dropped (deadline or end of day) before then.
        assert np.all(w.state[~recorded] == int(OrderState.DROPPED))
        lost_at = np.minimum(w.orders.deadline_min[~recorded], w.end_min)
        assert np.all(expected[~recorded] >= lost_at - 1e-9)


def test_the_full_day_problem_holds_every_order_that_can_be_served(small_scenario):
    env = DispatchEnv(small_scenario)
    env.reset(seed=1)
    w = env.world
    day = build_full_day(w)
    problem, costs = day.problem, small_scenario.costs
    assert w.state.max() <= int(OrderState.PICKING)  # the day has just begun: most orders lie ahead
    ids = sorted(t.id for t in problem.tasks)
    assert ids == sorted(day.planned_orders) and len(ids) >= len(w.orders) - 2
    for task in problem.tasks:
        o = task.id
        assert task.kind is TaskKind.PICKUP_DELIVERY
        assert task.pickup_earliest_min == pytest.approx(day.ready_min[o])
        assert task.deadline_min == pytest.approx(w.orders.deadline_min[o])
        assert task.due_min == pytest.approx(w.orders.due_min[o])
        assert task.drop_penalty == pytest.approx(costs.drop_penalty + costs.revenue_per_order)
        assert int(day.nodes[task.pickup_location]) == int(w.depot_node[0])
        assert int(day.nodes[task.location]) == int(w.orders.dest[o])
    assert problem.objective.lateness_cost_per_min == costs.lateness_per_min
    assert not problem.hard_time_windows
    for vehicle in problem.vehicles:
        assert int(day.nodes[vehicle.start_location]) == int(w.depot_node[0])
        assert vehicle.end_location is None and vehicle.current_load == 0
        assert vehicle.start_min == small_scenario.horizon.start_min


def test_a_played_day_becomes_a_feasible_start_plan_that_costs_no_more_than_the_day(small_scenario):
    env = DispatchEnv(small_scenario)
    env.reset(seed=2)
    day = build_full_day(env.world)
    played = play_day(env, 2, GreedyPolicy(), day, "greedy")
    assert played.plan.status is PlanStatus.FEASIBLE, played.plan.violations
    greedy = run_episode(DispatchEnv(small_scenario), GreedyPolicy(), 2)
    assert played.kpis == greedy.kpis
    served = {s.task_id for r in played.plan.routes for s in r.stops}
    assert len(served) == greedy.kpis["delivered"]
    # Same deliveries, timed as early as possible without docks or the drive home: never dearer.
    planned, _ = simulator_cost(env.world, day, played.plan)
    assert planned <= played.total_cost + 1e-6


@pytest.mark.parametrize("make", [GreedyPolicy, lambda: RollingHorizonPolicy("ortools", time_limit_s=ONLINE_S)],
                         ids=["greedy", "ortools"])
def test_a_replayed_day_repeats_the_played_day_exactly(small_scenario, make):
    env = DispatchEnv(small_scenario)
    env.reset(seed=3)
    played = play_day(env, 3, make(), build_full_day(env.world), "day")
    replayed = run_episode(env, Replayer(played), 3)
    assert replayed.kpis == played.kpis and replayed.steps == len(played.commands)
    with pytest.raises(RuntimeError, match="left its recording"):
        run_episode(env, Replayer(played), 4)  # another seed's day cannot follow this recording


def test_the_bound_is_the_cheapest_day_played_and_never_dearer_than_the_online_planner(small_scenario):
    env = DispatchEnv(small_scenario)
    for seed in (1,):
        greedy = run_episode(env, GreedyPolicy(), seed)
        policy = bound_policy()
        checked = CheckedCommands(policy)
        bound = run_episode(env, checked, seed)
        assert checked.commands > 0 and bound.policy == "hindsight-bound" and policy.is_bound
        stats = policy.stats
        assert set(stats.day_costs) == {"ortools", "batching", "greedy", "plan"}
        assert bound.kpis["total_cost"] == pytest.approx(min(stats.day_costs.values()), abs=1e-9)
        assert bound.kpis["total_cost"] <= stats.day_costs["ortools"]
        assert bound.kpis["total_cost"] <= greedy.kpis["total_cost"] + 1e-9
        assert stats.day_costs["greedy"] == pytest.approx(greedy.kpis["total_cost"])
        assert stats.plans == 1 and stats.failures == 0 and stats.infeasible == 0
        assert stats.start_day in ("ortools", "batching", "greedy")
        # The search starts from the start day's routes, so it can only end cheaper (in the plan's terms).
        assert stats.planned_total_cost <= stats.start_planned_cost + 1e-6
        # Docks and real waits can only make following the plan dearer than the plan, never cheaper.
        assert stats.day_costs["plan"] >= stats.planned_total_cost - 1e-6


def test_the_plan_followed_in_the_simulator_only_issues_valid_commands(small_scenario):
    env = DispatchEnv(small_scenario)
    policy = HindsightPolicy(time_limit_s=LIMIT_S, start_days=("greedy",))
    env.reset(seed=5)
    policy.reset(env, 5)
    checked = CheckedCommands(Follower(policy))
    followed = run_episode(env, checked, 5)
    assert checked.commands > 0
    assert followed.kpis["total_cost"] == pytest.approx(policy.stats.day_costs["plan"])


def test_eval_builds_the_bound_by_name_and_marks_it(small_scenario, monkeypatch):
    monkeypatch.setattr(hindsight_module, "HindsightPolicy",
                        functools.partial(HindsightPolicy, time_limit_s=LIMIT_S))
    assert isinstance(make_policy("hindsight", small_scenario), HindsightPolicy)
    report = evaluate(small_scenario, ["greedy", "hindsight"], episodes=1, seed=3,
                      planner_time_limit_s=ONLINE_S)  # also the online start day's search per re-plan
    assert report.policies == ["greedy", "hindsight-bound"]
    assert report.to_dict()["bounds"] == ["hindsight-bound"]


def test_bad_options_are_refused():
    with pytest.raises(QlogError, match="unknown start day"):
        HindsightPolicy(start_days=("oracle",))
    with pytest.raises(QlogError, match="time limit"):
        HindsightPolicy(time_limit_s=0)
    with pytest.raises(TypeError, match="unknown HindsightPolicy options"):
        HindsightPolicy(engine="pyvrp")
