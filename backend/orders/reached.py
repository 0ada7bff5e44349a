"""Keep the order's `delivered_at` and `stages_entered` (engine/reports/reached.py) as it changes.

A check stage of the order pipeline (backend/pipeline_assembly.py), last of the checks, so every
change that passes them — a person's, an import's (the bulk path checks each new order), an
effect's — leaves the row with both columns right before it is written; no query. The history
replay (backend/ingest/history.py) writes its rows itself and sets them from its plan; a carrier's
"signed" (backend/logistics/service.py) sets `delivered_at` with `signed_at`.
"""

from __future__ import annotations

from sqlmodel import Session

from backend.models_base import set_column
from backend.orders.models import Order
from backend.pipeline import OrderChange
from engine.reports.reached import delivered_at_after, stage_bit


def stamp_reached(session: Session, change: OrderChange) -> None:
    """Check stage: a new order, or one whose stage changed, has entered its stage (its bit, and
    `delivered_at` when the stage is delivered or later); a signature always wins."""
    order = change.order
    entered = change.is_new or "stage" in change.changed_fields
    if entered:
        mask = (order.stages_entered or 0) | stage_bit(order.stage)
        if mask != order.stages_entered:
            set_column(order, "stages_entered", mask)
    delivered = delivered_at_after(signed_at=order.signed_at, delivered_at=order.delivered_at, stage=order.stage,
                                   entered=entered, now=change.now)
    if delivered != order.delivered_at:
        set_column(order, "delivered_at", delivered)


def mark_signed(order: Order) -> None:
    """The order was just given its `signed_at` outside the pipeline (a carrier's feed)."""
    order.delivered_at = order.signed_at
