"""Portal worker jobs: hand a party its link when a flow reaches the node given to it, and remind
it daily of a step still waiting. Each opens its own session on the assembled engine."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from backend.audit import service as audit
from backend.db import new_session
from backend.flows.models import FlowDefinitionRow, FlowInstance
from backend.flows.service_system import _open_at
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.portal import order_party
from backend.portal.models import ExternalParty, PortalLink
from backend.portal.service import DEFAULT_DAYS, grants_party, new_token, node_grant, tell_party
from engine.flows import FlowState
from engine.flows.definition import ExternalAccess

AUTO_WINDOW = timedelta(minutes=10)
REMIND_AFTER = timedelta(hours=20)  # the first reminder the day after the link was issued, then daily


def _base(base_url: str | None) -> str:
    from backend.settings import get_settings

    return base_url if base_url is not None else get_settings().public_base_url


def remind_parties(bind, now: datetime, *, base_url: str | None = None, limit: int = 500) -> int:
    """Worker job: a daily reminder (e-mail / robot, through the outbox) for every live order link
    whose step still waits for its party. Returns how many messages were queued."""
    base = _base(base_url)
    queued = 0
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
            if not grants_party(session, grant, party, order) or not grant.is_open:
                continue
            queued += tell_party(session, party, link, order, base_url=base, now=now, reminder=True)
        session.commit()
    return queued


def _external_definitions(session: Session) -> dict[int, dict[str, ExternalAccess]]:
    """Flow definition rows (published or retired: running orders keep theirs) that give a node to
    an external party: {definition id: {node key: external}}. Definitions are few; read them once."""
    out: dict[int, dict[str, ExternalAccess]] = {}
    rows = session.exec(select(FlowDefinitionRow.id, FlowDefinitionRow.definition)
                        .where(FlowDefinitionRow.status != "draft")).all()
    for row_id, definition in rows:
        nodes = {}
        for n in (definition or {}).get("nodes", ()):
            if isinstance(n, dict) and isinstance(n.get("external"), dict):
                try:
                    nodes[n.get("key")] = ExternalAccess.model_validate(n["external"])
                except ValidationError:  # a stored definition the engine would not load gives nobody a link
                    continue
        if nodes:
            out[row_id] = nodes
    return out


def issue_due_links(bind, now: datetime, *, base_url: str | None = None, window: timedelta = AUTO_WINDOW,
                    limit: int = 1000) -> int:
    """Worker job: when a flow reaches a node given to an external party, the party gets its link
    (and the e-mail / robot message) without anyone issuing it: running flow instances changed in
    the last `window` whose open step is external and has no link for its party. A step given to
    the order's own supplier (`party_field`): the field filled in, or changed to another company,
    after the flow reached the step changes the order, which stamps its running flow, so that
    company gets its link here too (the old one loses access by itself, access.py). Returns how
    many links were issued."""
    base = _base(base_url)
    issued = 0
    with new_session(bind) as session:
        definitions = _external_definitions(session)
        if not definitions:
            return 0
        order_party.cache_parties(session)
        # an order change steps its running flow (FieldsChanged, flows/service_instance.py), which
        # stamps the instance: a supplier field filled in or changed after the flow reached the step
        # is seen here without reading the order table
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
                party = order_party.party_for(session, external, order).party if order is not None else None
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
                tell_party(session, party, link, order, base_url=base, now=now)
                issued += 1
        session.commit()
    return issued


def _link_exists(session: Session, party_id: int, order_id: int, node_key: str) -> bool:
    """Any link, live or not: a link an admin revoked is not handed out again behind their back (they
    issue a new one on the admin page)."""
    return session.exec(select(PortalLink.id).where(
        PortalLink.party_id == party_id, PortalLink.order_id == order_id,
        PortalLink.node_key == node_key).limit(1)).first() is not None
