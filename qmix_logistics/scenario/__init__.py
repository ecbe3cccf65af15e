"""Scenarios: the schema of a scenario file and its loading. Imports no road-network code."""

from qmix_logistics.scenario.loading import load_scenario, scenario_from_dict
from qmix_logistics.scenario.schema import (
    BatchingRule,
    Costs,
    Demand,
    Depot,
    GraphMLNetwork,
    GridNetwork,
    Horizon,
    Hotspot,
    NetworkSpec,
    NodeRef,
    Observation,
    RandomGeometricNetwork,
    Range,
    RatePoint,
    Scenario,
    TNTPNetwork,
    VehicleType,
)

__all__ = [
    "BatchingRule", "Costs", "Demand", "Depot", "GraphMLNetwork", "GridNetwork", "Horizon", "Hotspot", "NetworkSpec", "NodeRef",
    "Observation", "RandomGeometricNetwork", "RatePoint", "Range", "Scenario", "TNTPNetwork", "VehicleType",
    "load_scenario", "scenario_from_dict",
]
