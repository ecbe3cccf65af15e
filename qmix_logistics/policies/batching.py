"""The batching rule: a local-view dispatcher that consolidates trips, and the learner's default teacher.

An empty deciding vehicle fetches the least-slack visible order of the nearest warehouse that has one. It
yields to colleagues: at a warehouse where a colleague is loading a trip, an empty vehicle leaves it every
order that colleague would top up with (below) and is not yet late, takes the least-slack order there that no
colleague would, and waits when there is none, so that orders bound for one part of town ride together instead
of each starting a trip of its own. At a warehouse with orders on board it tops up, while anything fits, among
the orders of that warehouse whose detour (the customer inserted at its cheapest place in the trip's delivery
order) is at most ``top_up_detour_ratio`` of the drive from the warehouse to that customer (an order that
would pull the trip across town is left for a trip of its own), with the one that saves the most drive against
a trip of its own (that drive less the detour; the vehicle's first slot, as the observation orders them). With
nothing to top up it holds there for more orders (wait) while the hold is valid and every onboard order keeps
``hold_slack_min`` minutes of slack before it is due or the vehicle's shift ends (an order due after the shift
must not wait for its due time: a rule that held for it dropped about two orders a day at the end of a
depot.yaml day), and so does the trip's last stop before the shift ends. Then, and away from a warehouse, it
delivers the first stop of the cheapest delivery order of what is on board (the first onboard slot: drive
minutes and lateness priced, every order of up to six stops searched). An empty vehicle with nothing to load
heads home. Each order is suggested to one vehicle only.

The two settings are the scenario's ``batching:`` block (:class:`~qmix_logistics.scenario.BatchingRule`).
The detour limit of 0.7 was tuned on seeds 5001-5008 of the bundled scenarios: 0.5-0.8 all cut the km by a
sixth; without the limit, trips gather whatever waits at the warehouse. With the detour measured as the
cheapest insertion, 0.7 was again the best of 0.5-1.0 on depot.yaml's days 5001-5040, and with the top-up
chosen by the drive it saves (it was the least detour: 26, 20 and 32 a day dearer on days 5001-5040 of
depot.yaml, rush_hour.yaml and multi_warehouse.yaml) 0.7 stayed the best of 0.5-1.0 on the last two and
within 4 a day of the best (0.5) on depot.yaml.

It reads only what each vehicle's own observation shows (its visible slots, detours, the colleagues' top-up
shares and its onboard orders), so a learned policy can represent it exactly.
"""

from __future__ import annotations

import numpy as np

from qmix_logistics.env import DispatchEnv
from qmix_logistics.policies.base import ActionPolicy


def batching_actions(env: DispatchEnv) -> np.ndarray:
    """What the batching rule does now, as one action index per agent (0 for non-deciding ones)."""
    return _rule(env, None, None)[0]


def batching_choices(env: DispatchEnv, hold_band_min: tuple[float, float] | None = None,
                     top_up_band: tuple[float, float] | None = None) -> np.ndarray:
    """``[2, n_agents]``: the rule's action, and a second one it would accept, -1 where there is none.

    The second is the other side of one of the rule's two thresholds, so that a learner taught by it decides
    there from what it has learnt the two are worth:

    - ``hold_band_min`` (minutes, low and high): a loaded vehicle at a warehouse with nothing to top up holds
      while its least onboard slack exceeds ``hold_slack_min``; where that slack lies within the band,
      holding and delivering the first stop are both accepted.
    - ``top_up_band`` (shares of a trip of its own, low and high): the rule tops up with an order whose
      detour is at most ``top_up_detour_ratio`` of that trip; where the top-up it names has a detour share
      above the low end, going without it (holding or leaving, as the rule would) is accepted too, and where
      it names none, the order that saves the most drive among those with a share up to the high end is.

    Where both bands apply, the hold band's alternative is the one named.
    """
    return np.stack(_rule(env, hold_band_min, top_up_band))


def _rule(env: DispatchEnv, hold_band_min: tuple[float, float] | None,
          top_up_band: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """The rule's actions and, with a band, the alternatives it accepts (see :func:`batching_choices`)."""
    w = env.world
    assert w is not None, "call env.reset() first"
    lay, masks, ids = env.layout, env.action_masks(), env.pending_ids
    ratio = env.scenario.batching.top_up_detour_ratio
    left = env.pending_left_to_colleague
    out = np.zeros(env.n_agents, dtype=np.int64)
    alternative = np.full(env.n_agents, -1, dtype=np.int64)
    taken: set[int] = set()
    for v in w.pending_decisions():
        here = int(w.node[v])
        tt = w.time_min[w.fleet.type_index[v], here]
        free_slots = [k for k in range(lay.pending_slots) if masks[v, 1 + k] and int(ids[v, k]) not in taken]
        wh = {k: int(w.depot_node[w.orders.depot[ids[v, k]]]) for k in free_slots}
        choice = near_top_up = -1
        if not w.onboard[v]:
            if free_slots:
                choice = min(free_slots, key=lambda k: (tt[wh[k]], k))
                if left[v, choice]:
                    own = [k for k in free_slots if wh[k] == here and not left[v, k]]
                    if own:
                        choice = min(own)  # slots of an empty vehicle come least slack first
                    elif masks[v, 0]:
                        continue  # every order here rides with a colleague: wait (action 0)
        else:
            own_trip = {k: tt[w.orders.dest[ids[v, k]]] for k in free_slots if wh[k] == here}
            choice = _most_saving(env.pending_detour[v], own_trip, ratio)  # the rule's top-up, -1 for none
            if top_up_band is not None and choice < 0:
                near_top_up = _most_saving(env.pending_detour[v], own_trip, top_up_band[1])
            elif top_up_band is not None and env.pending_detour[v, choice] > top_up_band[0] * own_trip[choice]:
                alternative[v] = _hold_or_leave(env, v, tt, masks[v])[0]  # as if nothing fitted
        if choice >= 0:
            out[v] = 1 + choice
            taken.add(int(ids[v, choice]))
            continue
        out[v], slack, leave = _hold_or_leave(env, v, tt, masks[v])
        if hold_band_min is not None and hold_band_min[0] < slack <= hold_band_min[1]:
            alternative[v] = leave if out[v] == 0 else 0
        elif near_top_up >= 0:
            alternative[v] = 1 + near_top_up
    return out, alternative


def _most_saving(detour: np.ndarray, own_trip: dict[int, float], limit: float) -> int:
    """Among the slots whose detour is at most ``limit`` of a trip of their own (``own_trip``: slot -> that
    trip's drive), the one that saves the most drive against that trip (ties: the lower slot); -1 if none."""
    within = [k for k in own_trip if detour[k] <= limit * own_trip[k]]
    return max(within, key=lambda k: (own_trip[k] - detour[k], -k), default=-1)


def _hold_or_leave(env: DispatchEnv, v: int, tt: np.ndarray, mask: np.ndarray) -> tuple[int, float, int]:
    """The rule's action for a vehicle that loads nothing now, its least onboard slack, and its way out.

    It holds (action 0) while holding is valid and the least onboard slack exceeds ``hold_slack_min``; else
    it leaves: the first stop of the cheapest delivery order of what is on board, else home, else the first
    valid action.
    """
    lay = env.layout
    slots = [c for c in range(lay.onboard_slots) if mask[lay.first_deliver + c]]
    if slots:
        leave = lay.first_deliver + min(slots)
    elif mask[lay.return_action]:
        leave = lay.return_action
    else:
        leave = int(np.flatnonzero(mask)[0])
    slack = least_onboard_slack(env, v, tt) if env.holdable[v] else -np.inf
    return (0 if slack > env.scenario.batching.hold_slack_min else leave), slack, leave


def least_onboard_slack(env: DispatchEnv, v: int, tt: np.ndarray) -> float:
    """The least slack of ``v``'s onboard orders if it drives to them now, counted to the due time or the end
    of the vehicle's shift, whichever comes first (as the observation counts slack), and no more than the
    minutes the shift has left once the whole trip is delivered. The rule holds a vehicle whose holding is
    valid (the kernel's rule) while this exceeds ``batching.hold_slack_min``.

    The trip's end matters near the shift's end, where each order alone could still wait but all of them
    together could not: held on that slack, a loaded vehicle waited for top-ups until the last stop fell
    after the shift and that order was dropped (counting the trip's end made the rule 4 a day cheaper on
    multi_warehouse.yaml's days 5001-5080, 2.6 on depot.yaml's, 0.8 on rush_hour.yaml's)."""
    w = env.world
    shift_end = w.fleet.shift_end[v]
    each = min(min(w.orders.due_min[o], shift_end) - w.now - tt[w.orders.dest[o]] for o in w.onboard[v])
    return min(each, shift_end - _trip_end(env, v))


def _trip_end(env: DispatchEnv, v: int) -> float:
    """When ``v`` would be done at its last stop (hand-over included) if it left now, stopping in its onboard
    slots' order (the cheapest delivery order), then at any order the slots do not show."""
    w = env.world
    shown = [int(o) for o in env.onboard_ids[v] if o >= 0]
    stops = shown + [o for o in w.onboard[v] if o not in shown]
    t, at = w.now, int(w.node[v])
    for o in stops:
        dest = int(w.orders.dest[o])
        t += w.time_min[w.fleet.type_index[v], at, dest] + w.scenario.demand.service_time_min
        at = dest
    return t


class BatchingPolicy(ActionPolicy):
    """Each vehicle follows the batching rule from its own view (see the module docstring)."""

    name = "batching"

    def act(self, env: DispatchEnv):  # type: ignore[override]
        return env.actions_to_commands(batching_actions(env))
