"""Tracking use cases: staff make and revoke a customer's link and record the shipment; the
customer (no login, only the token) reads milestones, urges (催单, rate-limited) and unsubscribes.

A token that is malformed, unknown or revoked gives the same `tracking.not_found`, so the page
cannot be used to probe which links exist.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.effects import apply_effects
from backend.errors import GendanError
from backend.inbox import service_customer as customer_todos
from backend.orders import access
from backend.orders import service as orders_service
from backend.orders.models import Order, OrderEvent
from backend.orders.schemas import OrderUpdate
from backend.people.models import User
from backend.pipeline import OrderChange
from backend.rules import firing as rules_firing
from backend.tracking import milestones as ms
from backend.tracking.models import MilestoneSetting, TrackingLink
from engine import effects as fx

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 random bytes, url-safe base64 without padding
URGE_INTERVAL = timedelta(hours=1)


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


# --- staff -----------------------------------------------------------------------------------------

def get_active_link(session: Session, order_id: int) -> TrackingLink | None:
    return session.exec(select(TrackingLink).where(TrackingLink.order_id == order_id, TrackingLink.revoked_at.is_(None))
                        .order_by(TrackingLink.id.desc())).scalars().first()


def create_link(session: Session, *, actor: Actor, order_id: int, now: datetime) -> TrackingLink:
    """The order's tracking link (made once; the existing active one is returned)."""
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    order = access.get_visible_order(session, actor, order_id, for_update=True)
    link = get_active_link(session, order.id) or _new_link(session, order, actor=actor, now=now)
    session.commit()
    return link


def _new_link(session: Session, order: Order, *, actor: Actor | None, now: datetime) -> TrackingLink:
    link = TrackingLink(order_id=order.id, token=new_token(), created_at=now,
                        created_by_id=actor.user_id if actor and actor.user_id else None)
    session.add(link)
    session.flush()
    return link


def revoke_link(session: Session, *, actor: Actor, order_id: int, now: datetime) -> int:
    """Revoke every active link of the order (a new one can be made afterwards). Returns how many."""
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    order = access.get_visible_order(session, actor, order_id, for_update=True)
    links = session.exec(select(TrackingLink).where(TrackingLink.order_id == order.id,
                                                    TrackingLink.revoked_at.is_(None))).scalars().all()
    for link in links:
        link.revoked_at = now
    if links:
        orders_service.record_event(session, order, type="updated", actor=actor, now=now,
                                    after={"tracking_link": "revoked"})
    session.commit()
    return len(links)


def record_shipment(session: Session, *, actor: Actor, order_id: int, version: int, carrier: str,
                    tracking_no: str, now: datetime):
    """Staff enter the carrier and tracking number; the order's hooks tell the customer."""
    fields = {}
    if not tracking_no.strip():
        fields["tracking_no"] = ("field.missing", {"field": "tracking_no"})
    if len(carrier) > 80 or len(tracking_no) > 80:
        fields["tracking_no" if len(tracking_no) > 80 else "carrier"] = ("field.string_too_long", {"max_length": 80})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)
    data = {"carrier": carrier.strip(), "tracking_no": tracking_no.strip()}
    return orders_service.update_order(session, actor=actor, order_id=order_id, now=now,
                                       payload=OrderUpdate(version=version, data=data))


def notified_milestones(session: Session) -> set[str]:
    rows = session.exec(select(MilestoneSetting)).scalars().all()
    if not rows:
        return set(ms.DEFAULT_NOTIFIED)
    return {r.milestone for r in rows if r.is_notified}


def save_notified_milestones(session: Session, *, actor: Actor, milestones: set[str]) -> set[str]:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")
    unknown = milestones - set(ms.MILESTONES)
    if unknown:
        raise GendanError("tracking.unknown_milestone", {"milestone": sorted(unknown)[0]}, status=422)
    for milestone in ms.MILESTONES:
        row = session.get(MilestoneSetting, milestone) or MilestoneSetting(milestone=milestone)
        row.is_notified = milestone in milestones
        session.add(row)
    session.commit()
    return notified_milestones(session)


# --- the order hook: tell the customer at the chosen milestones ------------------------------------

def on_order_change(session: Session, change: OrderChange) -> None:
    """Customer-messages stage of the order pipeline: queue a customer message for every chosen
    milestone this change reached (once per order and milestone: the outbox dedupe key), whoever
    made the change (a person, an import, a flow's step)."""
    _tell_customer(session, change, lambda: notified_milestones(session))


def on_order_changes(session: Session, changes: list[OrderChange]) -> None:
    """The same stage for many changes (the bulk import): the chosen milestones are read once."""
    notified: set[str] | None = None

    def chosen() -> set[str]:
        nonlocal notified
        if notified is None:
            notified = notified_milestones(session)
        return notified

    for change in changes:
        _tell_customer(session, change, chosen)


def _tell_customer(session: Session, change: OrderChange, chosen) -> None:
    order, now = change.order, change.now
    after = {"stage": order.stage, "status": order.status, "data": order.data}
    before = {"stage": "", "status": "open", "data": {}} if change.is_new else {
        k: change.before[k] for k in ("stage", "status", "data")}
    if before == after:
        return
    if change.is_new and order.status != "open":
        # an order created closed (an imported cancelled or completed row) is over before the
        # customer hears of it: not even "received" is news
        return
    if change.is_new:
        # an order created already shipped or invoiced (an import of history, an ERP migration)
        # brings its past with it: only "received" is news to the customer. (Every order has
        # "received" from the start, so comparing with an empty order would never find it new.)
        wanted = ["received"] if "received" in chosen() else []
    else:
        wanted = [m for m in ms.newly_reached(before, after) if m in chosen()]
    if not wanted:
        return
    customer = session.get(Customer, order.customer_id)
    if customer is None or customer.is_unsubscribed:
        return
    link = get_active_link(session, order.id) or _new_link(session, order, actor=None, now=now)
    from backend.settings import get_settings

    url = f"{get_settings().public_base_url}/t/{link.token}"
    token = i18n.set_locale(customer.preferred_locale or "zh_CN")
    try:
        effects = [fx.MessageCustomer(dedupe_key=f"milestone:{order.id}:{m}",
                                      subject=_milestone_subject(m, order),
                                      body=_milestone_body(m, order, url)) for m in wanted]
    finally:
        i18n.reset_locale(token)
    apply_effects(session, effects, order=order, actor=None, now=now, source="rule")
    # the link goes into the outbox payload, so the e-mail template renders the button
    from backend.notify.models import OutboxMessage

    for effect in effects:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == effect.dedupe_key)).scalars().first()
        if row is not None and not row.payload.get("link"):
            row.payload = {**row.payload, "link": url}


def _milestone_subject(milestone: str, order: Order) -> str:
    return i18n.gettext("Order %(number)s: %(milestone)s", number=order.number,
                        milestone=i18n.gettext(ms.LABELS[milestone]))


def _milestone_body(milestone: str, order: Order, url: str) -> str:
    lines = [i18n.gettext("Your order %(number)s has reached a new step: %(milestone)s.", number=order.number,
                          milestone=i18n.gettext(ms.LABELS[milestone]))]
    if milestone == "shipped" and order.data.get("tracking_no"):
        lines.append(i18n.gettext("Carrier: %(carrier)s, tracking number: %(no)s",
                                  carrier=order.data.get("carrier") or "-", no=order.data["tracking_no"]))
    lines.append(i18n.gettext("Follow your order: %(url)s", url=url))
    lines.append(i18n.gettext("To stop these messages, open the link and choose Unsubscribe."))
    return "\n".join(lines)


# --- the customer ----------------------------------------------------------------------------------

@dataclass
class MilestoneView:
    key: str
    label: str
    is_done: bool
    is_current: bool
    at: datetime | None = None


@dataclass
class TrackingView:
    token: str
    order_number: str
    customer_name: str
    locale: str
    stage: str
    status: str
    milestones: list[MilestoneView]
    carrier: str | None
    tracking_no: str | None
    planned_delivery: date | None
    rep_name: str | None
    rep_phone: str | None
    rep_email: str | None
    is_unsubscribed: bool
    urge_count: int
    last_urged_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    messages: list[Any] = field(default_factory=list)  # messages.MessageView, oldest first


def _link_for(session: Session, token: str, *, for_update: bool = False) -> tuple[TrackingLink, Order]:
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise GendanError("tracking.not_found")
    link = session.exec(select(TrackingLink).where(TrackingLink.token == token)).scalars().first()
    if link is None or link.revoked_at is not None:
        raise GendanError("tracking.not_found")
    stmt = select(Order).where(Order.id == link.order_id)
    order = session.exec(stmt.with_for_update() if for_update else stmt).scalars().first()
    if order is None:
        raise GendanError("tracking.not_found")
    return link, order


def view(session: Session, *, token: str, now: datetime) -> TrackingView:
    link, order = _link_for(session, token)
    customer = session.get(Customer, order.customer_id)
    rep = session.get(User, order.owner_id)
    done = ms.reached(stage=order.stage, status=order.status, data=order.data)
    reached_at = _reached_at(session, order)
    current = done[-1] if done else None
    items = [MilestoneView(m, ms.LABELS[m], m in done, m == current, reached_at.get(m)) for m in ms.MILESTONES]
    last_urge = _last_urge(session, order.id)
    from backend.tracking.messages import list_messages  # messages.py builds on this module

    conversation = list_messages(session, order.id)
    if link.last_viewed_at is None or link.last_viewed_at < now - timedelta(minutes=5):
        link.last_viewed_at = now  # not on every poll of the page: a write takes SQLite's lock
    session.commit()
    return TrackingView(
        token=token, order_number=order.number, customer_name=customer.name if customer else "",
        locale=(customer.preferred_locale if customer else None) or "zh_CN", stage=order.stage, status=order.status,
        milestones=items, carrier=order.data.get("carrier"), tracking_no=order.data.get("tracking_no"),
        planned_delivery=order.planned_delivery, rep_name=rep.display_name if rep else None,
        rep_phone=rep.phone if rep else None, rep_email=rep.email if rep else None,
        is_unsubscribed=bool(customer and customer.is_unsubscribed), urge_count=order.urge_count,
        last_urged_at=last_urge, messages=conversation)


def _reached_at(session: Session, order: Order) -> dict[str, datetime]:
    """When each milestone was first reached, replayed from the order's event log."""
    at: dict[str, datetime] = {"received": order.created_at}
    state = {"stage": "", "status": "open", "data": {}}
    events = session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id)
                          .order_by(OrderEvent.at, OrderEvent.id)).scalars()
    for event in events:
        after = event.after or {}
        if "stage" in after:
            state["stage"] = after["stage"]
        if "status" in after:
            state["status"] = after["status"]
        if isinstance(after.get("data"), dict):
            state["data"] = {**state["data"], **after["data"]}
        for key, value in after.items():
            if key.startswith("data."):
                state["data"] = {**state["data"], key[5:]: value}
        for m in ms.reached(stage=state["stage"], status=state["status"], data=state["data"]):
            at.setdefault(m, event.at)
    return at


def _last_urge(session: Session, order_id: int) -> datetime | None:
    return session.exec(select(OrderEvent.at).where(OrderEvent.order_id == order_id, OrderEvent.type == "urged")
                        .order_by(OrderEvent.at.desc()).limit(1)).scalars().first()


def urge(session: Session, *, token: str, now: datetime) -> int:
    """催单 from the tracking page: counts in urge_count, logs, alerts the owner; at most hourly."""
    _link, order = _link_for(session, token, for_update=True)
    last = _last_urge(session, order.id)
    if last is not None and last > now - URGE_INTERVAL:
        minutes = max(1, int((now - last).total_seconds() // 60))
        raise GendanError("tracking.urge_too_soon", {"minutes": minutes}, status=429)
    previous = {"urge_count": order.urge_count, "last_customer_contact_at": order.last_customer_contact_at}
    order.urge_count += 1
    order.last_customer_contact_at = now
    event = orders_service.record_event(session, order, type="urged", actor=None, now=now, actor_label="customer",
                                        after={"urge_count": order.urge_count})
    session.flush()
    owner = session.get(User, order.owner_id)
    token = i18n.set_locale((owner.locale if owner else None) or i18n.DEFAULT_LOCALE)
    try:
        title = i18n.ngettext("The customer urged order %(number)s (%(num)s time)",
                              "The customer urged order %(number)s (%(num)s times)", order.urge_count,
                              number=order.number)
    finally:
        i18n.reset_locale(token)
    apply_effects(session, [fx.Notify(dedupe_key=f"urge:order:{order.id}:{event.id}", user_ids=(order.owner_id,),
                                      title=title)],
                  order=order, actor=None, now=now, source="rule")
    # work for the owner, not only a notice: one open to-do per order, repeated urges counted on it
    customer_todos.open_todo(session, order, kind=customer_todos.URGE, body="", event_id=event.id, now=now)
    # no order update runs the change hooks here, so the rules hear of the urge directly
    rules_firing.evaluate_event_rules(session, order, changes=previous, actor=None, now=now, is_new=False,
                                       events=[("customer_urged", None)])
    session.commit()
    return order.urge_count


def unsubscribe(session: Session, *, token: str, now: datetime) -> None:
    _link, order = _link_for(session, token)
    customer = session.get(Customer, order.customer_id)
    if customer is not None and not customer.is_unsubscribed:
        customer.is_unsubscribed = True
        orders_service.record_event(session, order, type="updated", actor=None, now=now, actor_label="customer",
                                    after={"customer_unsubscribed": True})
    session.commit()

