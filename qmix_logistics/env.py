"""The multi-agent dispatch environment: every vehicle is an agent with a local, fixed-size view.

Array API (fast, used by the learner's workers and the benchmarks)::

    env = DispatchEnv(scenario)
    obs, masks = env.reset(seed=3)          # obs [n_agents, obs_size] float32, masks [n_agents, n_actions] bool
    obs, masks, reward, done, info = env.step(actions)   # actions: one int per agent
    env.state()                             # global state vector for centralized training

Actions (fixed per scenario): ``0`` wait (the only valid action of a busy vehicle; for an idle one
only when it has nothing to load or deliver, or to hold at a warehouse for more orders while it has
some on board and a third of its capacity free, unless ``observation.wait_with_work``), ``1..K`` load the
k-th visible pending order, ``K+1..K+C`` deliver the c-th onboard order, ``K+C+1`` return to the depot.
Steps are synchronous: after the actions are applied the SimPy clock runs to the next moment at least
one vehicle must decide, so there are no empty steps. The team reward is minus the cost increment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from qmix_logistics.demand import depot_nodes
from qmix_logistics.kpis import compute_kpis
from qmix_logistics.network import RoadNetwork
from qmix_logistics.network_cache import network_for
from qmix_logistics.obs_kernel import (
    NEIGHBOR_FEATURES,
    ONBOARD_FEATURES,
    OWN_FEATURES,
    PENDING_FEATURES,
    build_observations,
)
from qmix_logistics.scenario import Scenario
from qmix_logistics.world import Command, Deliver, Load, OrderState, ReturnToDepot, Wait, World

STATE_ORDER_FEATURES = 7
#: Names the meaning of observation slots; checkpoints record it, and a policy trained on another
#: layout (same sizes, different meaning) is refused rather than silently misread.
OBSERVATION_LAYOUT = "2: pending slots with detour; loaded vehicles see top-ups by detour, onboard nearest first"
HOLD_SLACK_MIN = 25.0  # the batching rule holds at a warehouse only while every onboard order keeps this slack
_SLACK_CLIP = (-2.0, 4.0)
_READY = int(OrderState.READY)
_PICKING = int(OrderState.PICKING)


@dataclass(frozen=True)
class ActionLayout:
    """Where each kind of action sits in the discrete action space."""

    pending_slots: int
    onboard_slots: int

    @property
    def n_actions(self) -> int:
        return 2 + self.pending_slots + self.onboard_slots

    @property
    def first_deliver(self) -> int:
        return 1 + self.pending_slots

    @property
    def return_action(self) -> int:
        return 1 + self.pending_slots + self.onboard_slots

    def meanings(self) -> list[str]:
        return (["wait"] + [f"load pending order {k + 1}" for k in range(self.pending_slots)]
                + [f"deliver onboard order {c + 1}" for c in range(self.onboard_slots)] + ["return to depot"])


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
        self.obs_size = (OWN_FEATURES + 1 + ONBOARD_FEATURES * self.layout.onboard_slots
                         + PENDING_FEATURES * self.layout.pending_slots + NEIGHBOR_FEATURES * self.neighbor_slots)
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
        self._holdable = np.zeros(self.n_agents, dtype=np.bool_)
        self._arange = np.arange(self.n_agents)

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Start the day of ``seed`` (default: the scenario's seed) and run to the first decision."""
        seed = self.scenario.seed if seed is None else int(seed)
        self.world = World(self.scenario, self.net, seed, record_events=self.record_events)
        w = self.world
        self._horizon = max(1e-9, w.end_min - w.start_min)
        self._tau = float(max(1.0, np.percentile(w.time_min[0], 95)))
        self._max_cap = float(w.fleet.capacity.max())
        self._radius = self.scenario.observation.radius_min
        self._load_time = np.array([d.load_time_min for d in self.scenario.depots], dtype=np.float64)
        self._home = w.depot_node[w.fleet.home_depot]
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

    def suggested_actions(self) -> np.ndarray:
        """What a batching dispatcher would do, as one action index per agent.

        An empty deciding vehicle fetches the least-slack visible order of the nearest warehouse that
        has one. At a warehouse with orders on board it tops up, while anything fits, with the order of
        that warehouse whose customer is the shortest drive from a customer already on board. With
        nothing to top up it holds there for more orders (wait) while the hold is valid and every
        onboard order keeps ``HOLD_SLACK_MIN`` minutes of slack; then (and away from a warehouse) it
        delivers its nearest onboard order. An empty vehicle with nothing to
        load heads home. Each order is suggested to one vehicle only. Learning uses it as the
        demonstrator (``infos[agent]["expert_action"]``) and the ``batching`` policy follows it; it
        reads only what each vehicle's own observation shows.
        """
        w = self.world
        assert w is not None and self._masks is not None
        lay, masks, ids = self.layout, self._masks, self._pending_ids
        out = np.zeros(self.n_agents, dtype=np.int64)
        taken: set[int] = set()
        for v in w.pending_decisions():
            here = int(w.node[v])
            tt = w.time_min[w.fleet.type_index[v], here]
            free_slots = [k for k in range(lay.pending_slots) if masks[v, 1 + k] and int(ids[v, k]) not in taken]
            wh = {k: int(w.depot_node[w.orders.depot[ids[v, k]]]) for k in free_slots}
            choice = -1
            if not w.onboard[v]:
                if free_slots:
                    choice = min(free_slots, key=lambda k: (tt[wh[k]], k))
            else:
                topping_up = [k for k in free_slots if wh[k] == here]
                if topping_up:
                    choice = min(topping_up, key=lambda k: (self._pending_detour[v, k], k))
            if choice >= 0:
                out[v] = 1 + choice
                taken.add(int(ids[v, choice]))
                continue
            if self._can_hold(v, tt):
                continue  # hold at the warehouse for more orders (action 0)
            slots = [c for c in range(lay.onboard_slots) if masks[v, lay.first_deliver + c]]
            if slots:
                best = min(slots, key=lambda c: (tt[w.orders.dest[self._onboard_ids[v, c]]], c))
                out[v] = lay.first_deliver + best
            elif masks[v, lay.return_action]:
                out[v] = lay.return_action
            else:
                out[v] = int(np.flatnonzero(masks[v])[0])
        return out

    def _can_hold(self, v: int, tt: np.ndarray) -> bool:
        """Holding is valid for ``v`` (the kernel's rule) and every onboard order keeps
        ``HOLD_SLACK_MIN`` minutes of slack if the vehicle drives there now."""
        w = self.world
        return bool(self._holdable[v]) and all(
            w.orders.due_min[o] - w.now - tt[w.orders.dest[o]] > HOLD_SLACK_MIN for o in w.onboard[v])

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
            self.scenario.observation.wait_with_work,
            w.node, w.free_at, w.load, f.capacity, f.shift_end, w.deciding, w.active, self._home, f.type_index,
            w.time_min, self._xy, w.onboard_mat, np.flatnonzero(w.state == _READY),
            w.orders.depot, w.orders.dest, w.orders.size, w.orders.due_min, w.depot_node, self._load_time,
            obs, masks, self._pending_ids, self._onboard_ids, self._pending_detour, self._holdable,
        )
        self._own = obs[:, :OWN_FEATURES]
        self._obs = obs
        self._masks = masks
