"""The scenario schema: one YAML document describing a network, depots, a fleet, a day of demand and costs.

Pydantic models only so that every mistake is caught up front with the field path that caused
it. Units: time in minutes, distance in km, speed in km/h, money in the scenario's currency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NodeRef = Union[int, str]


class _Strict(BaseModel):
    """Base model: unknown keys are errors, so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------------------------- network
class GridNetwork(_Strict):
    """A generated Manhattan grid; node ids are ``row * cols + col``."""

    kind: Literal["grid"] = "grid"
    rows: int = Field(10, ge=2, le=500)
    cols: int = Field(10, ge=2, le=500)
    spacing_km: float = Field(1.0, gt=0)
    speed_kmh: float = Field(30.0, gt=0, description="Free-flow speed on every street.")
    arterial_every: int = Field(0, ge=0, description="Every n-th row/column is an arterial (0 = none).")
    arterial_speed_kmh: float = Field(50.0, gt=0)


class RandomGeometricNetwork(_Strict):
    """A random geometric graph in a square; the largest connected component is kept."""

    kind: Literal["random_geometric"] = "random_geometric"
    nodes: int = Field(100, ge=2, le=200_000)
    radius: float = Field(0.18, gt=0, le=1.5, description="Connection radius as a fraction of the side.")
    size_km: float = Field(10.0, gt=0)
    speed_kmh: float = Field(30.0, gt=0)
    seed: int = 0


class GraphMLNetwork(_Strict):
    """A GraphML road graph as osmnx or networkx write it (node x/y, edge length)."""

    kind: Literal["graphml"] = "graphml"
    path: Path
    length_attr: str = "length"
    length_unit: Literal["m", "km", "ft", "mi"] = "m"
    speed_attr: str | None = Field("speed_kph", description="Edge speed in km/h, if present.")
    speed_kmh: float = Field(30.0, gt=0, description="Speed for edges without a speed attribute.")
    coords: Literal["lonlat", "planar"] = "lonlat"


class TNTPNetwork(_Strict):
    """A TNTP ``*_net.tntp`` network; zone nodes below FIRST THRU NODE are never passed through."""

    kind: Literal["tntp"] = "tntp"
    path: Path
    nodes_path: Path | None = Field(None, description="`*_node.tntp` or `*_nodes.geojson` coordinates.")
    length_unit: Literal["m", "km", "ft", "mi"] = "mi"
    speed_kmh: float = Field(40.0, gt=0)
    coords: Literal["lonlat", "planar"] = "lonlat"
    planar_unit: Literal["m", "km", "ft", "mi"] = Field("ft", description="Unit of planar node coordinates.")


NetworkSpec = Annotated[
    Union[GridNetwork, RandomGeometricNetwork, GraphMLNetwork, TNTPNetwork], Field(discriminator="kind")
]


# --------------------------------------------------------------------------------------------- depot
class Depot(_Strict):
    """A warehouse: pickers prepare orders, docks load them onto vehicles."""

    name: str = "depot"
    node: NodeRef | Literal["center"] = "center"
    docks: int = Field(2, ge=1, description="Loading docks (a simpy Resource).")
    workers: int = Field(3, ge=1, description="Pickers (a simpy Resource).")
    pick_time_min: float = Field(3.0, gt=0, description="Mean picking time per order (exponential).")
    load_time_min: float = Field(2.0, ge=0, description="Dock time to load one order.")


class VehicleType(_Strict):
    name: str = "van"
    count: int = Field(8, ge=1, le=1000)
    capacity: int = Field(8, ge=1, description="Capacity in order-size units.")
    speed_kmh: float = Field(30.0, gt=0, description="Top speed; edges slower than this cap it.")
    cost_per_km: float = Field(0.5, ge=0)
    depot: str | None = Field(None, description="Home depot name (default: the first).")
    shift_start_min: float | None = Field(None, ge=0)
    shift_end_min: float | None = Field(None, gt=0)


# --------------------------------------------------------------------------------------------- demand
class RatePoint(_Strict):
    at_min: float = Field(ge=0)
    factor: float = Field(ge=0)


class Hotspot(_Strict):
    node: NodeRef | Literal["center"]
    weight: float = Field(1.0, gt=0)
    radius_km: float = Field(1.5, gt=0)


class Range(_Strict):
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class Demand(_Strict):
    """Poisson arrivals with a piecewise-constant time-of-day profile, or the replay of an order CSV."""

    kind: Literal["poisson", "csv"] = "poisson"
    rate_per_hour: float = Field(30.0, ge=0, description="Base arrival rate (orders per hour).")
    profile: list[RatePoint] = Field(default_factory=list, description="Rate multipliers from at_min on.")
    scale: float = Field(1.0, ge=0, description="Multiplies every rate; what-if studies sweep it.")
    hotspots: list[Hotspot] = Field(default_factory=list)
    uniform_share: float = Field(1.0, ge=0, le=1, description="Share of destinations drawn uniformly.")
    size: Range = Field(default_factory=lambda: Range(min=1, max=2), description="Order size (integer units).")
    due_window_min: Range = Field(default_factory=lambda: Range(min=60, max=180))
    max_late_min: float = Field(60.0, ge=0, description="Deadline = due + this; then the order is dropped.")
    service_time_min: float = Field(2.0, ge=0, description="Time at the customer to hand over.")
    last_order_min: float | None = Field(None, description="No arrivals after this (default: shift end - 60).")
    csv: Path | None = Field(None, description="Order file for kind=csv.")

    @field_validator("size")
    @classmethod
    def _positive_size(cls, v: Range) -> Range:
        if v.min < 1:
            raise ValueError("order sizes must be at least 1")
        return v

    @model_validator(mode="after")
    def _csv_given(self) -> "Demand":
        if self.kind == "csv" and self.csv is None:
            raise ValueError("kind 'csv' needs a `csv` path")
        return self


class Costs(_Strict):
    revenue_per_order: float = Field(10.0, ge=0)
    lateness_per_min: float = Field(0.2, ge=0)
    drop_penalty: float = Field(20.0, ge=0)
    km_weight: float = Field(1.0, ge=0, description="Multiplies each vehicle type's cost_per_km.")


class Observation(_Strict):
    """What one vehicle can see: the basis of its fixed-size observation vector."""

    pending_slots: int = Field(6, ge=1, le=64, description="Visible pending orders (for an empty vehicle the nearest warehouse's first, least slack first; least detour first for a loaded vehicle).")
    onboard_slots: int | None = Field(None, ge=1, le=64, description="Default: the largest capacity.")
    neighbor_slots: int = Field(3, ge=0, le=32, description="Nearest other vehicles seen.")
    radius_min: float | None = Field(None, gt=0, description="Sees orders within this drive time (None: all).")
    wait_min: float = Field(5.0, gt=0, description="Longest idle wait before deciding again.")
    wait_with_work: bool = Field(
        False, description="Allow the wait action while the vehicle could load or deliver (off: no idling with work)."
    )


class BatchingRule(_Strict):
    """Settings of the batching rule, the baseline every learned policy is compared with and its default teacher.

    Tune them on days that evaluation does not hold out: how long holding for top-ups pays depends on the
    demand and the fleet. The default hold of 10 minutes was the cheapest of 0-35 on tuning days of depot.yaml
    and multi_warehouse.yaml; 5 was cheaper on rush_hour.yaml at a lower service level."""

    hold_slack_min: float = Field(10.0, ge=0, description="A loaded vehicle holds at its warehouse for top-ups only while every order on board keeps this much slack (minutes) before it is due or the shift ends, and the trip's last stop keeps it before the shift ends.")
    top_up_detour_ratio: float = Field(0.7, gt=0, description="A top-up joins a trip only when its detour (the extra drive of adding it at its cheapest place in the trip) is at most this share of a trip of its own.")


class Horizon(_Strict):
    start_min: float = Field(0.0, ge=0)
    end_min: float = Field(480.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "Horizon":
        if self.end_min <= self.start_min:
            raise ValueError("end_min must be after start_min")
        return self


class Scenario(_Strict):
    """One scenario file: a road network, its depots, the fleet, a day of demand, costs and what vehicles see."""

    name: str = "scenario"
    seed: int = 0
    horizon: Horizon = Field(default_factory=Horizon)
    # The four sections that make a day are required: a file that forgets one is an error naming it,
    # never a silent default fleet or demand.
    network: NetworkSpec = Field(..., description="The road network.")
    depots: list[Depot] = Field(..., min_length=1, description="Warehouses; vehicles start at their home depot.")
    fleet: list[VehicleType] = Field(..., min_length=1, description="Vehicle types and counts.")
    demand: Demand = Field(..., description="How orders arrive, where they go and when they are due.")
    costs: Costs = Field(default_factory=Costs)
    observation: Observation = Field(default_factory=Observation)
    batching: BatchingRule = Field(default_factory=BatchingRule, description="Settings of the batching rule.")
    training: dict[str, Any] = Field(default_factory=dict, description="Learner hyperparameters.")

    @model_validator(mode="after")
    def _cross_checks(self) -> "Scenario":
        names = [d.name for d in self.depots]
        if len(set(names)) != len(names):
            raise ValueError(f"depot names must be unique, got {names}")
        for i, vt in enumerate(self.fleet):
            if vt.depot is not None and vt.depot not in names:
                raise ValueError(f"fleet.{i}.depot: unknown depot {vt.depot!r} (known: {names})")
            if vt.capacity < self.demand.size.min:
                raise ValueError(f"fleet.{i}.capacity {vt.capacity} is below the smallest order size")
        return self

    @property
    def n_vehicles(self) -> int:
        return sum(vt.count for vt in self.fleet)

    def resolved_onboard_slots(self) -> int:
        return self.observation.onboard_slots or max(vt.capacity for vt in self.fleet)
