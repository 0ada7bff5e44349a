"""What every page needs: the signed-in actor (or a redirect to sign in) and shared labels."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from backend.auth.actor import Actor
from backend.auth.deps import optional_actor


class LoginRequired(Exception):
    def __init__(self, next_url: str):
        self.next_url = next_url


async def page_actor(request: Request, actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    if actor is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    request.state.actor = actor
    return actor


PageActor = Annotated[Actor, Depends(page_actor)]


def login_redirect(request: Request, exc: LoginRequired):
    target = "/login?next=" + quote(exc.next_url, safe="")
    if request.headers.get("HX-Request") == "true":
        return RedirectResponse(target, status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


# English msgids; templates pass them through _()
STAGE_LABELS = {
    "draft": "Draft", "approval": "Approval", "tech_confirm": "Technical confirmation",
    "production": "Production", "shipping": "Shipping", "delivered": "Delivered",
    "invoicing": "Invoicing", "payment": "Payment", "completed": "Completed",
}
EVENT_LABELS = {
    "created": "Order created", "updated": "Order updated", "stage_entered": "Stage changed",
    "field_set": "Field set", "tag_added": "Tag added", "risk_flagged": "Risk flagged",
    "completed": "Order completed", "cancelled": "Order cancelled", "urged": "Customer urged",
    "approved": "Approved", "rejected": "Rejected", "returned": "Returned", "commented": "Comment",
    "transferred": "Transferred", "withdrawn": "Withdrawn", "flow_started": "Flow started",
    "task_completed": "Task completed", "rule_fired": "Rule fired",
}
FIELD_LABELS = {
    "customer_id": "Customer", "owner_id": "Owner", "amount": "Amount", "currency": "Currency",
    "stage": "Stage", "status": "Status", "planned_delivery": "Planned delivery", "payment_due": "Payment due",
    "data": "Form fields", "tags": "Tags", "risk_flags": "Risk flags",
}
