"""Portal use cases of the admins: external parties, and the links they issue or revoke; plus what
a flow node gives a party (`node_grant`), which the party's side (access.py) and the worker jobs
(tasks.py) share."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend import i18n
from backend.audit import service as audit
from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.flows.models import FlowInstance
from backend.flows.service_instance import _definition
from backend.flows.service_system import _open_at
from backend.notify.models import ChannelConfig
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.portal.models import ExternalParty, PortalLink
from backend.portal.order_party import names_party
from engine.flows import FlowState
from engine.flows.definition import ExternalAccess

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 random bytes, url-safe base64 without padding
PARTY_KINDS = ("supplier", "carrier", "customer")


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated where it is shown."""
    return message


KIND_LABELS = {"supplier": N_("Supplier"), "carrier": N_("Carrier"), "customer": N_("Customer")}
DEFAULT_DAYS = 14
MAX_DAYS = 180
MAX_VALUE_LENGTH = 2000
# core columns a node may show to a party (by name in field_permissions); only planned_delivery is editable
CORE_READABLE = ("number", "planned_delivery", "currency", "amount", "stage")
CORE_EDITABLE = ("planned_delivery",)
CORE_LABELS = {"number": N_("Order number"), "planned_delivery": N_("Planned delivery"), "currency": N_("Currency"),
               "amount": N_("Amount"), "stage": N_("Stage")}
ROBOT_KINDS = ("dingtalk", "wecom", "feishu")
DATA_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def not_found() -> GendanError:
    return GendanError("portal.not_found")


def party_actor(party: ExternalParty, *, person: str | None = None) -> Actor:
    """Who acts when a party saves: no user of ours (user 0, like the system), named after the party,
    so the order's timeline, the flow history and the audit trail say which company did it. The
    admin role only lets the order service through; the portal service has scoped the order already."""
    name = f"{person}, {party.name}" if person else party.name
    return Actor(user_id=0, username=f"portal:{party.id}", display_name=f"{name} ({party.kind}, portal)",
                 roles=frozenset({"admin"}), via="portal", extra={"party_id": party.id})


# --- admin: parties --------------------------------------------------------------------------------

PARTY_FIELDS = ("kind", "name", "contact_name", "email", "phone", "locale", "customer_id", "robot_channel_id",
                "is_active")


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")


def _clean_party(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    out = {k: values[k] for k in PARTY_FIELDS if k in values}
    fields = {}
    if "kind" in out and out["kind"] not in PARTY_KINDS:
        fields["kind"] = ("portal.party_kind_invalid", {"kind": str(out["kind"])[:20]})
    for name, limit in (("name", 200), ("contact_name", 100), ("email", 200), ("phone", 40)):
        if name in out:
            out[name] = str(out[name] or "").strip()
            if len(out[name]) > limit:
                fields[name] = ("field.string_too_long", {"max_length": limit})
    if "name" in out and not out["name"]:
        fields["name"] = ("field.missing", {"field": "name"})
    if out.get("email") and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", out["email"]):
        fields["email"] = ("portal.email_invalid", {})
    if "locale" in out and out["locale"] not in ("zh_CN", "en"):
        out["locale"] = "zh_CN"
    if out.get("customer_id") is not None and session.get(Customer, out["customer_id"]) is None:
        fields["customer_id"] = ("customer.not_found", {"id": out["customer_id"]})
    if out.get("robot_channel_id") is not None:
        channel = session.get(ChannelConfig, out["robot_channel_id"])
        if channel is None or channel.kind not in ROBOT_KINDS:
            fields["robot_channel_id"] = ("portal.robot_invalid", {})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)
    return out


def create_party(session: Session, *, actor: Actor, values: dict[str, Any], now: datetime) -> ExternalParty:
    _require_admin(actor)
    clean = _clean_party(session, {"kind": values.get("kind"), "name": values.get("name"), **values})
    party = ExternalParty(**clean, created_at=now)
    session.add(party)
    session.flush()
    audit.record(session, actor, "external_party", party.id, "create", {}, audit.snapshot(party, PARTY_FIELDS), now)
    session.commit()
    return party


def update_party(session: Session, *, actor: Actor, party_id: int, values: dict[str, Any],
                 now: datetime) -> ExternalParty:
    _require_admin(actor)
    party = session.get(ExternalParty, party_id)
    if party is None:
        raise GendanError("portal.party_not_found", {"id": party_id})
    before = audit.snapshot(party, PARTY_FIELDS)
    for key, value in _clean_party(session, values).items():
        setattr(party, key, value)
    audit.record(session, actor, "external_party", party.id, "update", before, audit.snapshot(party, PARTY_FIELDS),
                 now)
    session.commit()
    return party


def list_parties(session: Session, *, actor: Actor) -> list[ExternalParty]:
    _require_admin(actor)
    return list(session.exec(select(ExternalParty).order_by(ExternalParty.kind, ExternalParty.name)).scalars())


# --- admin: links ----------------------------------------------------------------------------------

@dataclass
class NodeGrant:
    """What a node gives a party on one order: the node, whether its step is still waiting."""

    node_key: str
    name: dict[str, str]
    external: ExternalAccess
    permissions: dict[str, str]
    is_open: bool


def node_grant(session: Session, order: Order, node_key: str) -> NodeGrant | None:
    """The node `node_key` of the order's flow (the newest instance that has it) when it is given
    to an external party; None otherwise."""
    instances = session.exec(select(FlowInstance).where(FlowInstance.order_id == order.id)
                             .order_by(FlowInstance.id.desc()).limit(20)).scalars().all()
    for instance in instances:
        defn = _definition(session, instance)
        node = defn.nodes_by_key.get(node_key)
        external = getattr(node, "external", None)
        if node is None or external is None:
            continue
        is_open = instance.status == "running" and _open_at(FlowState.from_json(instance.state), node_key)
        return NodeGrant(node_key=node_key, name=dict(node.name or {}), external=external,
                         permissions=dict(node.field_permissions or {}), is_open=is_open)
    return None


def grants_party(session: Session, grant: NodeGrant | None, party: ExternalParty, order: Order) -> bool:
    """Whether the node gives this order to `party` now: for a step given to the order's own
    supplier (`party_field`) the order's field is read again, so an old link of a company the
    order no longer names grants nothing."""
    return grant is not None and names_party(session, grant.external, order, party)


def issue_link(session: Session, *, actor: Actor, party_id: int, order_id: int | None, node_key: str | None,
               days: int, now: datetime, base_url: str = "") -> PortalLink:
    """A new link: for one order's node (the node must be given to this party) or, with neither,
    the party's inbox. The party is told by e-mail through the outbox when it has an address."""
    _require_admin(actor)
    return issue_link_unchecked(session, actor=actor, party_id=party_id, order_id=order_id, node_key=node_key,
                                days=days, now=now, base_url=base_url)


def issue_link_unchecked(session: Session, *, actor: Actor, party_id: int, order_id: int | None,
                         node_key: str | None, days: int, now: datetime, base_url: str = "") -> PortalLink:
    """`issue_link` once the caller has checked who may issue (an admin; or the order's owner from the
    order page, backend/portal/order_links.py)."""
    party = session.get(ExternalParty, party_id)
    if party is None:
        raise GendanError("portal.party_not_found", {"id": party_id})
    if not party.is_active:
        raise GendanError("portal.party_inactive", {"name": party.name})
    if not 1 <= days <= MAX_DAYS:
        raise GendanError("portal.days_invalid", {"max": MAX_DAYS})
    order = None
    if order_id is not None or node_key:
        order = session.get(Order, order_id) if order_id is not None else None
        if order is None:
            raise GendanError("order.not_found", {"id": order_id})
        if not node_key or not grants_party(session, node_grant(session, order, node_key), party, order):
            raise GendanError("portal.node_not_granted", {"node": (node_key or "")[:64], "name": party.name})
    link = PortalLink(party_id=party.id, order_id=order.id if order else None, node_key=node_key if order else None,
                      token=new_token(), created_at=now, expires_at=now + timedelta(days=days),
                      created_by_id=actor.user_id or None)
    session.add(link)
    session.flush()
    audit.record(session, actor, "portal_link", link.id, "issue", {},
                 {"party_id": party.id, "order_id": link.order_id, "node_key": link.node_key,
                  "expires_at": link.expires_at}, now)
    if order is not None:
        orders_service.record_event(session, order, type="updated", actor=actor, now=now,
                                    after={"portal_link": "issued", "party": party.name, "node": node_key})
    tell_party(session, party, link, order, base_url=base_url, now=now)
    session.commit()
    return link


def tell_party(session: Session, party: ExternalParty, link: PortalLink, order: Order | None, *, base_url: str,
                now: datetime, reminder: bool = False) -> int:
    """Queue the party's message about a link in the outbox (e-mail, and their chat robot when they
    have one), in their language; once per link (and per day for reminders: the dedupe key)."""
    if not party.email and party.robot_channel_id is None:
        return 0
    from backend.effects import enqueue

    url = f"{base_url.rstrip('/')}/p/{link.token}"
    token = i18n.set_locale(party.locale or "zh_CN")
    try:
        if order is not None and reminder:
            subject = i18n.gettext("Reminder: order %(number)s is still waiting for you", number=order.number)
        elif order is not None:
            subject = i18n.gettext("Order %(number)s is waiting for you", number=order.number)
        else:
            subject = i18n.gettext("Your orders with us")
        body = "\n".join([subject, i18n.gettext("Open: %(url)s", url=url),
                          i18n.gettext("The link is valid until %(date)s.", date=link.expires_at.date().isoformat())])
    finally:
        i18n.reset_locale(token)
    key = f"portal:remind:{link.id}:{now.date().isoformat()}" if reminder else f"portal:link:{link.id}"
    queued = 0
    payload = {"link": url, "locale": party.locale}
    if party.email:
        queued += enqueue(session, dedupe_key=key, channel="email", recipient=party.email, subject=subject, body=body,
                          payload=payload, order_id=order.id if order else None, now=now) is not None
    robot = session.get(ChannelConfig, party.robot_channel_id) if party.robot_channel_id else None
    if robot is not None and robot.is_enabled:
        queued += enqueue(session, dedupe_key=f"{key}:robot", channel=robot.kind, recipient="", subject=subject,
                          body=body, payload={**payload, "config_id": robot.id},
                          order_id=order.id if order else None, now=now) is not None
    return queued


def revoke_link(session: Session, *, actor: Actor, link_id: int, now: datetime) -> PortalLink:
    _require_admin(actor)
    link = session.get(PortalLink, link_id)
    if link is None:
        raise GendanError("portal.link_not_found", {"id": link_id})
    return revoke_unchecked(session, actor=actor, link=link, now=now)


def revoke_unchecked(session: Session, *, actor: Actor, link: PortalLink, now: datetime) -> PortalLink:
    """Revoke once the caller has checked who may (the same audit row wherever it is done)."""
    if link.revoked_at is None:
        link.revoked_at = now
        audit.record(session, actor, "portal_link", link.id, "revoke", {"revoked_at": None}, {"revoked_at": now}, now)
    session.commit()
    return link


def list_links(session: Session, *, actor: Actor, party_id: int | None = None, limit: int = 200) -> list[PortalLink]:
    _require_admin(actor)
    stmt = select(PortalLink).order_by(PortalLink.id.desc()).limit(limit)
    if party_id is not None:
        stmt = stmt.where(PortalLink.party_id == party_id)
    return list(session.exec(stmt).scalars())
