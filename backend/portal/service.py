"""Portal use cases: admins keep external parties and issue or revoke their links; a party (no
login, only the link's token) reads the order fields its flow node grants, saves the editable ones
through the order pipeline, and completes the node.

Every refusal that could tell a stranger something — a malformed, unknown, expired or revoked
token, an order the party holds no link for, a node that is no longer given to the party — is the
same `portal.not_found` with no params, so the pages answer the same 404 for all of them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
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
from backend.flows.service_system import _open_at, complete_node
from backend.inbox.fields import _designed_field_specs
from backend.notify.models import ChannelConfig
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderUpdate
from backend.portal.models import ExternalParty, PortalLink
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
REMIND_AFTER = timedelta(hours=20)  # the first reminder the day after the link was issued, then daily
DATA_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def not_found() -> GendanError:
    return GendanError("portal.not_found")


def party_actor(party: ExternalParty) -> Actor:
    """Who acts when a party saves: no user of ours (user 0, like the system), named after the party,
    so the order's timeline, the flow history and the audit trail say which company did it. The
    admin role only lets the order service through; the portal service has scoped the order already."""
    return Actor(user_id=0, username=f"portal:{party.id}", display_name=f"{party.name} ({party.kind}, portal)",
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


def _grants_party(grant: NodeGrant | None, party: ExternalParty, order: Order) -> bool:
    if grant is None or grant.external.kind != party.kind:
        return False
    if party.kind == "customer":
        return party.customer_id == order.customer_id and grant.external.party_id in (None, party.id)
    return grant.external.party_id == party.id


def issue_link(session: Session, *, actor: Actor, party_id: int, order_id: int | None, node_key: str | None,
               days: int, now: datetime, base_url: str = "") -> PortalLink:
    """A new link: for one order's node (the node must be given to this party) or, with neither,
    the party's inbox. The party is told by e-mail through the outbox when it has an address."""
    _require_admin(actor)
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
        if not node_key or not _grants_party(node_grant(session, order, node_key), party, order):
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
    _tell_party(session, party, link, order, base_url=base_url, now=now)
    session.commit()
    return link


def _tell_party(session: Session, party: ExternalParty, link: PortalLink, order: Order | None, *, base_url: str,
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


def remind_parties(bind, now: datetime, *, base_url: str | None = None, limit: int = 500) -> int:
    """Worker job: a daily reminder (e-mail / robot, through the outbox) for every live order link
    whose step still waits for its party. Returns how many messages were queued."""
    from backend.settings import get_settings

    base = base_url if base_url is not None else get_settings().public_base_url
    queued = 0
    from backend.db import new_session

    with new_session(bind) as session:
        links = session.exec(select(PortalLink).where(
            PortalLink.order_id.is_not(None), PortalLink.revoked_at.is_(None), PortalLink.expires_at > now,
            PortalLink.created_at <= now - REMIND_AFTER).order_by(PortalLink.id).limit(limit)).scalars().all()
        for link in links:
            party = session.get(ExternalParty, link.party_id)
            order = session.get(Order, link.order_id)
            if party is None or not party.is_active or order is None:
                continue
            grant = node_grant(session, order, link.node_key or "")
            if not _grants_party(grant, party, order) or not grant.is_open:
                continue
            queued += _tell_party(session, party, link, order, base_url=base, now=now, reminder=True)
        session.commit()
    return queued


AUTO_WINDOW = timedelta(minutes=10)


def _external_definitions(session: Session) -> dict[int, dict[str, dict]]:
    """Flow definition rows (published or retired: running orders keep theirs) that give a node to
    an external party: {definition id: {node key: external}}. Definitions are few; read them once."""
    from backend.flows.models import FlowDefinitionRow

    out: dict[int, dict[str, dict]] = {}
    rows = session.exec(select(FlowDefinitionRow.id, FlowDefinitionRow.definition)
                        .where(FlowDefinitionRow.status != "draft")).all()
    for row_id, definition in rows:
        nodes = {n.get("key"): n["external"] for n in (definition or {}).get("nodes", ())
                 if isinstance(n, dict) and isinstance(n.get("external"), dict)}
        if nodes:
            out[row_id] = nodes
    return out


def _party_for(session: Session, external: dict, order: Order) -> ExternalParty | None:
    if external.get("kind") == "customer":
        return session.exec(select(ExternalParty).where(
            ExternalParty.kind == "customer", ExternalParty.customer_id == order.customer_id,
            ExternalParty.is_active.is_(True)).order_by(ExternalParty.id)).scalars().first()
    party = session.get(ExternalParty, external.get("party_id") or 0)
    return party if party is not None and party.is_active and party.kind == external.get("kind") else None


def issue_due_links(bind, now: datetime, *, base_url: str | None = None, window: timedelta = AUTO_WINDOW,
                    limit: int = 1000) -> int:
    """Worker job: when a flow reaches a node given to an external party, the party gets its link
    (and the e-mail / robot message) without anyone issuing it: running flow instances changed in
    the last `window` whose open step is external and has no live link for its party. Returns how
    many links were issued."""
    from backend.db import new_session
    from backend.settings import get_settings

    base = base_url if base_url is not None else get_settings().public_base_url
    issued = 0
    with new_session(bind) as session:
        definitions = _external_definitions(session)
        if not definitions:
            return 0
        instances = session.exec(select(FlowInstance).where(
            FlowInstance.status == "running", FlowInstance.definition_id.in_(sorted(definitions)),
            FlowInstance.updated_at >= now - window).order_by(FlowInstance.id).limit(limit)).scalars().all()
        for instance in instances:
            state = FlowState.from_json(instance.state)
            order = None
            for node_key, external in definitions[instance.definition_id].items():
                if not _open_at(state, node_key):
                    continue
                order = order or session.get(Order, instance.order_id)
                party = _party_for(session, external, order) if order is not None else None
                if party is None or _link_exists(session, party.id, order.id, node_key):
                    continue
                link = PortalLink(party_id=party.id, order_id=order.id, node_key=node_key, token=new_token(),
                                  created_at=now, expires_at=now + timedelta(days=DEFAULT_DAYS))
                session.add(link)
                session.flush()
                audit.record(session, None, "portal_link", link.id, "issue", {},
                             {"party_id": party.id, "order_id": order.id, "node_key": node_key,
                              "expires_at": link.expires_at, "by": "flow"}, now)
                orders_service.record_event(session, order, type="updated", actor=None, now=now, actor_label="system",
                                            after={"portal_link": "issued", "party": party.name, "node": node_key})
                _tell_party(session, party, link, order, base_url=base, now=now)
                issued += 1
        session.commit()
    return issued


def _link_exists(session: Session, party_id: int, order_id: int, node_key: str) -> bool:
    """Any link, live or not: a link an admin revoked is not handed out again behind their back (they
    issue a new one on the admin page)."""
    return session.exec(select(PortalLink.id).where(
        PortalLink.party_id == party_id, PortalLink.order_id == order_id,
        PortalLink.node_key == node_key).limit(1)).first() is not None


def revoke_link(session: Session, *, actor: Actor, link_id: int, now: datetime) -> PortalLink:
    _require_admin(actor)
    link = session.get(PortalLink, link_id)
    if link is None:
        raise GendanError("portal.link_not_found", {"id": link_id})
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


# --- the party ----------------------------------------------------------------------------------------

@dataclass
class Access:
    party: ExternalParty
    link: PortalLink
    order: Order | None = None
    grant: NodeGrant | None = None


def _is_live(link: PortalLink | None, now: datetime) -> bool:
    return link is not None and link.revoked_at is None and link.expires_at > now


def resolve(session: Session, token: str, now: datetime, *, order_id: int | None = None,
            for_update: bool = False) -> Access:
    """The party, its link and (for an order link, or an inbox link opening `order_id`) the order
    and the node it may act on; `portal.not_found` for anything else."""
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise not_found()
    link = session.exec(select(PortalLink).where(PortalLink.token == token)).scalars().first()
    if not _is_live(link, now):
        raise not_found()
    party = session.get(ExternalParty, link.party_id)
    if party is None or not party.is_active:
        raise not_found()
    order_link = link
    if link.order_id is None:
        if order_id is None:
            return Access(party=party, link=link)
        # an inbox link opens an order only through a live order link of the same party
        order_link = session.exec(select(PortalLink).where(
            PortalLink.party_id == party.id, PortalLink.order_id == order_id, PortalLink.revoked_at.is_(None),
            PortalLink.expires_at > now).order_by(PortalLink.id.desc())).scalars().first()
        if order_link is None:
            raise not_found()
    elif order_id is not None and order_id != link.order_id:
        raise not_found()
    stmt = select(Order).where(Order.id == order_link.order_id)
    order = session.exec(stmt.with_for_update() if for_update else stmt).scalars().first()
    if order is None:
        raise not_found()
    grant = node_grant(session, order, order_link.node_key or "")
    if not _grants_party(grant, party, order):
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


def _touch(session: Session, link: PortalLink, now: datetime) -> None:
    if link.last_used_at is None or link.last_used_at < now - timedelta(minutes=5):
        link.last_used_at = now  # not on every read: a write takes SQLite's lock


def view(session: Session, *, token: str, now: datetime, order_id: int | None = None) -> PortalView:
    access = resolve(session, token, now, order_id=order_id)
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


def inbox(session: Session, *, token: str, now: datetime, limit: int = 100) -> tuple[ExternalParty, list[InboxRow]]:
    """The party's orders (live order links), those waiting for them first."""
    access = resolve(session, token, now)
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
        if order is None or not _grants_party(grant, party, order):
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


def submit(session: Session, *, token: str, values: dict[str, Any], now: datetime, order_id: int | None = None,
           finish: bool = False) -> PortalView:
    """The party saves the node's editable fields (only those: any other field is refused, not
    ignored) through the order pipeline as itself, then, when the node's done field reached its
    mark (or the party pressed Done), completes the node as itself. One transaction."""
    access = resolve(session, token, now, order_id=order_id)
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
    actor = party_actor(party)
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
                  "finish": finish}, now)
    if finish or _reached_done(access.grant.external, order):
        note = i18n.gettext("Done by %(party)s through the portal", party=party.name)
        complete_node(session, order=order, node_key=access.grant.node_key, actor=actor, now=now, note=note)
    _touch(session, access.link, now)
    session.commit()
    session.refresh(order)
    return _view_of(session, Access(party=party, link=access.link, order=order,
                                    grant=node_grant(session, order, access.grant.node_key)))


def _reached_done(external: ExternalAccess, order: Order) -> bool:
    if not external.done_field:
        return False
    path = external.done_field
    value = (order.data or {}).get(path[5:]) if path.startswith("data.") else getattr(order, path, None)
    try:
        return value is not None and not isinstance(value, bool) and float(value) >= external.done_at
    except (TypeError, ValueError):
        return False
