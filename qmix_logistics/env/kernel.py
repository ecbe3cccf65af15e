"""The per-step observation kernel, compiled with numba: every agent's vector and action mask at once.

This is the simulator's hot path (it runs once per env step for all agents), so it is written as plain
loops over small arrays and compiled; the layout constants live in ``env.py``. Slots:

- own (13): time of day, x, y, deciding, load share, shift left, drive home, onboard share, busy left,
  capacity, speed and cost per km as shares of the fleet's largest, and the least slack of all orders on
  board (``hi`` when nothing is on board; the onboard slots may not show every order)
- visible-count (1)
- onboard (C x 4): present, drive to destination, slack, size, in the cheapest delivery order: the order
  of stops from where the vehicle stands back home that costs least in drive minutes, each minute late
  (after the due time or the shift's end) counted as ``late_weight`` minutes of driving; searched over
  every order of up to ``MAX_EXACT_ROUTE`` orders, nearest first beyond that
- pending (K x 11): present, drive to warehouse, warehouse-to-customer, slack, size, fits, detour, lead,
  detour share, extra drive to warehouse, colleague's top-up share
  (detour: the extra drive of adding this customer to the current trip at its cheapest place in that
  delivery order, or the drive from the warehouse when nothing is on board; detour share: the detour as a share of a
  trip of its own, the warehouse-to-customer drive, clipped to [0, 2]; extra drive: how much farther
  this order's warehouse is than the nearest warehouse among the visible orders that fit. Both are
  ratios and differences the network would otherwise have to compute across features or slots;
  colleague's top-up share: the least detour share at which a colleague standing at the order's warehouse
  with orders on board and room for it would add it to its trip, clipped to [0, 2] (2: no such colleague),
  so an empty vehicle sees which orders would ride along with a trip that is already being loaded (when
  all it could load at its warehouse would, within ``topup_ratio`` and before they are late, it may wait);
  lead: how many minutes sooner this vehicle
  can stand at the order's warehouse than the soonest other active vehicle with room, clipped like
  slack, so a vehicle sees whether a colleague will get there first). An empty vehicle sees the orders of
  the nearest warehouse first, least slack first within a warehouse; a loaded one sees first the orders of the
  warehouse it stands at whose detour is within ``topup_ratio`` of a trip of their own (the top-ups), the
  most drive saved against that trip first, then that warehouse's other orders and then the rest, each by
  detour. Orders that do not fit come last.
- neighbours (M x 7): present, dx, dy, drive time, their load share, deciding, busy left (nearest first)

Slack counts the minutes to spare before the order is due or the vehicle's shift ends, whichever comes
first: an order due after the shift cannot wait for its due time on this vehicle. Loading a visible order
is valid when it fits and the vehicle can hand it over before its shift ends on a trip of its own (drive to
the warehouse, load, drive to the customer). Times are divided by
``tau`` (a typical drive) and slack is clipped to [lo, hi]. Drive times are the
rows of the network's per-source table: ``time_min[t, row_of[u], v]`` is the drive u -> v for type t;
every node read as a from-node (a vehicle's position, a warehouse, a customer) has a row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from qmix_logistics.env.layout import (
    NEIGHBOR_FEATURES,
    ONBOARD_FEATURES,
    OWN_FEATURES,
    PENDING_FEATURES,
)


@njit(cache=True)
def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else (hi if x > hi else x)


@njit(cache=True)
def _take_smallest(values: np.ndarray, taken: np.ndarray) -> int:
    """Index of the smallest finite value not yet taken (first on ties), marked taken; -1 if none."""
    best = -1
    best_value = np.inf
    for i in range(values.shape[0]):
        if not taken[i] and values[i] < best_value:
            best_value = values[i]
            best = i
    if best >= 0:
        taken[best] = True
    return best


@njit(cache=True)
def _keep_two_least(best: np.ndarray, by: np.ndarray, second: np.ndarray, i: int, value: float, who: int) -> None:
    """Keep at ``i`` the least value seen (and ``who`` gave it) and the runner-up."""
    if value < best[i]:
        second[i] = best[i]
        best[i] = value
        by[i] = who
    elif value < second[i]:
        second[i] = value


MAX_EXACT_ROUTE = 6  # onboard orders up to which the delivery order is searched exhaustively


@njit(cache=True)
def _route_cost(tt: np.ndarray, row_of: np.ndarray, o_dest: np.ndarray, o_due: np.ndarray, seq: np.ndarray, n: int,
                start: int, end: int, t0: float, deadline_cap: float, late_weight: float, service_min: float) -> float:
    """Drive minutes from ``start`` through the customers of ``seq[:n]`` in that order to ``end``, plus
    ``late_weight`` per minute that a delivery comes after its order's due time (or ``deadline_cap``)."""
    t, cost, at = t0, 0.0, start
    for i in range(n):
        o = seq[i]
        drive = tt[row_of[at], o_dest[o]]
        t += drive
        cost += drive
        late = t - min(o_due[o], deadline_cap)
        if late > 0.0:
            cost += late_weight * late
        t += service_min
        at = o_dest[o]
    return cost + tt[row_of[at], end]


@njit(cache=True)
def _plan_route(tt: np.ndarray, row_of: np.ndarray, o_dest: np.ndarray, o_due: np.ndarray, onboard: np.ndarray,
                start: int, end: int, t0: float, deadline_cap: float, late_weight: float, service_min: float,
                route: np.ndarray) -> int:
    """Write the onboard orders into ``route`` in their cheapest delivery order (:func:`_route_cost`, every
    order searched when at most ``MAX_EXACT_ROUTE`` are on board, nearest first otherwise); return how many."""
    n = 0
    for j in range(onboard.shape[0]):
        if onboard[j] >= 0:
            route[n] = onboard[j]
            n += 1
    ru = row_of[start]
    # nearest first (insertion sort by drive time): the order when the search is too large, and its start
    for i in range(1, n):
        x = route[i]
        j = i - 1
        while j >= 0 and tt[ru, o_dest[route[j]]] > tt[ru, o_dest[x]]:
            route[j + 1] = route[j]
            j -= 1
        route[j + 1] = x
    if n < 2 or n > MAX_EXACT_ROUTE:
        return n
    perm = route[:n].copy()  # the cheapest order so far
    seq = np.empty(n, dtype=np.int64)
    best = _route_cost(tt, row_of, o_dest, o_due, perm, n, start, end, t0, deadline_cap, late_weight, service_min)
    idx = np.arange(n)
    while True:  # the next permutation of idx in lexicographic order
        i = n - 2
        while i >= 0 and idx[i] >= idx[i + 1]:
            i -= 1
        if i < 0:
            break
        j = n - 1
        while idx[j] <= idx[i]:
            j -= 1
        idx[i], idx[j] = idx[j], idx[i]
        idx[i + 1:] = idx[i + 1:][::-1]
        for k in range(n):
            seq[k] = route[idx[k]]
        cost = _route_cost(tt, row_of, o_dest, o_due, seq, n, start, end, t0, deadline_cap, late_weight, service_min)
        if cost < best - 1e-9:
            best = cost
            perm[:] = seq
    route[:n] = perm
    return n


@njit(cache=True)
def _insertion(tt: np.ndarray, row_of: np.ndarray, o_dest: np.ndarray, route: np.ndarray, n: int, start: int,
               end: int, dest: int) -> float:
    """Extra drive minutes of visiting ``dest`` at the cheapest place in the route ``start -> route[:n] -> end``."""
    best = np.inf
    prev = start
    for i in range(n + 1):
        nxt = end if i == n else o_dest[route[i]]
        best = min(best, tt[row_of[prev], dest] + tt[row_of[dest], nxt] - tt[row_of[prev], nxt])
        prev = nxt
    return max(0.0, best)


@njit(cache=True)
def build_observations(
    now, start, horizon, inv_tau, max_cap, radius, lo, hi, wait_with_work, topup_ratio,  # scalars (radius < 0: unlimited)
    node, free_at, load, capacity, shift_end, deciding, active, home, vtype, speed_share, cost_share,  # per vehicle
    time_min, row_of, xy,                                 # [types, rows, n] minutes, [n] row per source, [n, 2] 0..1
    onboard, ready,                                                   # [A, cap] ids (-1 pad), ready order ids
    o_depot, o_dest, o_size, o_due, depot_node, load_time,            # per order / per depot
    late_weight, service_min,                       # [A] drive minutes one late minute is worth; minutes per stop
    obs, masks, pend_ids, onb_ids, pend_detour, pend_topup, pend_left, holdable,  # outputs (filled here)
):
    a = node.shape[0]
    c_slots = onb_ids.shape[1]
    k_slots = pend_ids.shape[1]
    m_slots = (obs.shape[1] - OWN_FEATURES - 1 - ONBOARD_FEATURES * c_slots - PENDING_FEATURES * k_slots) // NEIGHBOR_FEATURES
    n_ready = ready.shape[0]
    off_onb = OWN_FEATURES + 1
    off_pend = off_onb + ONBOARD_FEATURES * c_slots
    off_nb = off_pend + PENDING_FEATURES * k_slots
    keys = np.empty(n_ready)
    detours = np.empty(n_ready)
    taken = np.zeros(n_ready, dtype=np.bool_)
    slot_to_wh = np.empty(k_slots)
    # every vehicle's onboard orders in their cheapest delivery order, from where it stands (or is heading) home
    routes = np.full(onboard.shape, -1, dtype=np.int64)
    route_len = np.zeros(a, dtype=np.int64)
    for w in range(a):
        route_len[w] = _plan_route(time_min[vtype[w]], row_of, o_dest, o_due, onboard[w], node[w], home[w],
                                   max(now, free_at[w]), shift_end[w], late_weight[w], service_min, routes[w])
    # the two soonest arrivals at each warehouse among active vehicles with room (for the lead feature)
    n_dep = depot_node.shape[0]
    first_at = np.full(n_dep, np.inf)
    first_by = np.full(n_dep, -1, dtype=np.int64)
    second_at = np.full(n_dep, np.inf)
    for w in range(a):
        if not active[w] or load[w] >= capacity[w]:
            continue
        for d in range(n_dep):
            arrive = max(now, free_at[w]) + time_min[vtype[w], row_of[node[w]], depot_node[d]]
            _keep_two_least(first_at, first_by, second_at, d, arrive, w)
    # colleagues that may top up: at a warehouse, with orders on board and room left
    holder_here = np.zeros(a, dtype=np.bool_)
    for w in range(a):
        if active[w] and load[w] < capacity[w] and route_len[w] > 0:
            for d in range(n_dep):
                if depot_node[d] == node[w]:
                    holder_here[w] = True
    # per ready order: the least top-up share among those colleagues, who has it, and the runner-up
    topup_best = np.full(n_ready, np.inf)
    topup_by = np.full(n_ready, -1, dtype=np.int64)
    topup_second = np.full(n_ready, np.inf)
    for w in range(a):
        if not holder_here[w]:
            continue
        tw = vtype[w]
        for r in range(n_ready):
            o = ready[r]
            wh = depot_node[o_depot[o]]
            if wh != node[w] or capacity[w] - load[w] < o_size[o]:
                continue
            extra = _insertion(time_min[tw], row_of, o_dest, routes[w], route_len[w], node[w], home[w], o_dest[o])
            own_trip = time_min[tw, row_of[wh], o_dest[o]]
            share = extra / own_trip if own_trip > 0.0 else (0.0 if extra <= 0.0 else np.inf)
            _keep_two_least(topup_best, topup_by, topup_second, r, share, w)
    nb_time = np.empty(a)
    nb_used = np.zeros(a, dtype=np.bool_)
    obs[:] = 0.0
    masks[:] = False
    pend_ids[:] = -1
    pend_detour[:] = np.inf
    pend_topup[:] = np.inf
    pend_left[:] = False
    holdable[:] = False
    onb_ids[:] = -1
    for v in range(a):
        t = vtype[v]
        u = node[v]
        ru = row_of[u]
        base = max(now, free_at[v])
        dec = deciding[v] and active[v]
        n_onb = route_len[v]
        route = routes[v]

        obs[v, 0] = (now - start) / horizon
        obs[v, 1] = xy[u, 0]
        obs[v, 2] = xy[u, 1]
        obs[v, 3] = 1.0 if deciding[v] else 0.0
        obs[v, 4] = load[v] / capacity[v]
        obs[v, 5] = (shift_end[v] - now) / horizon
        obs[v, 6] = time_min[t, ru, home[v]] * inv_tau
        obs[v, 7] = n_onb / c_slots
        obs[v, 8] = (base - now) * inv_tau
        obs[v, 9] = capacity[v] / max_cap
        obs[v, 10] = speed_share[v]
        obs[v, 11] = cost_share[v]
        least = np.inf
        for j in range(n_onb):
            o = route[j]
            least = min(least, min(o_due[o], shift_end[v]) - base - time_min[t, ru, o_dest[o]])
        obs[v, 12] = hi if n_onb == 0 else _clip(least * inv_tau, lo, hi)

        masks[v, 0] = True
        for s in range(min(n_onb, c_slots)):
            o = route[s]
            onb_ids[v, s] = o
            drive = time_min[t, ru, o_dest[o]]
            p = off_onb + s * ONBOARD_FEATURES
            obs[v, p] = 1.0
            obs[v, p + 1] = drive * inv_tau
            obs[v, p + 2] = _clip((min(o_due[o], shift_end[v]) - base - drive) * inv_tau, lo, hi)
            obs[v, p + 3] = o_size[o] / max_cap
            masks[v, 1 + k_slots + s] = dec

        free = capacity[v] - load[v]
        visible = 0
        for r in range(n_ready):
            o = ready[r]
            d = o_depot[o]
            to_wh = time_min[t, ru, depot_node[d]]
            if radius >= 0.0 and to_wh > radius:
                keys[r] = np.inf
                continue
            visible += 1
            if n_onb == 0:
                detours[r] = time_min[t, row_of[depot_node[d]], o_dest[o]]
                # the nearest warehouse's orders first, least slack first within a warehouse
                key = to_wh * 1e5 + min(o_due[o], shift_end[v]) - load_time[d] - base - to_wh - detours[r]
            else:
                detours[r] = _insertion(time_min[t], row_of, o_dest, route, n_onb, u, home[v], o_dest[o])
                own_trip = time_min[t, row_of[depot_node[d]], o_dest[o]]
                if depot_node[d] == u and detours[r] <= topup_ratio * own_trip:
                    key = -1e4 + detours[r] - own_trip  # a top-up: the most drive saved first
                else:
                    key = detours[r] + (0.0 if depot_node[d] == u else 1e3)
            keys[r] = key + (0.0 if o_size[o] <= free else 1e12)
        obs[v, OWN_FEATURES] = min(visible / k_slots, 4.0)
        taken[:] = False
        nearest_fit = np.inf
        nearest_any = np.inf
        for s in range(k_slots):
            best = _take_smallest(keys, taken)
            if best < 0:
                break
            o = ready[best]
            d = o_depot[o]
            wh = depot_node[d]
            to_wh = time_min[t, ru, wh]
            p = off_pend + s * PENDING_FEATURES
            fits = o_size[o] <= free
            pend_ids[v, s] = o
            obs[v, p] = 1.0
            obs[v, p + 1] = to_wh * inv_tau
            own_trip = time_min[t, row_of[wh], o_dest[o]]
            obs[v, p + 2] = own_trip * inv_tau
            slack = min(o_due[o], shift_end[v]) - load_time[d] - base - to_wh - own_trip
            obs[v, p + 3] = _clip(slack * inv_tau, lo, hi)
            obs[v, p + 4] = o_size[o] / max_cap
            obs[v, p + 5] = 1.0 if fits else 0.0
            pend_detour[v, s] = detours[best]
            obs[v, p + 6] = _clip(detours[best] * inv_tau, 0.0, hi)
            obs[v, p + 8] = _clip(detours[best] / own_trip, 0.0, 2.0) if own_trip > 0.0 else (
                0.0 if detours[best] <= 0.0 else 2.0)
            slot_to_wh[s] = to_wh  # made relative to the nearest warehouse below
            nearest_any = min(nearest_any, to_wh)
            if fits:
                nearest_fit = min(nearest_fit, to_wh)
            topup = topup_second[best] if topup_by[best] == v else topup_best[best]
            pend_topup[v, s] = topup
            obs[v, p + 10] = _clip(topup, 0.0, 2.0)
            # left to a colleague: at this vehicle's warehouse, within the top-up ratio, not late yet
            pend_left[v, s] = wh == u and topup <= topup_ratio and o_due[o] - now - time_min[t, ru, o_dest[o]] >= 0.0
            rival = second_at[d] if first_by[d] == v else first_at[d]
            obs[v, p + 7] = _clip((rival - base - to_wh) * inv_tau, lo, hi)
            # an order this vehicle cannot hand over before its shift ends, even on a trip of its own, is not
            # its to load: loaded, it rode until the day's end and was dropped (about one a day on
            # multi_warehouse.yaml, whose bikes cross town slowly), and another vehicle may still make it
            in_shift = shift_end[v] - base - to_wh - load_time[d] - own_trip >= 0.0
            masks[v, 1 + s] = dec and fits and in_shift
        nearest = nearest_fit if nearest_fit < np.inf else nearest_any
        for s in range(k_slots):
            if pend_ids[v, s] < 0:
                break
            p = off_pend + s * PENDING_FEATURES
            obs[v, p + 9] = _clip((slot_to_wh[s] - nearest) * inv_tau, 0.0, hi)
        masks[v, 1 + k_slots + c_slots] = dec and u != home[v]
        # holding: waiting at a warehouse for more orders, with some on board, room left and no order on
        # board out of slack (a load that is already due must leave, or a fleet may hold all day)
        if dec and n_onb > 0 and free > 0 and least > 0.0:
            for d in range(depot_node.shape[0]):
                if depot_node[d] == u:
                    holdable[v] = True
        # yielding: an empty vehicle may wait when every order it could load at its warehouse is left to a colleague
        here_orders = 0
        here_left = 0
        if dec and n_onb == 0:
            for s in range(k_slots):
                o = pend_ids[v, s]
                if o < 0:
                    break
                if masks[v, 1 + s] and depot_node[o_depot[o]] == u:
                    here_orders += 1
                    if pend_left[v, s]:
                        here_left += 1
        yielding = here_orders > 0 and here_left == here_orders
        if dec and not wait_with_work and not holdable[v] and not yielding:
            # no idling with work in hand: waiting stays valid only when nothing can be loaded or delivered
            for j in range(1, 1 + k_slots + c_slots):
                if masks[v, j]:
                    masks[v, 0] = False
                    break

        if m_slots > 0:
            for w in range(a):
                nb_time[w] = time_min[t, ru, node[w]]
                nb_used[w] = w == v
            for s in range(m_slots):
                best = _take_smallest(nb_time, nb_used)
                if best < 0:
                    break
                best_t = nb_time[best]
                p = off_nb + s * NEIGHBOR_FEATURES
                obs[v, p] = 1.0
                obs[v, p + 1] = xy[node[best], 0] - xy[u, 0]
                obs[v, p + 2] = xy[node[best], 1] - xy[u, 1]
                obs[v, p + 3] = best_t * inv_tau
                obs[v, p + 4] = load[best] / capacity[best]
                obs[v, p + 5] = 1.0 if deciding[best] else 0.0
                obs[v, p + 6] = (max(now, free_at[best]) - now) * inv_tau
