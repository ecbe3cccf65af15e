"""A road network: a networkx graph with planar coordinates and all-pairs travel times.

Every shortest path is computed once, up front (scipy's Dijkstra over a sparse matrix), so the simulator
only ever looks travel times and distances up in dense matrices. Node indices are 0..n-1; the original
labels (GraphML ids, TNTP numbers) are kept for users.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Hashable, Sequence

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from qmix_logistics.common.errors import QlogError

UNIT_KM = {"m": 1e-3, "km": 1.0, "ft": 0.0003048, "mi": 1.609344}
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


def from_digraph(
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
