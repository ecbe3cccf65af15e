"""Generated road networks: a Manhattan grid with optional arterials, and a random geometric graph."""

from __future__ import annotations

import math

import networkx as nx

from qmix_logistics.network.road_network import RoadNetwork, from_digraph
from qmix_logistics.scenario import GridNetwork, RandomGeometricNetwork


def grid_network(spec: GridNetwork) -> RoadNetwork:
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
    return from_digraph(g, coords, None, lonlat=False)


def random_geometric_network(spec: RandomGeometricNetwork) -> RoadNetwork:
    ug = nx.random_geometric_graph(spec.nodes, spec.radius, seed=spec.seed)
    pos = {n: (p[0] * spec.size_km, p[1] * spec.size_km) for n, p in nx.get_node_attributes(ug, "pos").items()}
    g = nx.DiGraph()
    g.add_nodes_from(ug.nodes)
    for u, v in ug.edges:
        length = max(math.dist(pos[u], pos[v]), 1e-3)
        g.add_edge(u, v, length_km=length, speed_kmh=spec.speed_kmh)
        g.add_edge(v, u, length_km=length, speed_kmh=spec.speed_kmh)
    return from_digraph(g, pos, None, lonlat=False)
