"""Drive a scenario with real orders: swap its demand for the replay of an order CSV.

The file format is the one ``demand.kind: csv`` reads (see ``qmix_logistics.sim.demand.read_orders_csv``):
``time_min`` or an ISO ``timestamp`` (minutes since that day's midnight), the destination as ``node``
id or ``lat``/``lon`` (snapped to the nearest node of a geographic network), ``size``, and ``due_min``
(absolute) or ``due_in_min``; optionally ``depot`` by name. The file is read once here, so a bad
line is reported (file and line) before any simulation starts.
"""

from __future__ import annotations

from pathlib import Path

from qmix_logistics.common.errors import QlogError
from qmix_logistics.network.cache import network_for
from qmix_logistics.scenario import Scenario
from qmix_logistics.sim.demand import read_orders_csv
from qmix_logistics.sim.world import Fleet


def replay_orders(scenario: Scenario, orders_csv: str | Path) -> Scenario:
    """A copy of ``scenario`` whose demand is the replay of ``orders_csv`` (checked now)."""
    path = Path(orders_csv).resolve()
    if not path.is_file():
        raise QlogError("order file not found", source=str(orders_csv), field="--orders")
    out = scenario.model_copy(deep=True)
    out.demand.csv = path  # set the file before the kind: the model checks that csv demand has one
    out.demand.kind = "csv"
    check_order_file(out)
    return out


def check_order_file(scenario: Scenario) -> int:
    """Read the scenario's order file once (raises QlogError naming file and line); returns the count."""
    if scenario.demand.kind != "csv" or scenario.demand.csv is None:
        return 0
    net = network_for(scenario)
    speed = Fleet.from_scenario(scenario).speeds[0]  # the world ranks depots by the slowest type's times
    stream = read_orders_csv(scenario.demand.csv, scenario, net, net.shortest_paths(speed).time_min)
    return len(stream)
