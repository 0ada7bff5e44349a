"""The party's side of the portal: what a link (or a portal user's company) may open, the fields the
node grants, and saving them through the order pipeline as the party.

Every refusal that could tell a stranger something — a malformed, unknown, expired or revoked
token, an order the party holds no link for, a node no longer given to the party — is the same
`portal.not_found` with no params, so the pages answer the same 404 for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend import i18n
from backend.audit import service as audit
from backend.errors import GendanError
from backend.flows.service_system import complete_node
from backend.inbox.fields import _designed_field_specs
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderUpdate
from backend.portal.models import ExternalParty, PortalLink
from backend.portal.service import (
    CORE_EDITABLE,
    CORE_LABELS,
    CORE_READABLE,
    DATA_KEY_RE,
    MAX_VALUE_LENGTH,
    TOKEN_RE,
    NodeGrant,
    grants_party,
    node_grant,
    not_found,
    party_actor,
)
from engine.flows.definition import ExternalAccess


@dataclass
class Access:
    party: ExternalParty
    link: PortalLink | None  # None: a signed-in portal user's inbox
    order: Order | None = None
    grant: NodeGrant | None = None
    user_id: int | None = None  # the signed-in portal user, when not a link


def _is_live(link: PortalLink | None, now: datetime) -> bool:
    return link is not None and link.revoked_at is None and link.expires_at > now


def resolve(session: Session, token: str | None, now: datetime, *, order_id: int | None = None,
            for_update: bool = False, user_id: int | None = None) -> Access:
    """The party, its link and (for an order link, or an inbox link opening `order_id`) the order
    and the node it may act on; with `user_id` instead of a token, a signed-in portal user's
    company, like its inbox link. `portal.not_found` for anything else."""
    if user_id is not None:
        from backend.portal.users import party_of

        _user, party = party_of(session, user_id)
        if order_id is None:
            return Access(party=party, link=None, user_id=user_id)
        return _through_party(session, party, order_id, now, for_update=for_update, user_id=user_id)
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise not_found()
    link = session.exec(select(PortalLink).where(PortalLink.token == token)).scalars().first()
    if not _is_live(link, now):
        raise not_found()
    party = session.get(ExternalParty, link.party_id)
    if party is None or not party.is_active:
        raise not_found()
    if link.order_id is None:
        if order_id is None:
            return Access(party=party, link=link)
        return _through_party(session, party, order_id, now, for_update=for_update)
    if order_id is not None and order_id != link.order_id:
        raise not_found()
    return _order_access(session, party, link, for_update=for_update)


def _through_party(session: Session, party: ExternalParty, order_id: int, now: datetime, *, for_update: bool,
                   user_id: int | None = None) -> Access:
    """An inbox (link or portal user) opens an order only through a live order link of its party."""
    order_link = session.exec(select(PortalLink).where(
        PortalLink.party_id == party.id, PortalLink.order_id == order_id, PortalLink.revoked_at.is_(None),
        PortalLink.expires_at > now).order_by(PortalLink.id.desc())).scalars().first()
    if order_link is None:
        raise not_found()
    access = _order_access(session, party, order_link, for_update=for_update)
    access.user_id = user_id
    return access


def _order_access(session: Session, party: ExternalParty, order_link: PortalLink, *, for_update: bool) -> Access:
    stmt = select(Order).where(Order.id == order_link.order_id)
    order = session.exec(stmt.with_for_update() if for_update else stmt).scalars().first()
    if order is None:
        raise not_found()
    grant = node_grant(session, order, order_link.node_key or "")
    if not grants_party(session, grant, party, order):
        raise not_found()
    return Access(party=party, link=order_link, order=order, grant=grant)


@dataclass
class FieldView:
    path: str  # data.<key> or a core column
    key: str
    label: str
    input_type: str  # text / number / date / textarea
    value: Any
    is_editable: bool


@dataclass
class PortalView:
    party_name: str
    party_kind: str
    locale: str
    order_id: int
    order_number: str
    node_name: str
    is_open: bool
    version: int
    fields: list[FieldView]
    expires_at: datetime


def granted_fields(session: Session, access: Access) -> list[FieldView]:
    """The fields the node names for the party, in the node's order; a field the node hides, or
    does not name, is never here."""
    order, grant = access.order, access.grant
    specs = _designed_field_specs(session, order.id)
    out = []
    for path, perm in grant.permissions.items():
        if perm not in ("editable", "read_only"):
            continue
        if path.startswith("data.") and DATA_KEY_RE.match(path[5:]):
            key = path[5:]
            # a field the order form does not know: the done field is a number (a percentage), the rest text
            label, kind = specs.get(key, (key, "number" if path == grant.external.done_field else "text"))
            value = (order.data or {}).get(key)
            out.append(FieldView(path, key, label, kind, value, perm == "editable"))
        elif path in CORE_READABLE:
            value = getattr(order, path)
            out.append(FieldView(path, path, i18n.gettext(CORE_LABELS[path]), "date" if path == "planned_delivery"
                                 else "text", value, perm == "editable" and path in CORE_EDITABLE))
    return out


def _node_name(grant: NodeGrant, locale: str) -> str:
    wanted = "zh-CN" if locale.startswith("zh") else "en"
    return grant.name.get(wanted) or next(iter(grant.name.values()), "") or grant.node_key


def _touch(session: Session, link: PortalLink | None, now: datetime) -> None:
    if link is None:
        return
    if link.last_used_at is None or link.last_used_at < now - timedelta(minutes=5):
        link.last_used_at = now  # not on every read: a write takes SQLite's lock


def view(session: Session, *, token: str | None, now: datetime, order_id: int | None = None,
         user_id: int | None = None) -> PortalView:
    access = resolve(session, token, now, order_id=order_id, user_id=user_id)
    if access.order is None:
        raise not_found()
    _touch(session, access.link, now)
    session.commit()
    return _view_of(session, access)


def _view_of(session: Session, access: Access) -> PortalView:
    locale = i18n.get_locale()
    return PortalView(party_name=access.party.name, party_kind=access.party.kind, locale=access.party.locale,
                      order_id=access.order.id, order_number=access.order.number,
                      node_name=_node_name(access.grant, locale), is_open=access.grant.is_open,
                      version=access.order.version, fields=granted_fields(session, access),
                      expires_at=access.link.expires_at)


@dataclass
class InboxRow:
    order_id: int
    order_number: str
    node_name: str
    is_open: bool
    expires_at: datetime


def inbox(session: Session, *, token: str | None, now: datetime, limit: int = 100,
          user_id: int | None = None) -> tuple[ExternalParty, list[InboxRow]]:
    """The party's orders (live order links), those waiting for them first."""
    access = resolve(session, token, now, user_id=user_id)
    party = access.party
    links = session.exec(select(PortalLink).where(
        PortalLink.party_id == party.id, PortalLink.order_id.is_not(None), PortalLink.revoked_at.is_(None),
        PortalLink.expires_at > now).order_by(PortalLink.id.desc()).limit(limit)).scalars().all()
    rows, seen = [], set()
    locale = i18n.get_locale()
    for link in links:
        if link.order_id in seen:
            continue
        seen.add(link.order_id)
        order = session.get(Order, link.order_id)
        grant = node_grant(session, order, link.node_key or "") if order else None
        if order is None or not grants_party(session, grant, party, order):
            continue
        rows.append(InboxRow(order.id, order.number, _node_name(grant, locale), grant.is_open, link.expires_at))
    rows.sort(key=lambda r: (not r.is_open, r.order_number))
    _touch(session, access.link, now)
    session.commit()
    return party, rows


def _parse(value: Any, input_type: str, key: str) -> Any:
    """A typed value from what the party sent (a form's strings or JSON): numbers as numbers, dates
    as ISO dates; empty is None. Raises validation.failed for the one field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (dict, list)):
        raise GendanError("validation.failed", {"count": 1}, status=422, fields={key: ("portal.value_invalid", {})})
    text = str(value).strip()
    if len(text) > MAX_VALUE_LENGTH:
        raise GendanError("validation.failed", {"count": 1}, status=422,
                          fields={key: ("field.string_too_long", {"max_length": MAX_VALUE_LENGTH})})
    try:
        if input_type == "number":
            number = Decimal(text)
            if not number.is_finite():
                raise InvalidOperation
            return int(number) if number == number.to_integral_value() else float(number)
        if input_type == "date":
            return date.fromisoformat(text[:10]).isoformat()
    except (InvalidOperation, ValueError):
        raise GendanError("validation.failed", {"count": 1}, status=422,
                          fields={key: ("portal.value_invalid", {})}) from None
    return text


def submit(session: Session, *, token: str | None, values: dict[str, Any], now: datetime,
           order_id: int | None = None, finish: bool = False, user_id: int | None = None) -> PortalView:
    """The party saves the node's editable fields (only those: any other field is refused, not
    ignored) through the order pipeline as itself, then, when the node's done field reached its
    mark (or the party pressed Done), completes the node as itself. One transaction."""
    access = resolve(session, token, now, order_id=order_id, user_id=user_id)
    if access.order is None:
        raise not_found()
    if not access.grant.is_open:
        raise GendanError("portal.step_closed")
    fields = {f.key: f for f in granted_fields(session, access)}
    editable = {k for k, f in fields.items() if f.is_editable}
    refused = sorted(k for k in values if k not in editable)
    if refused:
        raise GendanError("portal.field_not_granted", {"field": refused[0][:60]}, status=403)
    data, core = {}, {}
    for key, raw in values.items():
        parsed = _parse(raw, fields[key].input_type, key)
        if fields[key].path.startswith("data."):
            data[key] = parsed
        else:
            core[key] = parsed
    party, order = access.party, access.order
    person = None
    if access.user_id is not None:
        from backend.portal.models import PortalUser

        person = session.get(PortalUser, access.user_id)
    actor = party_actor(party, person=person.display_name if person else None)
    changed = {k: v for k, v in data.items() if (order.data or {}).get(k) != v}
    payload: dict[str, Any] = {"version": order.version}
    if changed:
        payload["data"] = changed
    if "planned_delivery" in core and core["planned_delivery"] != (
            order.planned_delivery.isoformat() if order.planned_delivery else None):
        payload["planned_delivery"] = core["planned_delivery"]
    if len(payload) > 1:
        orders_service.update_order(session, actor=actor, order_id=order.id, payload=OrderUpdate(**payload),
                                    now=now, via="portal", commit=False)
    audit.record(session, actor, "portal_link", access.link.id, "submit", {},
                 {"party_id": party.id, "order_id": order.id, "node_key": access.grant.node_key,
                  "fields": {**changed, **{k: v for k, v in payload.items() if k == "planned_delivery"}},
                  "finish": finish, **({"portal_user_id": access.user_id} if access.user_id else {})}, now)
    if finish or _reached_done(access.grant.external, order):
        note = i18n.gettext("Done by %(party)s through the portal", party=party.name)
        complete_node(session, order=order, node_key=access.grant.node_key, actor=actor, now=now, note=note)
    _touch(session, access.link, now)
    session.commit()
    session.refresh(order)
    return _view_of(session, Access(party=party, link=access.link, order=order,
                                    grant=node_grant(session, order, access.grant.node_key), user_id=access.user_id))


def _reached_done(external: ExternalAccess, order: Order) -> bool:
    if not external.done_field:
        return False
    path = external.done_field
    value = (order.data or {}).get(path[5:]) if path.startswith("data.") else getattr(order, path, None)
    try:
        return value is not None and not isinstance(value, bool) and float(value) >= external.done_at
    except (TypeError, ValueError):
        return False
