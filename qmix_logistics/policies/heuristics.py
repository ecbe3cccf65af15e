"""Simple dispatchers: random valid actions and a greedy urgent-order-to-nearest-vehicle rule."""

from __future__ import annotations

import numpy as np

from qmix_logistics.common.masks import uniform_valid_actions
from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.base import ActionPolicy
from qmix_logistics.sim.world import (
    Command,
    Deliver,
    Load,
    OrderState,
    ReturnToDepot,
    Wait,
)


class RandomPolicy(ActionPolicy):
    """Uniform over each vehicle's valid actions; its generator is seeded per episode."""

    name = "random"

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def reset(self, env: DispatchEnv, seed: int) -> None:
        self.rng = np.random.default_rng([seed, 0x5A])

    def select_actions(self, obs: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return uniform_valid_actions(masks, self.rng)


class GreedyPolicy:
    """The most urgent ready order goes to the nearest deciding vehicle that can take it.

    Vehicles at a depot keep loading urgent orders while they fit (batching); a loaded vehicle then
    delivers its onboard orders nearest first; an empty vehicle with nothing to load heads home.
    This is a centralized heuristic: it reads the whole world, like a human dispatcher's board.
    """

    name = "greedy"

    def reset(self, env: DispatchEnv, seed: int) -> None:
        pass

    def close(self) -> None:
        """Nothing to release."""

    def act(self, env: DispatchEnv) -> dict[int, Command]:
        w = env.world
        deciding = w.pending_decisions()
        if not deciding:
            return {}
        row = w.travel.rows_for(w.node)  # each vehicle's source row, looked up once
        tt = w.travel.rows_min  # [type, row, to] minutes (read after rows_for, which may grow it)
        types = w.fleet.type_index
        depots = set(int(n) for n in w.depot_node)
        commands: dict[int, Command] = {}
        free = {v for v in deciding if w.onboard[v] == [] or int(w.node[v]) in depots}
        ready = np.flatnonzero(w.state == OrderState.READY)
        for o in ready[np.argsort(w.orders.due_min[ready], kind="stable")]:
            wh = int(w.depot_node[w.orders.depot[o]])
            # a loaded vehicle only tops up at the depot it stands at; an empty one may drive anywhere
            able = [v for v in free if w.load[v] + w.orders.size[o] <= w.fleet.capacity[v]
                    and (not w.onboard[v] or int(w.node[v]) == wh)]
            if not able:
                continue
            v = min(able, key=lambda u: (tt[types[u], row[u], wh], u))
            commands[v] = Load(int(o))
            free.discard(v)
            if not free:
                break
        for v in deciding:
            if v in commands:
                continue
            if w.onboard[v]:
                commands[v] = Deliver(min(w.onboard[v], key=lambda o: (tt[types[v], row[v], w.orders.dest[o]], o)))
            elif int(w.node[v]) != int(w.depot_node[w.fleet.home_depot[v]]):
                commands[v] = ReturnToDepot()
            else:
                commands[v] = Wait()
        return commands
