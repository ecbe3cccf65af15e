"""The multi-agent dispatch environment: every vehicle is an agent with a local, fixed-size view.

Array API (fast, used by the learner's workers and the benchmarks)::

    env = DispatchEnv(scenario)
    obs, masks = env.reset(seed=3)          # obs [n_agents, obs_size] float32, masks [n_agents, n_actions] bool
    obs, masks, reward, done, info = env.step(actions)   # actions: one int per agent
    env.state()                             # global state vector for centralized training

Actions (fixed per scenario): ``0`` wait (the only valid action of a busy vehicle; for an idle one only when
it has nothing to load or deliver, to hold at a warehouse for more orders while it has some on board, room
left and no order on board out of slack, or, empty, when every order it could load at its warehouse would ride
with a colleague's trip there (``batching.top_up_detour_ratio``), unless ``observation.wait_with_work``),
``1..K`` load the k-th visible pending order, ``K+1..K+C`` deliver the c-th onboard order, ``K+C+1`` return to
the depot. Steps are synchronous: after the actions are applied the SimPy clock runs to the next moment at
least one vehicle must decide, so there are no empty steps. The team reward is minus the cost increment.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from qmix_logistics.env.kernel import build_observations
from qmix_logistics.env.layout import (
    OWN_FEATURES,
    STATE_ORDER_FEATURES,
    ActionLayout,
    observation_size,
)
from qmix_logistics.network.cache import network_for
from qmix_logistics.network.nodes import depot_nodes
from qmix_logistics.network.road_network import RoadNetwork
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.kpis import compute_kpis
from qmix_logistics.sim.world import (
    Command,
    Deliver,
    Load,
    OrderState,
    ReturnToDepot,
    Wait,
    World,
)

_SLACK_CLIP = (-2.0, 4.0)
_READY = int(OrderState.READY)
_PICKING = int(OrderState.PICKING)


class DispatchEnv:
    """A day of dispatch for one scenario; ``reset(seed)`` starts a new day with that seed's orders."""

    def __init__(self, scenario: Scenario, net: RoadNetwork | None = None, *, record_events: bool = False) -> None:
        self.scenario = scenario
        self.net = net if net is not None else network_for(scenario)
        depot_nodes(scenario, self.net)  # fail early, naming the field, if a depot is not in the graph
        self.record_events = record_events
        obs_cfg = scenario.observation
        self.layout = ActionLayout(obs_cfg.pending_slots, scenario.resolved_onboard_slots())
        self.n_agents = scenario.n_vehicles
        self.agents = [f"vehicle_{i}" for i in range(self.n_agents)]
        self.n_actions = self.layout.n_actions
        self.neighbor_slots = min(obs_cfg.neighbor_slots, self.n_agents - 1)
        self.obs_size = observation_size(self.layout, self.neighbor_slots)
        self.state_orders = 2 * self.layout.pending_slots
        self.state_size = OWN_FEATURES * self.n_agents + STATE_ORDER_FEATURES * self.state_orders + 4
        xy = self.net.coords_km
        self._xy_min = xy.min(axis=0)
        self._xy_span = np.maximum(xy.max(axis=0) - self._xy_min, 1e-9)
        self._xy = np.ascontiguousarray((xy - self._xy_min) / self._xy_span)
        self.world: World | None = None
        self._obs: np.ndarray | None = None
        self._masks: np.ndarray | None = None
        self._pending_ids = np.full((self.n_agents, self.layout.pending_slots), -1, dtype=np.int64)
        self._onboard_ids = np.full((self.n_agents, self.layout.onboard_slots), -1, dtype=np.int64)
        self._pending_detour = np.full((self.n_agents, self.layout.pending_slots), np.inf)
        self._pending_topup = np.full((self.n_agents, self.layout.pending_slots), np.inf)
        self._pending_left = np.zeros((self.n_agents, self.layout.pending_slots), dtype=np.bool_)
        self._holdable = np.zeros(self.n_agents, dtype=np.bool_)
        self._arange = np.arange(self.n_agents)

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Start the day of ``seed`` (default: the scenario's seed) and run to the first decision."""
        seed = self.scenario.seed if seed is None else int(seed)
        self.world = None  # let go of the old day first: it may hold a travel-time table being replaced
        self.world = World(self.scenario, self.net, seed, record_events=self.record_events)
        w = self.world
        self._horizon = max(1e-9, w.end_min - w.start_min)
        self._tau = float(max(1.0, w.travel.percentile_min(95.0, 0)))  # a typical drive of the slowest type
        self._max_cap = float(w.fleet.capacity.max())
        self._radius = self.scenario.observation.radius_min
        self._load_time = np.array([d.load_time_min for d in self.scenario.depots], dtype=np.float64)
        self._home = w.depot_node[w.fleet.home_depot]
        speeds = np.asarray(w.fleet.speeds, dtype=np.float64)
        self._speed_share = speeds[w.fleet.type_index] / speeds.max()
        top_cost = float(w.fleet.cost_per_km.max())
        self._cost_share = w.fleet.cost_per_km / top_cost if top_cost > 0 else np.zeros(self.n_agents)
        # what a minute of lateness costs in minutes of driving, per vehicle: it prices a load's delivery order
        drive_cost_per_min = w.fleet.cost_per_km * speeds[w.fleet.type_index] / 60.0
        self._late_weight = self.scenario.costs.lateness_per_min / np.maximum(drive_cost_per_min, 1e-6)
        w.advance()
        self._observe()
        return self._obs, self._masks  # type: ignore[return-value]

    def step(self, actions: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray, float, bool, dict[str, Any]]:
        """Apply one action per agent (non-deciding agents must pass 0) and run to the next decision."""
        assert self._masks is not None, "call reset() first"
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.n_agents,):
            raise ValueError(f"expected {self.n_agents} actions, got shape {actions.shape}")
        in_range = (actions >= 0) & (actions < self.n_actions)
        if not in_range.all() or not self._masks[self._arange, actions].all():
            ok = in_range.copy()
            ok[in_range] = self._masks[self._arange[in_range], actions[in_range]]
            v = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"invalid action {int(actions[v])} for agent {v} (masked out)")
        return self.step_commands(self.actions_to_commands(actions))

    def step_commands(self, commands: dict[int, Command]) -> tuple[np.ndarray, np.ndarray, float, bool, dict[str, Any]]:
        """Apply commands directly (centralized planners use this; learned actions map onto it)."""
        w = self.world
        assert w is not None, "call reset() first"
        before = w.total_cost
        w.apply(commands)
        done = w.advance()
        self._observe()
        info: dict[str, Any] = {"time_min": w.now}
        if done:
            info["kpis"] = compute_kpis(w)
        return self._obs, self._masks, float(before - w.total_cost), done, info  # type: ignore[return-value]

    def actions_to_commands(self, actions: Sequence[int] | np.ndarray) -> dict[int, Command]:
        """The commands of the deciding vehicles for one action per agent."""
        return {v: self.action_to_command(v, int(actions[v])) for v in self.world.pending_decisions()}

    def action_to_command(self, v: int, action: int) -> Command:
        lay = self.layout
        if action == 0:
            return Wait()
        if action < lay.first_deliver:
            return Load(int(self._pending_ids[v, action - 1]))
        if action < lay.return_action:
            return Deliver(int(self._onboard_ids[v, action - lay.first_deliver]))
        return ReturnToDepot()

    def command_to_action(self, v: int, command: Command) -> int:
        """The action of vehicle ``v`` that issues ``command`` now, or -1 when its action space cannot say it
        (the order is not in one of its slots, or the action is masked). A return home by a vehicle that
        is already there is the wait it amounts to."""
        lay, masks = self.layout, self._masks
        assert masks is not None, "call reset() first"
        if isinstance(command, Wait):
            action = 0
        elif isinstance(command, Load):
            slots = np.flatnonzero(self._pending_ids[v] == command.order)
            action = 1 + int(slots[0]) if len(slots) else -1
        elif isinstance(command, Deliver):
            slots = np.flatnonzero(self._onboard_ids[v] == command.order)
            action = lay.first_deliver + int(slots[0]) if len(slots) else -1
        elif int(self.world.node[v]) == int(self._home[v]):
            action = 0
        else:
            action = lay.return_action
        return action if action >= 0 and masks[v, action] else -1

    # ------------------------------------------------------------------ what the kernel saw
    @property
    def pending_ids(self) -> np.ndarray:
        """``[n_agents, pending_slots]`` order id behind each pending slot (-1: empty)."""
        return self._pending_ids

    @property
    def onboard_ids(self) -> np.ndarray:
        """``[n_agents, onboard_slots]`` order id behind each onboard slot (-1: empty)."""
        return self._onboard_ids

    @property
    def pending_detour(self) -> np.ndarray:
        """``[n_agents, pending_slots]`` the extra drive minutes of adding each slot's customer to the vehicle's trip: its
        cheapest insertion into the onboard orders' delivery order (home at the end), or, empty, the drive from the
        order's warehouse to its customer."""
        return self._pending_detour

    @property
    def pending_topup_share(self) -> np.ndarray:
        """``[n_agents, pending_slots]`` the least detour share (detour over a trip of its own) at which a colleague
        standing at the slot's warehouse, with orders on board and room for it, would add it to its trip (inf: none)."""
        return self._pending_topup

    @property
    def pending_left_to_colleague(self) -> np.ndarray:
        """``[n_agents, pending_slots]`` whether the slot's order waits at the vehicle's own warehouse, a colleague there
        would top up with it (share within ``batching.top_up_detour_ratio``) and it is not late yet."""
        return self._pending_left

    @property
    def holdable(self) -> np.ndarray:
        """``[n_agents]`` whether holding at the warehouse is a valid wait for each vehicle."""
        return self._holdable

    def observations(self) -> np.ndarray:
        return self._obs  # type: ignore[return-value]

    def action_masks(self) -> np.ndarray:
        return self._masks  # type: ignore[return-value]

    def deciding(self) -> np.ndarray:
        return self.world.deciding.copy()  # type: ignore[union-attr]

    def kpis(self) -> dict[str, float]:
        return compute_kpis(self.world)  # type: ignore[arg-type]

    @property
    def done(self) -> bool:
        return bool(self.world is not None and self.world.done)

    def action_meanings(self) -> list[str]:
        return self.layout.meanings()

    def state(self) -> np.ndarray:
        """Global view for the mixer: every vehicle's own features and the most urgent open orders."""
        w = self.world
        assert w is not None
        own = self._own.reshape(-1)
        ids = np.flatnonzero((w.state == _READY) | (w.state == _PICKING))
        feats = np.zeros((self.state_orders, STATE_ORDER_FEATURES), dtype=np.float32)
        if len(ids):
            ids = ids[np.argsort(w.orders.due_min[ids], kind="stable")[: self.state_orders]]
            k = len(ids)
            feats[:k, 0] = 1.0
            feats[:k, 1:3] = self._xy[w.depot_node[w.orders.depot[ids]]]
            feats[:k, 3:5] = self._xy[w.orders.dest[ids]]
            feats[:k, 5] = np.clip((w.orders.due_min[ids] - w.now) / self._tau, *_SLACK_CLIP)
            feats[:k, 6] = w.orders.size[ids] / self._max_cap
        scale = float(self.n_agents * self.layout.pending_slots)
        counts = np.array([
            (w.now - w.start_min) / self._horizon,
            np.count_nonzero(w.state == _READY) / scale,
            np.count_nonzero(w.state == _PICKING) / scale,
            w.open_orders / scale,
        ], dtype=np.float32)
        return np.concatenate([own, feats.reshape(-1), counts]).astype(np.float32)

    # ------------------------------------------------------------------ observation building
    def _observe(self) -> None:
        """Every agent's observation and mask, built by the compiled kernel in one call."""
        w = self.world
        assert w is not None
        f = w.fleet
        obs = np.empty((self.n_agents, self.obs_size), dtype=np.float32)
        masks = np.empty((self.n_agents, self.n_actions), dtype=np.bool_)
        build_observations(
            w.now, w.start_min, self._horizon, 1.0 / self._tau, self._max_cap,
            -1.0 if self._radius is None else float(self._radius), _SLACK_CLIP[0], _SLACK_CLIP[1],
            self.scenario.observation.wait_with_work, self.scenario.batching.top_up_detour_ratio,
            w.node, w.free_at, w.load, f.capacity, f.shift_end, w.deciding, w.active, self._home, f.type_index,
            self._speed_share, self._cost_share,
            w.travel.rows_min, w.travel.row_of, self._xy, w.onboard_mat, np.flatnonzero(w.state == _READY),
            w.orders.depot, w.orders.dest, w.orders.size, w.orders.due_min, w.depot_node, self._load_time,
            self._late_weight, float(self.scenario.demand.service_time_min),
            obs, masks, self._pending_ids, self._onboard_ids, self._pending_detour, self._pending_topup,
            self._pending_left, self._holdable,
        )
        self._own = obs[:, :OWN_FEATURES]
        self._obs = obs
        self._masks = masks
