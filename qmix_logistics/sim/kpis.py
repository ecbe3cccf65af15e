"""Key performance indicators of one simulated day, computed from the world's final state."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qmix_logistics.sim.world import World

# Every KPI name, in display order, with whether larger is better (for win counts and tables).
KPI_DIRECTIONS: dict[str, bool] = {
    "orders_created": True,
    "delivered": True,
    "on_time": True,
    "late": False,
    "dropped": False,
    "service_level": True,
    "mean_lateness_min": False,
    "p95_lateness_min": False,
    "km": False,
    "utilization": True,
    "total_cost": False,
}


def compute_kpis(world: "World") -> dict[str, float]:
    """KPIs of the day so far. Lateness statistics are over delivered orders (on time counts as 0)."""
    from qmix_logistics.sim.world import OrderState

    state = world.state
    created = int(np.count_nonzero(state != OrderState.FUTURE))
    delivered_mask = state == OrderState.DELIVERED
    lateness = np.maximum(0.0, world.delivered_at[delivered_mask] - world.orders.due_min[delivered_mask])
    delivered = int(delivered_mask.sum())
    late = int(np.count_nonzero(lateness > 1e-9))
    shift = np.maximum(1e-9, world.fleet.shift_end - world.fleet.shift_start)
    return {
        "orders_created": float(created),
        "delivered": float(delivered),
        "on_time": float(delivered - late),
        "late": float(late),
        "dropped": float(np.count_nonzero(state == OrderState.DROPPED)),
        "service_level": float(delivered - late) / created if created else 1.0,
        "mean_lateness_min": float(lateness.mean()) if delivered else 0.0,
        "p95_lateness_min": float(np.percentile(lateness, 95)) if delivered else 0.0,
        "km": float(world.km.sum()),
        "utilization": float(np.mean(np.minimum(1.0, world.busy_min / shift))),
        "total_cost": float(world.total_cost),
    }
