"""Which customer-facing milestones an order has reached: a pure function of stage, status, data.

Stages follow the built-in fulfilment template; orders on other flows still show `received` and
whatever their designed fields say (`tracking_no`, `invoice_no`, `paid_at`).
"""

from __future__ import annotations

from typing import Any

MILESTONES = ("received", "approved", "in_production", "shipped", "delivered", "invoiced", "paid")
LABELS = {  # English msgids, translated where shown
    "received": "Order received", "approved": "Approved", "in_production": "In production",
    "shipped": "Shipped", "delivered": "Delivered", "invoiced": "Invoiced", "paid": "Paid",
}
DEFAULT_NOTIFIED = frozenset({"shipped", "delivered", "invoiced"})
STAGES = ("draft", "approval", "tech_confirm", "production", "shipping", "delivered", "invoicing", "payment",
          "completed")
# approval's next stage is tech_confirm in the fulfilment template: an approved order lights "approved" there
_AT_STAGE = {"approved": "tech_confirm", "in_production": "production", "delivered": "delivered",
             "invoiced": "payment", "paid": "completed"}
_BY_FIELD = {"shipped": ("tracking_no", "shipped_at"), "invoiced": ("invoice_no",), "paid": ("paid_at", "paid_on")}


def reached(*, stage: str, status: str, data: dict[str, Any] | None) -> list[str]:
    data = data or {}
    index = STAGES.index(stage) if stage in STAGES else -1
    done = {"received"}
    for milestone, at_stage in _AT_STAGE.items():
        if index >= STAGES.index(at_stage):
            done.add(milestone)
    if index >= STAGES.index("delivered"):
        done.add("shipped")
    for milestone, keys in _BY_FIELD.items():
        if any(str(data.get(k) or "").strip() for k in keys):
            done.add(milestone)
    if status == "completed":
        done.update(MILESTONES)
    return [m for m in MILESTONES if m in done]


def newly_reached(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    old = set(reached(stage=before["stage"], status=before["status"], data=before.get("data")))
    return [m for m in reached(stage=after["stage"], status=after["status"], data=after.get("data")) if m not in old]
