"""A road network: a networkx graph with planar coordinates, and fastest paths computed per source.

Travel times are never all-pairs: :meth:`RoadNetwork.travel_times` gives a table that runs Dijkstra
for each source node on first use (see :mod:`qmix_logistics.network.travel_times`), so a city
network of tens of thousands of nodes fits in memory. Node indices are 0..n-1; the original labels
(GraphML ids, TNTP numbers) are kept for users.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.network.travel_times import SpeedGraph, TravelTimes, TravelView

UNIT_KM = {"m": 1e-3, "km": 1.0, "ft": 0.0003048, "mi": 1.609344}
_EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class ShortestPaths:
    """Fastest paths for one vehicle speed: minutes and km along the path, indexed ``[from, to]``.

    Both are :class:`TravelView` reads of one table: each from-node's row is computed on first use.
    """

    time_min: TravelView
    dist_km: TravelView


@dataclass
class RoadNetwork:
    """A directed road graph with planar coordinates (km) and per-source fastest paths, cached per speed."""

    graph: nx.DiGraph
    coords_km: np.ndarray
    labels: list[Hashable]
    through: np.ndarray
    lonlat: np.ndarray | None = None
    _graphs: dict[float, SpeedGraph] = field(default_factory=dict, repr=False)
    _tables: dict[tuple[float, ...], TravelTimes] = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.labels)

    def index_of(self, label: Hashable | str) -> int:
        """Map a user-facing node label (int or str) to its index."""
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = self.__dict__["_lookup"] = {str(lb): i for i, lb in enumerate(self.labels)}
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

    def travel_times(self, speeds_kmh: Sequence[float | None], *, fresh: bool = False) -> TravelTimes:
        """The shared table of fastest paths for vehicle types with these top speeds (None: no cap).

        One table per speed tuple, kept with the network: worlds of many seeds reuse the rows their
        sources share. Its memory is (sources used so far) x nodes per speed. ``fresh``: replace it
        by an empty one (whoever holds the old one keeps using it).
        """
        key = tuple(_speed_key(s) for s in speeds_kmh)
        table = self._tables.get(key)
        if table is None or fresh:
            table = TravelTimes([self._speed_graph(s) for s in key], key)
            self._tables[key] = table
        return table

    def shortest_paths(self, speed_kmh: float | None = None) -> ShortestPaths:
        """Fastest paths for a vehicle whose top speed is ``speed_kmh`` (None: no cap), per source on use."""
        table = self.travel_times((speed_kmh,))
        return ShortestPaths(table.time_min[0], table.dist_km[0])

    def path(self, u: int, v: int, speed_kmh: float | None = None) -> list[int]:
        """The node sequence of the fastest path u -> v (for traces and maps: one Dijkstra per new ``u``)."""
        u, v = int(u), int(v)
        pred = self._speed_graph(_speed_key(speed_kmh)).predecessors(u)
        nodes = [v]
        while nodes[-1] != u:
            p = int(pred[nodes[-1]])
            if p < 0:
                return []
            nodes.append(p)
        return nodes[::-1]

    def _speed_graph(self, cap_kmh: float) -> SpeedGraph:
        graph = self._graphs.get(cap_kmh)
        if graph is None:
            edges = self.__dict__.get("_edges")
            if edges is None:
                edges = _edge_arrays(self.graph)
                self.__dict__["_edges"] = edges
            graph = SpeedGraph(*edges, self.through, cap_kmh)
            self._graphs[cap_kmh] = graph
        return graph


def _speed_key(speed_kmh: float | None) -> float:
    return float(speed_kmh) if speed_kmh is not None else math.inf


def _edge_arrays(g: nx.DiGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tail, head, length (km) and speed (km/h) of every edge, in the graph's edge order.

    The order matters: Dijkstra breaks ties between equally fast paths by it, and the km of a path
    follow the path it picks."""
    m = g.number_of_edges()
    tail, head = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
    length, speed = np.empty(m), np.empty(m)
    for i, (u, v, data) in enumerate(g.edges(data=True)):
        tail[i], head[i], length[i], speed[i] = u, v, data["length_km"], data["speed_kmh"]
    return tail, head, length, speed


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
