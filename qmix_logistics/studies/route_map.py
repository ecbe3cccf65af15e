"""A map of who drove where during a time window, drawn from a trace on the network's coordinates.

Streets are light grey, depots are black squares, each vehicle's drives in the window are one colour,
and the destinations delivered in the window are white dots. A trace stores each drive as one leg
(``depart`` at ``node`` towards ``to_node``); the street-level path is rebuilt only here, for drawing,
with the same fastest-path tree the simulator used for that vehicle's speed. Coordinates are km (a
geographic network is shown in its local projection).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from qmix_logistics.common.errors import QlogError
from qmix_logistics.network import RoadNetwork
from qmix_logistics.network.cache import network_for
from qmix_logistics.network.nodes import depot_nodes
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.world import Fleet
from qmix_logistics.studies.plots import figure_png
from qmix_logistics.studies.trace import select_day


def parse_window(text: str) -> tuple[float, float]:
    """``"120:240"`` -> (120.0, 240.0) minutes; errors name ``--window``."""
    parts = text.split(":")
    try:
        start, end = (float(p) for p in parts)
    except ValueError:
        raise QlogError(f"{text!r}: expected start:end in minutes, e.g. 120:240", field="--window") from None
    if end <= start:
        raise QlogError(f"{text!r}: the end must be after the start", field="--window")
    return start, end


def trace_legs(trace: pd.DataFrame) -> pd.DataFrame:
    """One row per drive of one day's trace: vehicle, start_min, end_min, from_node, to_node.

    A drive ends at the vehicle's next ``arrive``; one still under way when the day ends has
    ``end_min`` = infinity.
    """
    moves = trace[trace["kind"].isin(("depart", "arrive"))]
    legs = []
    for v, rows in moves.groupby("vehicle", sort=True):
        open_leg = None
        for t, kind, node, to_node in rows[["time_min", "kind", "node", "to_node"]].itertuples(index=False):
            if kind == "depart":
                open_leg = (int(v), float(t), int(node), int(to_node))
            elif open_leg is not None:
                legs.append((open_leg[0], open_leg[1], float(t), open_leg[2], open_leg[3]))
                open_leg = None
        if open_leg is not None:
            legs.append((open_leg[0], open_leg[1], np.inf, open_leg[2], open_leg[3]))
    return pd.DataFrame(legs, columns=["vehicle", "start_min", "end_min", "from_node", "to_node"])


def vehicle_speeds(scenario: Scenario) -> np.ndarray:
    """Top speed (km/h) of every vehicle, in the simulator's vehicle order."""
    fleet = Fleet.from_scenario(scenario)
    return np.array(fleet.speeds)[fleet.type_index]


def leg_polyline(net: RoadNetwork, from_node: int, to_node: int, speed_kmh: float) -> np.ndarray:
    """The street-level path of one leg as [k, 2] km coordinates."""
    nodes = net.path(from_node, to_node, speed_kmh) or [from_node, to_node]
    return net.coords_km[nodes]


def draw_streets(ax, net: RoadNetwork, depots: Sequence[int]) -> None:
    """Streets in light grey and depots as black squares, equal aspect, no axes clutter."""
    xy = net.coords_km
    segments = [(xy[u], xy[v]) for u, v in net.graph.edges if u < v or not net.graph.has_edge(v, u)]
    ax.add_collection(LineCollection(segments, colors="#d9d9d9", linewidths=0.8, zorder=1))
    ax.scatter(xy[list(depots), 0], xy[list(depots), 1], marker="s", s=90, c="black", zorder=5, label="depot")
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("x (km)")
    ax.set_ylabel("y (km)")


def route_map_png(trace: pd.DataFrame, scenario: Scenario, window: tuple[float, float], *,
                  seed: int | None = None) -> bytes:
    """PNG of the drives and deliveries of one day between ``window`` = (start_min, end_min)."""
    net = network_for(scenario)
    day = select_day(trace, seed, first_by_default=True)
    start, end = window
    legs = trace_legs(day)
    legs = legs[(legs["start_min"] < end) & (legs["end_min"] > start)]
    speeds = vehicle_speeds(scenario)
    fig = Figure(figsize=(8, 8))
    ax = fig.subplots()
    draw_streets(ax, net, depot_nodes(scenario, net))
    vehicles = sorted(legs["vehicle"].unique())
    # Shift each vehicle's lines a little so drives along the same street stay distinguishable.
    extent = float(np.ptp(net.coords_km, axis=0).max()) or 1.0
    for v in vehicles:
        color = vehicle_color(v, len(speeds))
        shift = (v / max(1, len(speeds) - 1) - 0.5) * 0.012 * extent
        for leg in legs[legs["vehicle"] == v].itertuples(index=False):
            line = leg_polyline(net, leg.from_node, leg.to_node, speeds[v]) + shift
            ax.plot(line[:, 0], line[:, 1], color=color, lw=2.0, alpha=0.75, zorder=3)
        ax.plot([], [], color=color, lw=2.0, label=f"vehicle {v}")
    done = day[(day["kind"] == "deliver") & (day["time_min"] >= start) & (day["time_min"] < end)]
    ax.scatter(done["x_km"], done["y_km"], s=36, facecolor="white", edgecolor="black", zorder=6,
               label=f"delivered ({len(done)})")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{scenario.name} · seed {int(day['seed'].iloc[0])} · {start:g}-{end:g} min · {len(legs)} drives")
    return figure_png(fig)


def vehicle_color(v: int, n_vehicles: int) -> str | tuple[float, ...]:
    """Distinct colours for up to ten vehicles, then a continuous colour map."""
    if n_vehicles <= 10:
        return f"C{v}"
    return colormaps["turbo"](v / max(1, n_vehicles - 1))
