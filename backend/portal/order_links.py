"""The portal links of one order, as the staff order page shows them ("Outside parties"): who may
see them (whoever may see the order), who may copy, revoke and issue them (admins and the order's
owner), and which open step given to an outside party has no live link yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.flows.models import FlowInstance
from backend.flows.service_instance import _definition
from backend.flows.service_system import _open_at
from backend.inbox.fields import _designed_field_specs
from backend.orders.access import get_visible_order
from backend.orders.models import Order
from backend.portal import service as portal
from backend.portal.models import ExternalParty, PortalLink
from backend.portal.order_party import party_for
from engine.flows import FlowState
from engine.flows.definition import ExternalAccess

MAX_LINKS = 50


@dataclass
class LinkRow:
    id: int
    party_name: str
    kind: str
    node_key: str
    node_name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    state: str  # live / expired / revoked / moved (live, but the order's field now names another company)
    token: str | None  # only for those who may copy it


@dataclass
class Issuable:
    node_key: str
    node_name: str
    party_id: int
    party_name: str
    kind: str


@dataclass
class NoParty:
    """An open step given to the order's own supplier or carrier for which no company is found:
    the panel says why rather than staying silent (order_party.NO_PARTY_REASONS)."""

    node_key: str
    node_name: str
    kind: str
    field: str  # the field's label
    value: str
    reason: str


@dataclass
class OrderLinks:
    order_id: int
    can_manage: bool
    links: list[LinkRow]
    issuable: list[Issuable]
    no_party: list[NoParty] = field(default_factory=list)


def can_manage(actor: Actor, order: Order) -> bool:
    return actor.is_admin or (actor.user_id and order.owner_id == actor.user_id and actor.can_write)


def _name(names: dict | None, key: str) -> str:
    names = names or {}
    wanted = "zh-CN" if i18n.get_locale().startswith("zh") else "en"
    return names.get(wanted) or next(iter(names.values()), "") or key


def state_of(link: PortalLink, now: datetime) -> str:
    if link.revoked_at is not None:
        return "revoked"
    return "expired" if link.expires_at <= now else "live"


def _open_external_steps(session: Session, order: Order) -> list[tuple[str, str, ExternalAccess]]:
    """(node key, node name, external) of each open step of the order's running flows that is given
    to an outside party."""
    out = []
    instances = session.exec(select(FlowInstance).where(FlowInstance.order_id == order.id,
                                                        FlowInstance.status == "running")
                             .order_by(FlowInstance.id.desc()).limit(20)).scalars().all()
    for instance in instances:
        state = FlowState.from_json(instance.state)
        for node in _definition(session, instance).nodes:
            external = getattr(node, "external", None)
            if external is not None and _open_at(state, node.key):
                out.append((node.key, _name(node.name, node.key), external))
    return out


def order_links(session: Session, *, actor: Actor, order_id: int, now: datetime) -> OrderLinks:
    """The panel's view model; `order.not_found` when the actor may not see the order."""
    order = get_visible_order(session, actor, order_id)
    manage = bool(can_manage(actor, order))
    links = session.exec(select(PortalLink).where(PortalLink.order_id == order.id)
                         .order_by(PortalLink.id.desc()).limit(MAX_LINKS)).scalars().all()
    parties = {}
    party_ids = sorted({link.party_id for link in links})
    if party_ids:
        parties = {p.id: p for p in session.exec(select(ExternalParty).where(ExternalParty.id.in_(party_ids))).scalars()}
    steps = _open_external_steps(session, order)
    names = {key: name for key, name, _ in steps}
    externals = {key: external for key, _, external in steps}
    # each open step's company on this order, worked out once for the links and the issuable steps
    resolved = {key: party_for(session, external, order) for key, _, external in steps}
    rows = []
    for link in links:
        party = parties.get(link.party_id)
        node_name = names.get(link.node_key or "")
        state = state_of(link, now)
        if node_name is None:
            grant = portal.node_grant(session, order, link.node_key or "")
            node_name = _name(grant.name if grant else None, link.node_key or "")
        external = externals.get(link.node_key or "")
        if (state == "live" and party is not None and external is not None and external.party_field
                and getattr(resolved[link.node_key or ""].party, "id", None) != party.id):
            state = "moved"  # the order's field names another company now: this link opens nothing
        rows.append(LinkRow(id=link.id, party_name=party.name if party else "?", kind=party.kind if party else "?",
                            node_key=link.node_key or "", node_name=node_name, created_at=link.created_at,
                            expires_at=link.expires_at, last_used_at=link.last_used_at, state=state,
                            token=link.token if manage else None))
    issuable, no_party = [], []
    labels = None
    for key, name, external in steps:
        found = resolved[key]
        party = found.party
        if party is None:
            if external.party_field:
                labels = labels if labels is not None else _designed_field_specs(session, order.id)
                label = labels.get(external.party_field[5:], (external.party_field,))[0]
                no_party.append(NoParty(node_key=key, node_name=name, kind=external.kind, field=label,
                                        value=found.value, reason=found.reason or "no_match"))
            continue
        if any(r.state == "live" and r.node_key == key and links[i].party_id == party.id
               for i, r in enumerate(rows)):
            continue
        issuable.append(Issuable(node_key=key, node_name=name, party_id=party.id, party_name=party.name,
                                 kind=party.kind))
    return OrderLinks(order_id=order.id, can_manage=manage, links=rows, issuable=issuable if manage else [],
                      no_party=no_party)


def _managed_order(session: Session, actor: Actor, order_id: int) -> Order:
    order = get_visible_order(session, actor, order_id)
    if not can_manage(actor, order):
        raise GendanError("auth.forbidden")
    return order


def revoke(session: Session, *, actor: Actor, order_id: int, link_id: int, now: datetime) -> PortalLink:
    """Revoke one of the order's links (admins and the order's owner); the audit row is the one
    Admin → Portal writes."""
    order = _managed_order(session, actor, order_id)
    link = session.get(PortalLink, link_id)
    if link is None or link.order_id != order.id:
        raise GendanError("portal.link_not_found", {"id": link_id})
    return portal.revoke_unchecked(session, actor=actor, link=link, now=now)


def issue(session: Session, *, actor: Actor, order_id: int, node_key: str, now: datetime,
          base_url: str = "") -> PortalLink:
    """Issue the link of an open step given to an outside party that has no live link (admins and
    the order's owner); the party is told as when an admin issues it."""
    order = _managed_order(session, actor, order_id)
    step = next((s for s in _open_external_steps(session, order) if s[0] == node_key), None)
    party = party_for(session, step[2], order).party if step is not None else None
    if party is None:
        raise GendanError("portal.node_not_granted", {"node": node_key[:64], "name": "-"})
    live = session.exec(select(PortalLink.id).where(
        PortalLink.order_id == order.id, PortalLink.party_id == party.id, PortalLink.node_key == node_key,
        PortalLink.revoked_at.is_(None), PortalLink.expires_at > now).limit(1)).first()
    if live is not None:
        raise GendanError("portal.link_exists", {"name": party.name})
    return portal.issue_link_unchecked(session, actor=actor, party_id=party.id, order_id=order.id,
                                       node_key=node_key, days=portal.DEFAULT_DAYS, now=now, base_url=base_url)
