"""JSON API of the portal: the party's own (the token is the key; same scoping, 404s and rate
limits as the pages) and the admin's (parties and links)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from backend.auth import throttle
from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.portal import access as party_side
from backend.portal import service as portal

router = APIRouter(prefix="/api/v1/portal", tags=["portal"])
READS_PER_MINUTE = 120
WRITES_PER_MINUTE = 30


def _limit(session, request: Request, *, write: bool) -> None:
    kind, limit = ("w", WRITES_PER_MINUTE) if write else ("r", READS_PER_MINUTE)
    client = request.client.host if request.client else "?"
    ok = throttle.reserve(session, [throttle.Limit(f"portal:{kind}:{client}"[:200], limit)], utcnow())
    session.commit()
    if not ok:
        raise GendanError("portal.rate_limited")


class FieldRead(BaseModel):
    key: str
    label: str
    type: str
    value: Any
    editable: bool


class PortalOrderRead(BaseModel):
    order_number: str
    step: str
    is_open: bool
    expires_at: datetime
    fields: list[FieldRead]


class PortalSave(BaseModel):
    values: dict[str, str | int | float | None] = Field(default_factory=dict, max_length=100)
    finish: bool = False


def _read(v: party_side.PortalView) -> PortalOrderRead:
    return PortalOrderRead(order_number=v.order_number, step=v.node_name, is_open=v.is_open, expires_at=v.expires_at,
                           fields=[FieldRead(key=f.key, label=f.label, type=f.input_type, editable=f.is_editable,
                                             value=f.value.isoformat() if isinstance(f.value, date) else f.value)
                                   for f in v.fields])


@router.get("/links/{token}", response_model=PortalOrderRead)
def party_order(request: Request, session: DbSession, token: str, order_id: int | None = None):
    """The order an order link opens (or, with `order_id`, one of an inbox link's orders)."""
    _limit(session, request, write=False)
    return _read(party_side.view(session, token=token, now=utcnow(), order_id=order_id))


@router.post("/links/{token}", response_model=PortalOrderRead)
def party_save(request: Request, session: DbSession, token: str, payload: PortalSave, order_id: int | None = None):
    _limit(session, request, write=True)
    values = {k: v for k, v in payload.values.items()}
    return _read(party_side.submit(session, token=token, values=values, now=utcnow(), order_id=order_id,
                               finish=payload.finish))


# --- admin -----------------------------------------------------------------------------------------

class PartyCreate(BaseModel):
    kind: Literal["supplier", "carrier", "customer"]
    name: str = Field(max_length=200)
    contact_name: str = Field(default="", max_length=100)
    email: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    locale: Literal["zh_CN", "en"] = "zh_CN"
    customer_id: int | None = None
    robot_channel_id: int | None = None


class PartyRead(PartyCreate):
    id: int
    is_active: bool


class LinkCreate(BaseModel):
    party_id: int
    order_id: int | None = None
    node_key: str | None = Field(default=None, max_length=64)
    days: int = portal.DEFAULT_DAYS


class LinkRead(BaseModel):
    id: int
    party_id: int
    order_id: int | None
    node_key: str | None
    url: str
    expires_at: datetime
    revoked_at: datetime | None


def _base(request: Request) -> str:
    return request.app.state.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")


def _link_read(request: Request, link) -> LinkRead:
    return LinkRead(id=link.id, party_id=link.party_id, order_id=link.order_id, node_key=link.node_key,
                    url=f"{_base(request)}/p/{link.token}", expires_at=link.expires_at, revoked_at=link.revoked_at)


@router.get("/parties", response_model=list[PartyRead])
def list_parties(session: DbSession, actor: CurrentActor):
    return [PartyRead.model_validate(p, from_attributes=True) for p in portal.list_parties(session, actor=actor)]


@router.post("/parties", response_model=PartyRead, status_code=201)
def create_party(session: DbSession, actor: CurrentActor, payload: PartyCreate):
    party = portal.create_party(session, actor=actor, values=payload.model_dump(), now=utcnow())
    return PartyRead.model_validate(party, from_attributes=True)


@router.get("/admin-links", response_model=list[LinkRead])
def list_links(request: Request, session: DbSession, actor: CurrentActor, party_id: int | None = None):
    return [_link_read(request, link) for link in portal.list_links(session, actor=actor, party_id=party_id)]


@router.post("/admin-links", response_model=LinkRead, status_code=201)
def issue_link(request: Request, session: DbSession, actor: CurrentActor, payload: LinkCreate):
    link = portal.issue_link(session, actor=actor, party_id=payload.party_id, order_id=payload.order_id,
                             node_key=payload.node_key, days=payload.days, now=utcnow(), base_url=_base(request))
    return _link_read(request, link)


@router.delete("/admin-links/{link_id}", response_model=LinkRead)
def revoke_link(request: Request, session: DbSession, actor: CurrentActor, link_id: int):
    return _link_read(request, portal.revoke_link(session, actor=actor, link_id=link_id, now=utcnow()))

