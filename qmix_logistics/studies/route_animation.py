"""An animated GIF of a shift: every vehicle moving along its streets, deliveries appearing as they happen.

Built from a trace like the route map. A vehicle's position at minute t is interpolated along the
street path of the drive it is on (uniform speed within a leg, which is what the simulator's travel
time assumes); between drives it stands at its last arrival. The background is drawn once and only
the markers change per frame, then Pillow writes the frames as one looping GIF.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from PIL import Image  # a matplotlib dependency

from qmix_logistics.common.atomic_io import atomic_path
from qmix_logistics.common.errors import QlogError
from qmix_logistics.network.cache import network_for
from qmix_logistics.network.nodes import depot_nodes
from qmix_logistics.scenario import Scenario
from qmix_logistics.studies.route_map import (
    draw_streets,
    leg_polyline,
    trace_legs,
    vehicle_color,
    vehicle_speeds,
)
from qmix_logistics.studies.trace import select_day

MAX_FRAMES = 240


def _along(line: np.ndarray, fraction: float) -> np.ndarray:
    """The point ``fraction`` of the way along a polyline, by length."""
    seg = np.hypot(*np.diff(line, axis=0).T)
    total = float(seg.sum())
    if total <= 0:
        return line[-1]
    target = min(max(fraction, 0.0), 1.0) * total
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    k = int(np.clip(np.searchsorted(cum, target, side="right") - 1, 0, len(seg) - 1))
    part = (target - cum[k]) / seg[k] if seg[k] > 0 else 0.0
    return line[k] + part * (line[k + 1] - line[k])


def vehicle_positions(day: pd.DataFrame, scenario: Scenario, times: np.ndarray) -> np.ndarray:
    """Positions [frames, vehicles, 2] in km at each of ``times`` (minutes)."""
    net = network_for(scenario)
    speeds = vehicle_speeds(scenario)
    legs = trace_legs(day)
    homes = day[day["kind"] == "shift_start"].set_index("vehicle")["node"]
    out = np.zeros((len(times), len(speeds), 2))
    for v in range(len(speeds)):
        mine = legs[legs["vehicle"] == v].sort_values("start_min")
        starts, ends = mine["start_min"].to_numpy(), mine["end_min"].to_numpy()
        lines = [leg_polyline(net, a, b, speeds[v]) for a, b in zip(mine["from_node"], mine["to_node"])]
        home = net.coords_km[int(homes.get(v, net.center_node()))]
        k_at = np.searchsorted(starts, times, side="right") - 1  # the latest drive begun by each frame
        for f, (t, k) in enumerate(zip(times, k_at)):
            if k < 0:
                out[f, v] = home
            elif t < ends[k]:  # on the road: uniform speed along the drive's streets
                span = ends[k] - starts[k] if np.isfinite(ends[k]) else 1.0
                out[f, v] = _along(lines[k], (t - starts[k]) / max(span, 1e-9))
            else:
                out[f, v] = lines[k][-1]
    return out


def check_gif_path(path: str | Path) -> Path:
    """The animation is written as GIF only; other names are a user error naming ``--gif``."""
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise QlogError("the animation is a .gif file", source=str(path), field="--gif")
    return path


def _palette(first_frame: np.ndarray, colors: list) -> Image.Image:
    """A 255-colour palette from the first frame plus a swatch of every vehicle colour, so a vehicle
    hidden behind another in the first frame still keeps its colour later."""
    swatch = (np.array([to_rgb(c) for c in colors]) * 255).astype(np.uint8)
    strip = np.repeat(swatch[None, :, :], 4, axis=0)
    source = np.concatenate([first_frame.reshape(-1, 3), np.tile(strip.reshape(-1, 3), (50, 1))])
    return Image.fromarray(source[None, :, :]).quantize(colors=255, dither=Image.Dither.NONE)


def write_shift_gif(trace: pd.DataFrame, scenario: Scenario, path: str | Path, window: tuple[float, float], *,
                    seed: int | None = None, frame_min: float = 2.0, frame_ms: int = 120) -> Path:
    """Write a looping GIF of one day between ``window`` = (start_min, end_min), one frame per ``frame_min``."""
    path = check_gif_path(path)
    start, end = window
    times = np.arange(start, end + 1e-9, max(frame_min, (end - start) / MAX_FRAMES))
    day = select_day(trace, seed, first_by_default=True)
    net = network_for(scenario)
    positions = vehicle_positions(day, scenario, times)
    deliveries = day[day["kind"] == "deliver"]

    fig = Figure(figsize=(6, 6), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    draw_streets(ax, net, depot_nodes(scenario, net))
    n = positions.shape[1]
    colors = [vehicle_color(v, n) for v in range(n)]
    # Markers and the clock are "animated": left out of the background, which is drawn once and then
    # restored every frame (blitting), so a frame costs a few markers instead of a whole figure.
    dots = ax.scatter(positions[0, :, 0], positions[0, :, 1], s=60, c=colors, edgecolor="black", zorder=7,
                      animated=True)
    drops = ax.scatter([], [], s=24, facecolor="white", edgecolor="black", zorder=6, animated=True)
    clock = ax.text(0.01, 0.99, "", transform=ax.transAxes, va="top", animated=True,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.set_title(f"{scenario.name} · seed {int(day['seed'].iloc[0])}")
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    palette = None
    frames = []
    for f, t in enumerate(times):
        canvas.restore_region(background)
        dots.set_offsets(positions[f])
        done = deliveries[(deliveries["time_min"] >= start) & (deliveries["time_min"] <= t)]
        drops.set_offsets(done[["x_km", "y_km"]].to_numpy() if len(done) else np.zeros((0, 2)))
        clock.set_text(f"minute {t:.0f} · {len(done)} delivered")
        for artist in (drops, dots, clock):
            ax.draw_artist(artist)
        rgb = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        if palette is None:  # one palette for all frames: no flicker, and mapping to it is cheap
            palette = _palette(rgb, colors)
        # no dithering, which would speckle the thin grey streets
        frames.append(Image.fromarray(rgb).quantize(palette=palette, dither=Image.Dither.NONE))
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return path
