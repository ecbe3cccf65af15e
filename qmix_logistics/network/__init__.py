"""Road networks: the graph and its travel times, generators, file formats, a per-process cache, node resolution."""

from qmix_logistics.network.build import build_network
from qmix_logistics.network.cache import network_for
from qmix_logistics.network.nodes import check_references, depot_nodes, resolve_node
from qmix_logistics.network.road_network import RoadNetwork, ShortestPaths
from qmix_logistics.network.travel_times import TravelTimes, TravelView

__all__ = ["RoadNetwork", "ShortestPaths", "TravelTimes", "TravelView", "build_network", "check_references",
           "depot_nodes", "network_for", "resolve_node"]
