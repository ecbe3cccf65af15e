"""Event traces: every order and vehicle event of a simulated day as one table (CSV or Parquet).

One row per event, in time order within each seed. Columns:

* ``seed``, ``time_min``, ``kind``, ``vehicle`` (-1: none), ``order`` (-1: none), ``node`` (-1: none),
  ``x_km``, ``y_km`` (the node's planar position; ``lon``/``lat`` too on geographic networks);
* order fields on rows that concern an order: ``dest`` (node), ``size`` (units), ``due_min``;
* ``to_node`` and ``km`` on ``depart`` rows: where the leg that starts there ends, and its length;
* ``cost`` on rows that change the day's cost: ``depart`` (km x cost per km), ``deliver`` (lateness
  cost minus revenue) and ``drop`` (penalty); the day's ``total_cost`` is their sum.

Kinds: the world's ``order_arrival``, ``order_ready``, ``depart``, ``arrive``, ``load``, ``deliver``,
``drop``, plus ``shift_start``/``shift_end`` per vehicle and ``busy_start``/``busy_end`` around each
completed command (the basis of the utilization KPI). With these, :func:`kpis_from_trace` rebuilds
every KPI of :func:`qmix_logistics.sim.kpis.compute_kpis` from the table alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from qmix_logistics.common.atomic_io import atomic_path
from qmix_logistics.common.errors import QlogError
from qmix_logistics.env import DispatchEnv
from qmix_logistics.evaluation.rollout import EpisodeResult
from qmix_logistics.evaluation.simulate import SimulationReport, episode_seeds
from qmix_logistics.policies import make_policy
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.kpis import KPI_DIRECTIONS
from qmix_logistics.studies.episode import RecordedEpisode, play_recorded

TRACE_FORMATS = (".csv", ".parquet")
_ORDER_KINDS = ("order_arrival", "order_ready", "load", "deliver", "drop")


def _leg_targets(events: list[tuple], final_node: np.ndarray) -> dict[int, int]:
    """For each ``depart`` event index, the node its leg ends at (the vehicle's next ``arrive``).

    A leg still under way when the day ends has no ``arrive``; it ends where the world says the
    vehicle is heading.
    """
    open_leg: dict[int, int] = {}
    targets: dict[int, int] = {}
    for i, (_t, kind, v, _o, node) in enumerate(events):
        if kind == "depart":
            open_leg[v] = i
        elif kind == "arrive" and v in open_leg:
            targets[open_leg.pop(v)] = node
    for v, i in open_leg.items():
        targets[i] = int(final_node[v])
    return targets


def trace_table(played: RecordedEpisode) -> pd.DataFrame:
    """The trace of one recorded day (the env must have been built with ``record_events=True``)."""
    world = played.world
    if not world.record_events:
        raise ValueError("the day was played without record_events=True")
    orders, fleet, costs = world.orders, world.fleet, world.scenario.costs
    targets = _leg_targets(world.events, world.node)
    rows = []
    for i, (t, kind, v, o, node) in enumerate(world.events):
        row = {"time_min": t, "kind": kind, "vehicle": v, "order": o, "node": node}
        if kind == "depart":
            km = float(world.dist_km[fleet.type_index[v], node, targets[i]])
            row.update(to_node=targets[i], km=km, cost=km * fleet.cost_per_km[v])
        elif kind == "deliver":
            row["cost"] = max(0.0, t - orders.due_min[o]) * costs.lateness_per_min - costs.revenue_per_order
        elif kind == "drop":
            row["cost"] = costs.drop_penalty
        rows.append(row)
    home = world.depot_node[fleet.home_depot]
    for v in range(world.n_vehicles):
        rows.append({"time_min": fleet.shift_start[v], "kind": "shift_start", "vehicle": v, "order": -1, "node": home[v]})
        rows.append({"time_min": fleet.shift_end[v], "kind": "shift_end", "vehicle": v, "order": -1, "node": home[v]})
    for v, start, end in played.busy:
        rows.append({"time_min": start, "kind": "busy_start", "vehicle": v, "order": -1, "node": -1})
        rows.append({"time_min": end, "kind": "busy_end", "vehicle": v, "order": -1, "node": -1})
    table = pd.DataFrame(rows, columns=["time_min", "kind", "vehicle", "order", "node", "to_node", "km", "cost"])
    table["to_node"] = table["to_node"].astype("Int64")
    table = table.sort_values("time_min", kind="stable", ignore_index=True)
    return _with_places(table, played)


def _with_places(table: pd.DataFrame, played: RecordedEpisode) -> pd.DataFrame:
    """Add coordinates of each row's node and the order fields of order rows."""
    world, net = played.world, played.world.net
    node = table["node"].to_numpy()
    known = node >= 0
    safe = np.where(known, node, 0)
    table.insert(0, "seed", played.result.seed)
    for col, values in (("x_km", net.coords_km[:, 0]), ("y_km", net.coords_km[:, 1])):
        table[col] = np.where(known, values[safe], np.nan)
    if net.lonlat is not None:
        table["lon"] = np.where(known, net.lonlat[safe, 0], np.nan)
        table["lat"] = np.where(known, net.lonlat[safe, 1], np.nan)
    order = table["order"].to_numpy()
    is_order = table["kind"].isin(_ORDER_KINDS).to_numpy() & (order >= 0)
    safe_o = np.where(is_order, order, 0)
    orders = world.orders
    for col, values in (("dest", orders.dest), ("size", orders.size)):
        table[col] = pd.Series(values[safe_o], dtype="Int64").mask(~is_order)
    table["due_min"] = np.where(is_order, orders.due_min[safe_o], np.nan)
    front = ["seed", "time_min", "kind", "vehicle", "order", "node", "x_km", "y_km"]
    return table[front + [c for c in table.columns if c not in front]]


def simulate_traced(
    scenario: Scenario,
    policy: str,
    *,
    episodes: int = 1,
    seed: int | None = None,
    on_episode: Callable[[EpisodeResult], None] | None = None,
) -> tuple[SimulationReport, pd.DataFrame]:
    """Like :func:`qmix_logistics.evaluation.simulate.simulate`, but also returns the trace of every day."""
    pol = make_policy(policy, scenario)
    env = DispatchEnv(scenario, record_events=True)
    results, tables = [], []
    try:
        for s in episode_seeds(scenario, episodes, seed):
            played = play_recorded(env, pol, s)
            results.append(played.result)
            tables.append(trace_table(played))
            if on_episode is not None:
                on_episode(played.result)
    finally:
        close = getattr(pol, "close", None)
        if callable(close):
            close()
    report = SimulationReport(scenario.name, getattr(pol, "name", policy), results)
    return report, pd.concat(tables, ignore_index=True)


def trace_format(path: Path) -> str:
    """``.csv`` or ``.parquet`` from the file name; anything else is a user error naming ``--trace``."""
    suffix = path.suffix.lower()
    if suffix not in TRACE_FORMATS:
        raise QlogError(f"unknown trace format {suffix or '(none)'!r}: use a .csv or .parquet file",
                        source=str(path), field="--trace")
    return suffix


def write_trace(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a trace as CSV or Parquet (chosen by the file's suffix), atomically."""
    path = Path(path)
    fmt = trace_format(path)
    with atomic_path(path) as tmp:
        if fmt == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
    return path


def read_trace(path: str | Path) -> pd.DataFrame:
    """Read a trace written by :func:`write_trace`."""
    path = Path(path)
    fmt = trace_format(path)
    if not path.exists():
        raise QlogError("trace file not found", source=str(path))
    return pd.read_csv(path) if fmt == ".csv" else pd.read_parquet(path)


def select_day(table: pd.DataFrame, seed: int | None = None, *, first_by_default: bool = False) -> pd.DataFrame:
    """The rows of one seed. Without ``seed`` the trace must hold one day, or the first is taken
    when ``first_by_default`` (fine for pictures, not for numbers)."""
    seeds = sorted(int(s) for s in table["seed"].unique())
    if not seeds:
        raise QlogError("the trace is empty", field="seed")
    if seed is None:
        if len(seeds) != 1 and not first_by_default:
            raise QlogError(f"the trace holds seeds {seeds}; pick one", field="seed")
        seed = seeds[0]
    if seed not in seeds:
        raise QlogError(f"seed {seed} is not in the trace (seeds: {seeds})", field="seed")
    return table[table["seed"] == seed]


def kpis_from_trace(trace: str | Path | pd.DataFrame, seed: int | None = None) -> dict[str, float]:
    """Recompute the day's KPIs from its trace alone, with the definitions of ``compute_kpis``."""
    table = select_day(trace if isinstance(trace, pd.DataFrame) else read_trace(trace), seed)
    kind = table["kind"]
    created = int((kind == "order_arrival").sum())
    deliveries = table[kind == "deliver"]
    lateness = np.maximum(0.0, deliveries["time_min"].to_numpy(float) - deliveries["due_min"].to_numpy(float))
    delivered = len(lateness)
    late = int(np.count_nonzero(lateness > 1e-9))

    def per_vehicle(k: str) -> pd.Series:
        return table[kind == k].groupby("vehicle")["time_min"].sum()

    shift = (per_vehicle("shift_end") - per_vehicle("shift_start")).clip(lower=1e-9)
    busy = (per_vehicle("busy_end") - per_vehicle("busy_start")).reindex(shift.index, fill_value=0.0)
    kpis = {
        "orders_created": float(created),
        "delivered": float(delivered),
        "on_time": float(delivered - late),
        "late": float(late),
        "dropped": float((kind == "drop").sum()),
        "service_level": float(delivered - late) / created if created else 1.0,
        "mean_lateness_min": float(lateness.mean()) if delivered else 0.0,
        "p95_lateness_min": float(np.percentile(lateness, 95)) if delivered else 0.0,
        "km": float(table["km"].sum()),
        "utilization": float(np.mean(np.minimum(1.0, busy / shift))),
        "total_cost": float(table["cost"].sum()),
    }
    return {k: kpis[k] for k in KPI_DIRECTIONS}
