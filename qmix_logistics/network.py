"""Road networks: build a networkx graph from a scenario and precompute all-pairs travel times.

Every shortest path is computed once, up front (scipy's Dijkstra over a sparse matrix), so the simulator
only ever looks travel times and distances up in dense matrices. Node indices are 0..n-1; the original
labels (GraphML ids, TNTP numbers) are kept for users.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Hashable, Sequence

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from qmix_logistics.errors import QlogError
from qmix_logistics.scenario import (
    GraphMLNetwork,
    GridNetwork,
    NetworkSpec,
    RandomGeometricNetwork,
    TNTPNetwork,
)

_UNIT_KM = {"m": 1e-3, "km": 1.0, "ft": 0.0003048, "mi": 1.609344}
_EARTH_RADIUS_KM = 6371.0


@dataclass
class ShortestPaths:
    """All-pairs matrices for one vehicle speed: minutes, km along the fastest path, predecessors."""

    time_min: np.ndarray
    dist_km: np.ndarray
    predecessors: np.ndarray


@dataclass
class RoadNetwork:
    """A directed road graph with planar coordinates (km) and cached all-pairs shortest paths."""

    graph: nx.DiGraph
    coords_km: np.ndarray
    labels: list[Hashable]
    through: np.ndarray
    lonlat: np.ndarray | None = None
    _paths: dict[float, ShortestPaths] = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.labels)

    def index_of(self, label: Hashable | str) -> int:
        """Map a user-facing node label (int or str) to its index."""
        lookup = self.__dict__.setdefault("_lookup", {str(lb): i for i, lb in enumerate(self.labels)})
        key = str(label)
        if key not in lookup:
            raise KeyError(label)
        return lookup[key]

    def center_node(self) -> int:
        """The node nearest to the centroid of all coordinates."""
        return self.nearest_node(*self.coords_km.mean(axis=0))

    def nearest_node(self, x_km: float, y_km: float) -> int:
        d = np.hypot(self.coords_km[:, 0] - x_km, self.coords_km[:, 1] - y_km)
        return int(np.argmin(d))

    def nearest_node_lonlat(self, lon: float, lat: float) -> int:
        """Snap a longitude/latitude to the nearest node (networks with geographic coordinates)."""
        if self.lonlat is None:
            raise QlogError("this network has no geographic coordinates; give node ids instead of lat/lon")
        x, y = _project(np.array([[lon, lat]]), self._origin())[0]
        return self.nearest_node(x, y)

    def _origin(self) -> np.ndarray:
        assert self.lonlat is not None
        return self.lonlat.mean(axis=0)

    def shortest_paths(self, speed_kmh: float | None = None) -> ShortestPaths:
        """All-pairs fastest paths for a vehicle whose top speed is ``speed_kmh`` (None: no cap)."""
        key = float(speed_kmh) if speed_kmh is not None else math.inf
        if key not in self._paths:
            self._paths[key] = self._compute_paths(key)
        return self._paths[key]

    def path(self, u: int, v: int, speed_kmh: float | None = None) -> list[int]:
        """The node sequence of the fastest path u -> v (used for traces and maps, never per step)."""
        pred = self.shortest_paths(speed_kmh).predecessors
        nodes = [v]
        while nodes[-1] != u:
            p = int(pred[u, nodes[-1]])
            if p < 0:
                return []
            nodes.append(p)
        return nodes[::-1]

    def _compute_paths(self, cap_kmh: float) -> ShortestPaths:
        n = self.n_nodes
        # Zone nodes are split in two: an "out" copy that only starts paths and an "in" copy that only
        # ends them, so no path passes through a zone centroid.
        zones = np.flatnonzero(~self.through)
        in_copy = np.arange(n)
        in_copy[zones] = n + np.arange(len(zones))
        rows, cols, times, lengths = [], [], [], []
        for u, v, data in self.graph.edges(data=True):
            speed = min(data["speed_kmh"], cap_kmh)
            rows.append(u)  # edges leave from the original index (a zone's out copy)
            cols.append(in_copy[v])
            times.append(max(data["length_km"] / speed * 60.0, 1e-6))
            lengths.append(data["length_km"])
        size = n + len(zones)
        tmat = csr_matrix((times, (rows, cols)), shape=(size, size))
        time_all, pred_all = dijkstra(tmat, directed=True, indices=np.arange(n), return_predecessors=True)
        col_idx = in_copy
        time_min = time_all[:, col_idx]
        pred = pred_all[:, col_idx]
        pred = np.where(pred >= n, -9999, pred)  # an in copy is never a predecessor
        np.fill_diagonal(time_min, 0.0)
        if not np.isfinite(time_min).all():
            raise QlogError("the road network is not strongly connected", field="network")
        length_lookup = csr_matrix((lengths, (rows, cols)), shape=(size, size)).toarray()[:, col_idx]
        dist_km = _distances_along(time_min, pred, length_lookup)
        return ShortestPaths(time_min.astype(np.float64), dist_km, pred.astype(np.int32))


def _distances_along(time_min: np.ndarray, pred: np.ndarray, edge_len: np.ndarray) -> np.ndarray:
    """Sum edge lengths along each fastest path: nodes in increasing-time order, all sources at once."""
    n = time_min.shape[0]
    order = np.argsort(time_min, axis=1, kind="stable")
    dist = np.zeros_like(time_min)
    src = np.arange(n)
    for k in range(1, n):
        v = order[:, k]
        p = pred[src, v]
        ok = p >= 0
        dist[src[ok], v[ok]] = dist[src[ok], p[ok]] + edge_len[p[ok], v[ok]]
    return dist


def _project(lonlat: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Equirectangular projection to km around ``origin`` (accurate at city scale)."""
    lon0, lat0 = np.radians(origin)
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    x = (lon - lon0) * math.cos(lat0) * _EARTH_RADIUS_KM
    y = (lat - lat0) * _EARTH_RADIUS_KM
    return np.column_stack([x, y])


def _from_digraph(
    g: nx.DiGraph, coords: dict[Hashable, Sequence[float]], through: set[Hashable] | None, lonlat: bool
) -> RoadNetwork:
    """Relabel to 0..n-1, keep the largest strongly connected component, attach coordinates."""
    if g.number_of_nodes() == 0:
        raise QlogError("the road network has no nodes", field="network")
    if through is None:
        comp = max(nx.strongly_connected_components(g), key=len)
    else:
        # Paths may not pass through zones: connect the through nodes first, then keep the zones that
        # can both reach and be reached from that core.
        core = max(nx.strongly_connected_components(g.subgraph(through)), key=len)
        comp = set(core) | {
            z for z in g.nodes if z not in through
            and any(s in core for s in g.successors(z)) and any(p in core for p in g.predecessors(z))
        }
    g = g.subgraph(comp).copy()
    labels = sorted(g.nodes, key=lambda x: (str(type(x)), x))
    index = {lb: i for i, lb in enumerate(labels)}
    h = nx.DiGraph()
    h.add_nodes_from(range(len(labels)))
    for u, v, data in g.edges(data=True):
        iu, iv = index[u], index[v]
        if h.has_edge(iu, iv) and h[iu][iv]["length_km"] / h[iu][iv]["speed_kmh"] <= data["length_km"] / data["speed_kmh"]:
            continue
        h.add_edge(iu, iv, length_km=data["length_km"], speed_kmh=data["speed_kmh"])
    for lb in labels:
        h.nodes[index[lb]]["label"] = lb
    xy = np.array([coords[lb] for lb in labels], dtype=np.float64)
    ll = None
    if lonlat:
        ll = xy.copy()
        xy = _project(xy, ll.mean(axis=0))
    thr = np.ones(len(labels), dtype=bool) if through is None else np.array([lb in through for lb in labels])
    return RoadNetwork(graph=h, coords_km=xy, labels=labels, through=thr, lonlat=ll)


def _grid(spec: GridNetwork) -> RoadNetwork:
    g = nx.DiGraph()
    coords = {}
    for r in range(spec.rows):
        for c in range(spec.cols):
            coords[r * spec.cols + c] = (c * spec.spacing_km, r * spec.spacing_km)
    for r in range(spec.rows):
        for c in range(spec.cols):
            u = r * spec.cols + c
            for dr, dc in ((0, 1), (1, 0)):
                rr, cc = r + dr, c + dc
                if rr >= spec.rows or cc >= spec.cols:
                    continue
                v = rr * spec.cols + cc
                line = r if dr == 0 else c
                fast = spec.arterial_every and line % spec.arterial_every == 0
                speed = spec.arterial_speed_kmh if fast else spec.speed_kmh
                g.add_edge(u, v, length_km=spec.spacing_km, speed_kmh=speed)
                g.add_edge(v, u, length_km=spec.spacing_km, speed_kmh=speed)
    return _from_digraph(g, coords, None, lonlat=False)


def _random_geometric(spec: RandomGeometricNetwork) -> RoadNetwork:
    ug = nx.random_geometric_graph(spec.nodes, spec.radius, seed=spec.seed)
    pos = {n: (p[0] * spec.size_km, p[1] * spec.size_km) for n, p in nx.get_node_attributes(ug, "pos").items()}
    g = nx.DiGraph()
    g.add_nodes_from(ug.nodes)
    for u, v in ug.edges:
        length = max(math.dist(pos[u], pos[v]), 1e-3)
        g.add_edge(u, v, length_km=length, speed_kmh=spec.speed_kmh)
        g.add_edge(v, u, length_km=length, speed_kmh=spec.speed_kmh)
    return _from_digraph(g, pos, None, lonlat=False)


def _graphml(spec: GraphMLNetwork) -> RoadNetwork:
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
    unit = _UNIT_KM[spec.length_unit]
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
    return _from_digraph(g, coords, None, lonlat=spec.coords == "lonlat")


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


def _tntp(spec: TNTPNetwork) -> RoadNetwork:
    first_thru, links = _read_tntp_links(spec.path)
    unit = _UNIT_KM[spec.length_unit]
    g = nx.DiGraph()
    for u, v, length, _speed in links:
        g.add_edge(u, v, length_km=max(length * unit, 1e-4), speed_kmh=spec.speed_kmh)
    if spec.nodes_path is not None:
        raw = _read_tntp_nodes(spec.nodes_path)
        missing = [n for n in g.nodes if n not in raw]
        if missing:
            raise QlogError(f"no coordinates for nodes {missing[:5]}", source=str(spec.nodes_path))
        if spec.coords == "planar":
            scale = _UNIT_KM[spec.planar_unit]
            coords = {n: (raw[n][0] * scale, raw[n][1] * scale) for n in g.nodes}
        else:
            coords = {n: raw[n] for n in g.nodes}
        lonlat = spec.coords == "lonlat"
    else:
        layout = nx.spring_layout(g.to_undirected(), seed=0)
        coords = {n: tuple(p * 10.0) for n, p in layout.items()}
        lonlat = False
    through = {n for n in g.nodes if n >= first_thru}
    return _from_digraph(g, coords, through, lonlat=lonlat)


def build_network(spec: NetworkSpec) -> RoadNetwork:
    """Build the road network a scenario describes."""
    if isinstance(spec, GridNetwork):
        return _grid(spec)
    if isinstance(spec, RandomGeometricNetwork):
        return _random_geometric(spec)
    if isinstance(spec, GraphMLNetwork):
        return _graphml(spec)
    return _tntp(spec)
