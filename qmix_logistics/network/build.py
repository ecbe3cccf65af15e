"""Build the road network a scenario's ``network:`` section describes."""

from __future__ import annotations

from qmix_logistics.network.formats import read_graphml, read_tntp
from qmix_logistics.network.generators import grid_network, random_geometric_network
from qmix_logistics.network.road_network import RoadNetwork
from qmix_logistics.scenario import (
    GraphMLNetwork,
    GridNetwork,
    NetworkSpec,
    RandomGeometricNetwork,
)


def build_network(spec: NetworkSpec) -> RoadNetwork:
    """Build the road network a scenario describes."""
    if isinstance(spec, GridNetwork):
        return grid_network(spec)
    if isinstance(spec, RandomGeometricNetwork):
        return random_geometric_network(spec)
    if isinstance(spec, GraphMLNetwork):
        return read_graphml(spec)
    return read_tntp(spec)
