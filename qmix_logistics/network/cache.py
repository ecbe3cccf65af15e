"""Build each scenario's road network once per process: many envs, seeds and sweep variants share it."""

from __future__ import annotations

from qmix_logistics.network.build import build_network
from qmix_logistics.network.road_network import RoadNetwork
from qmix_logistics.scenario import Scenario

_CACHE: dict[str, RoadNetwork] = {}
_MAX_ENTRIES = 8


def network_for(scenario: Scenario) -> RoadNetwork:
    """The scenario's network (and the travel-time rows computed on it so far), built on first use and then reused."""
    key = scenario.network.model_dump_json()
    net = _CACHE.get(key)
    if net is None:
        if len(_CACHE) >= _MAX_ENTRIES:
            _CACHE.pop(next(iter(_CACHE)))
        net = build_network(scenario.network)
        _CACHE[key] = net
    return net
