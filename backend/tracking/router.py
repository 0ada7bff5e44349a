"""Staff API for tracking links and the customer conversation; the customer's page itself is
frontend/pages/tracking.py."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from backend.auth.deps import CurrentActor, DbSession, WritingActor
from backend.clock import utcnow
from backend.orders import access
from backend.tracking import messages as tracking_messages
from backend.tracking import service as tracking_service

router = APIRouter(prefix="/api/v1/orders/{order_id}", tags=["tracking"])


class LinkRead(BaseModel):
    url: str
    token: str
    created_at: datetime


class MessageRead(BaseModel):
    is_from_customer: bool
    text: str
    at: datetime
    who: str | None
    via: str | None


class ReplyCreate(BaseModel):
    text: str = Field(max_length=10_000)  # the service says how long a reply may be, translated


class ReplyRead(BaseModel):
    channel: str | None  # None: nothing was sent (no address, or unsubscribed); the tracking page shows it


@router.post("/tracking-link", response_model=LinkRead)
def create_link(request: Request, session: DbSession, actor: WritingActor, order_id: int):
    link = tracking_service.create_link(session, actor=actor, order_id=order_id, now=utcnow())
    # GENDAN_BASE_URL when set, else the address this request came in on (never a guessed port)
    base = request.app.state.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")
    return LinkRead(url=f"{base}/t/{link.token}", token=link.token, created_at=link.created_at)


@router.delete("/tracking-link")
def revoke_link(session: DbSession, actor: WritingActor, order_id: int) -> dict[str, int]:
    return {"revoked": tracking_service.revoke_link(session, actor=actor, order_id=order_id, now=utcnow())}


@router.get("/messages", response_model=list[MessageRead])
def list_messages(session: DbSession, actor: CurrentActor, order_id: int):
    """The conversation with the customer, oldest first."""
    order = access.get_visible_order(session, actor, order_id)
    return [MessageRead(**vars(m)) for m in tracking_messages.list_messages(session, order.id)]


@router.post("/messages", response_model=ReplyRead, status_code=201)
def reply(session: DbSession, actor: WritingActor, order_id: int, payload: ReplyCreate):
    """Staff answer the customer (the order page's reply box)."""
    return ReplyRead(channel=tracking_messages.reply(session, actor=actor, order_id=order_id, text=payload.text,
                                                     now=utcnow()))
