"""The shape and meaning of a vehicle's observation and action space, in one place.

The compiled kernel fills the observation in this layout, the env sizes its arrays from it, and
checkpoints record ``OBSERVATION_LAYOUT`` so that a policy trained on another layout (same sizes,
different meaning) is refused rather than silently misread.

Observation slots (see :mod:`qmix_logistics.env.kernel` for how each is computed):

- own (``OWN_FEATURES``): time of day, x, y, deciding, load share, shift left, drive home, onboard
  share, busy left, and the vehicle's type: capacity, speed and cost per km, each as a share of the
  fleet's largest; the least slack of the orders on board
- visible-count (1)
- onboard (``ONBOARD_FEATURES`` per slot): present, drive to destination, slack, size; the slots follow the
  cheapest delivery order, so slot 1 is the next stop of the vehicle's best route home
- pending (``PENDING_FEATURES`` per slot): present, drive to warehouse, warehouse-to-customer, slack,
  size, fits, detour (the extra drive of adding it to the trip at its cheapest place), lead (how much sooner this vehicle reaches the order's warehouse than the
  soonest colleague with room), detour share (detour over a trip of its own), extra drive to its
  warehouse over the nearest visible one, colleague's top-up share (the least detour share at which a
  colleague loading a trip at the order's warehouse would take it)
- neighbours (``NEIGHBOR_FEATURES`` per slot): present, dx, dy, drive time, load share, deciding, busy left

Slack is the minutes to spare before an order is due or the vehicle's shift ends, whichever comes first.
"""

from __future__ import annotations

from dataclasses import dataclass

OWN_FEATURES = 13
ONBOARD_FEATURES = 4
PENDING_FEATURES = 11
NEIGHBOR_FEATURES = 7
STATE_ORDER_FEATURES = 7
OBSERVATION_LAYOUT = ("10: a loaded vehicle sees its top-ups within the detour limit first, the most drive saved"
                      " first; holding ends once an order on board is out of slack;"
                      " an empty vehicle sees the nearest warehouse's orders first;"
                      " onboard slots in the cheapest delivery order, pending detour as the cheapest insertion into it;"
                      " slack counted to the due time or the end of the shift, whichever is first;"
                      " colleagues' top-up share per pending order; empty vehicles may wait where a colleague"
                      " is loading; least onboard slack; pending detour share and extra drive to the warehouse;"
                      " pending slots with detour and lead over colleagues;"
                      " holding valid while room is left and no order on board is out of slack; own vehicle type;"
                      " neighbours' busy time")


@dataclass(frozen=True)
class ActionLayout:
    """Where each kind of action sits in the discrete action space."""

    pending_slots: int
    onboard_slots: int

    @property
    def n_actions(self) -> int:
        return 2 + self.pending_slots + self.onboard_slots

    @property
    def first_deliver(self) -> int:
        return 1 + self.pending_slots

    @property
    def return_action(self) -> int:
        return 1 + self.pending_slots + self.onboard_slots

    def meanings(self) -> list[str]:
        return (["wait"] + [f"load pending order {k + 1}" for k in range(self.pending_slots)]
                + [f"deliver onboard order {c + 1}" for c in range(self.onboard_slots)] + ["return to depot"])


def observation_size(layout: ActionLayout, neighbor_slots: int) -> int:
    """Floats in one vehicle's observation vector."""
    return (OWN_FEATURES + 1 + ONBOARD_FEATURES * layout.onboard_slots
            + PENDING_FEATURES * layout.pending_slots + NEIGHBOR_FEATURES * neighbor_slots)
