"""Resolve the nodes a scenario names (depots, hotspots) in its road network, with errors naming the field."""

from __future__ import annotations

import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.network.cache import network_for
from qmix_logistics.network.road_network import RoadNetwork
from qmix_logistics.scenario import Scenario


def depot_nodes(scenario: Scenario, net: RoadNetwork) -> np.ndarray:
    """Node index of each depot, with a clear error for labels not in the graph."""
    nodes = []
    for i, d in enumerate(scenario.depots):
        nodes.append(resolve_node(net, d.node, field=f"depots.{i}.node"))
    return np.array(nodes, dtype=np.int64)


def resolve_node(net: RoadNetwork, ref: object, *, field: str) -> int:
    """Index of the node a scenario names by label (or ``"center"``); ``field`` is named in the error."""
    if ref == "center":
        return net.center_node()
    try:
        return net.index_of(ref)  # type: ignore[arg-type]
    except KeyError:
        raise QlogError(f"node {ref!r} is not in the road network ({net.n_nodes} nodes kept)", field=field) from None


def check_references(scenario: Scenario, *, source: str | None = None) -> RoadNetwork:
    """Build the road network (cached) and resolve every node the scenario names: depots and hotspots.

    Loading a scenario checks only its schema and files; this is the step that needs the graph. Errors
    name ``source`` (the scenario file) and the field. Returns the network, so callers need not build it again.
    """
    try:
        net = network_for(scenario)
        depot_nodes(scenario, net)
        for i, h in enumerate(scenario.demand.hotspots):
            resolve_node(net, h.node, field=f"demand.hotspots.{i}.node")
    except QlogError as exc:
        if source is None or exc.source is not None:
            raise
        raise QlogError(exc.reason, source=source, field=exc.field) from None
    return net
