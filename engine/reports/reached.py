"""What an order row keeps for reports over all time: when it was delivered (`delivered_at`) and
which stages it has ever entered (`stages_entered`, one bit per stage).

Why this exists: the day-one on-time trend groups orders by when they were delivered, and the
stage funnel counts the distinct orders that ever entered each stage. Both used to be worked out
from the event log on every run (the first delivered-stage event of each order; distinct orders per
stage over every event): at 1,000,000 orders and 8,000,000 events that took more than the reports'
10 s budget. The order row now stores both, written where the order changes (the pipeline's
`delivered_at` check stage, the history replay, the sign-off from a carrier's feed) and backfilled
from the event log by migration `reportfast_0001`; a report reads one column.

- `delivered_at`: the customer's signature `signed_at` when there is one, else the first time the
  order entered delivered, invoicing, payment or completed (the same value the event log gives:
  `engine.reports.order_fields` documents the field).
- `stages_entered`: bit `STAGE_BITS[s]` is set when the order has entered stage `s` — created in it
  or moved into it (every event whose `after` carries a stage). A stage outside `FUNNEL_STAGES`
  sets `OTHER_STAGE_BIT` only: a funnel over such an installation is counted from the event log
  (`backend/reports/funnel.py` falls back), so the figures stay exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

__all__ = ["DELIVERED_STAGES", "FUNNEL_STAGES", "OTHER_STAGE_BIT", "STAGE_BITS", "delivered_at_after",
           "first_delivered", "stage_bit", "stages_mask"]

DELIVERED_STAGES = ("delivered", "invoicing", "payment", "completed")
#: the stages that have a bit of their own, in the order a funnel would list them (sentences.STAGES)
FUNNEL_STAGES = ("draft", "approval", "tech_confirm", "production", "shipping", "delivered", "invoicing", "payment",
                 "completed", "rejected", "returned")
STAGE_BITS: dict[str, int] = {stage: 1 << i for i, stage in enumerate(FUNNEL_STAGES)}
OTHER_STAGE_BIT = 1 << 62  # any stage not in FUNNEL_STAGES (a signed 64-bit column holds bits 0 … 62)


def stage_bit(stage: str | None) -> int:
    """The bit an order entering `stage` sets (0 for no stage)."""
    if not stage:
        return 0
    return STAGE_BITS.get(stage, OTHER_STAGE_BIT)


def stages_mask(stages: Iterable[str | None]) -> int:
    """The bits of every stage in `stages`."""
    mask = 0
    for stage in stages:
        mask |= stage_bit(stage)
    return mask


def first_delivered(moves: Iterable[tuple[datetime, str | None]]) -> datetime | None:
    """The earliest time of the (time, stage entered) pairs whose stage is delivered or later."""
    return min((at for at, stage in moves if stage in DELIVERED_STAGES), default=None)


def delivered_at_after(*, signed_at: datetime | None, delivered_at: datetime | None, stage: str | None,
                       entered: bool, now: datetime) -> datetime | None:
    """`delivered_at` after a change: the signature wins; else it stays once set; else an order
    that just entered (or was created in) a delivered-or-later stage was delivered `now`."""
    if signed_at is not None:
        return signed_at
    if delivered_at is not None:
        return delivered_at
    if entered and stage in DELIVERED_STAGES:
        return now
    return None
