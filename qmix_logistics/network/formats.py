"""Road networks read from files: GraphML (as osmnx and networkx write it) and TNTP."""

from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx

from qmix_logistics.common.errors import QlogError
from qmix_logistics.network.road_network import UNIT_KM, RoadNetwork, from_digraph
from qmix_logistics.scenario import GraphMLNetwork, TNTPNetwork


def read_graphml(spec: GraphMLNetwork) -> RoadNetwork:
    try:
        raw = nx.read_graphml(spec.path)
    except Exception as exc:  # networkx raises several parser errors
        raise QlogError(f"cannot read GraphML: {exc}", source=str(spec.path)) from None
    g = nx.DiGraph()
    coords = {}
    for n, data in raw.nodes(data=True):
        try:
            coords[n] = (float(data["x"]), float(data["y"]))
        except (KeyError, ValueError):
            raise QlogError(f"node {n!r} has no numeric x/y", source=str(spec.path)) from None
    unit = UNIT_KM[spec.length_unit]
    for u, v, data in raw.edges(data=True):
        if spec.length_attr in data:
            length = float(data[spec.length_attr]) * unit
        else:
            length = math.dist(coords[u], coords[v]) * (1.0 if spec.coords == "planar" else 111.0)
        speed = spec.speed_kmh
        if spec.speed_attr and spec.speed_attr in data:
            try:
                speed = float(data[spec.speed_attr])
            except ValueError:
                pass
        g.add_edge(u, v, length_km=max(length, 1e-4), speed_kmh=speed)
        if not raw.is_directed():
            g.add_edge(v, u, length_km=max(length, 1e-4), speed_kmh=speed)
    return from_digraph(g, coords, None, lonlat=spec.coords == "lonlat")


def _read_tntp_links(path: Path) -> tuple[int, list[tuple[int, int, float, float]]]:
    first_thru = 1
    links = []
    in_header = True
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        s = line.strip()
        if in_header:
            if s.startswith("<FIRST THRU NODE>"):
                first_thru = int(s.split(">")[1].strip())
            if s.startswith("<END OF METADATA>"):
                in_header = False
            continue
        if not s or s.startswith("~"):
            continue
        parts = s.rstrip(";").split()
        try:
            links.append((int(parts[0]), int(parts[1]), float(parts[3]), float(parts[7])))
        except (IndexError, ValueError):
            raise QlogError(f"line {lineno}: expected 'init term capacity length fftt b power speed ...'",
                            source=str(path)) from None
    if not links:
        raise QlogError("no links found (is this a *_net.tntp file?)", source=str(path))
    return first_thru, links


def _read_tntp_nodes(path: Path) -> dict[int, tuple[float, float]]:
    if path.suffix in (".geojson", ".json"):
        data = json.loads(path.read_text())
        return {int(f["properties"]["id"]): tuple(f["geometry"]["coordinates"][:2]) for f in data["features"]}
    coords = {}
    for line in path.read_text().splitlines()[1:]:
        parts = line.replace(";", " ").split()
        if len(parts) >= 3:
            coords[int(parts[0])] = (float(parts[1]), float(parts[2]))
    return coords


def read_tntp(spec: TNTPNetwork) -> RoadNetwork:
    first_thru, links = _read_tntp_links(spec.path)
    unit = UNIT_KM[spec.length_unit]
    g = nx.DiGraph()
    for u, v, length, _speed in links:
        g.add_edge(u, v, length_km=max(length * unit, 1e-4), speed_kmh=spec.speed_kmh)
    if spec.nodes_path is not None:
        raw = _read_tntp_nodes(spec.nodes_path)
        missing = [n for n in g.nodes if n not in raw]
        if missing:
            raise QlogError(f"no coordinates for nodes {missing[:5]}", source=str(spec.nodes_path))
        if spec.coords == "planar":
            scale = UNIT_KM[spec.planar_unit]
            coords = {n: (raw[n][0] * scale, raw[n][1] * scale) for n in g.nodes}
        else:
            coords = {n: raw[n] for n in g.nodes}
        lonlat = spec.coords == "lonlat"
    else:
        layout = nx.spring_layout(g.to_undirected(), seed=0)
        coords = {n: tuple(p * 10.0) for n, p in layout.items()}
        lonlat = False
    through = {n for n in g.nodes if n >= first_thru}
    return from_digraph(g, coords, through, lonlat=lonlat)
