"""Staff API for tracking links; the customer's page itself is frontend/pages/tracking.py."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from backend.auth.deps import DbSession, WritingActor
from backend.clock import utcnow
from backend.tracking import service as tracking_service

tracking_service.install()
router = APIRouter(prefix="/api/v1/orders/{order_id}/tracking-link", tags=["tracking"])


class LinkRead(BaseModel):
    url: str
    token: str
    created_at: datetime


@router.post("", response_model=LinkRead)
def create_link(request: Request, session: DbSession, actor: WritingActor, order_id: int):
    link = tracking_service.create_link(session, actor=actor, order_id=order_id, now=utcnow())
    base = request.app.state.settings.base_url.rstrip("/")
    return LinkRead(url=f"{base}/t/{link.token}", token=link.token, created_at=link.created_at)


@router.delete("")
def revoke_link(session: DbSession, actor: WritingActor, order_id: int) -> dict[str, int]:
    return {"revoked": tracking_service.revoke_link(session, actor=actor, order_id=order_id, now=utcnow())}
