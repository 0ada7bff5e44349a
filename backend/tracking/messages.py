"""Customer messages: a customer writes from the tracking page (or an e-mail gateway or chat robot
pushes what they wrote through a signed webhook); staff read it on the order page and reply.

Why order events and no table of their own: a message is something that happened to an order,
written once and read in time order with the rest of its history. `order_event` already holds
who, when and the text (`note`, up to 2,000 characters), so the order's timeline, the audit and
the tracking page's conversation read one log, and no migration is needed.

A customer message is what the rules call `inbound_message`: it moves
`last_customer_contact_at` (the fact `hours_since_last_customer_contact`), tells the owner in-app
and raises the event inside the same transaction, so a rule's to-do exists exactly when the
message does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.customers.models import Customer, CustomerContact
from backend.effects import apply_effects
from backend.errors import GendanError
from backend.inbox import service_customer as customer_todos
from backend.notify.models import OutboxMessage
from backend.orders import access
from backend.orders import service as orders_service
from backend.orders.models import Order, OrderEvent
from backend.people.models import User
from backend.rules import firing as rules_firing
from backend.tracking import service as tracking_service
from engine import effects as fx

RECEIVED = "customer_message"
REPLIED = "customer_reply"
TEXT_MAX = 2000  # order_event.note
CONTACT_MAX = 120
# the urge button allows one reminder an hour; a conversation needs a few lines, but a script
# filling the owner's notifications must still hit a wall
PER_HOUR = 5
WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class MessageView:
    """One line of the conversation, as both the customer and staff see it."""

    is_from_customer: bool
    text: str
    at: datetime
    who: str | None  # the contact the customer left, or the staff member who replied
    via: str | None = None  # tracking / webhook source key / the channel a reply went out on
    # a reply's delivery (issue 17: "sent" was claimed while it was only queued): queued /
    # retrying / sent / failed, with the last error of a retry or a failure
    delivery: str | None = None
    delivery_error: str | None = None
    delivered_at: datetime | None = None


def _delivery(row: OutboxMessage | None) -> tuple[str | None, str | None, datetime | None]:
    if row is None:
        return None, None, None
    if row.state == "sent":
        return "sent", None, row.sent_at
    if row.state == "dead":
        return "failed", row.last_error, None
    if row.attempts > 0 and row.last_error:
        return "retrying", row.last_error, None
    return "queued", None, None


def clean(text: str | None, contact: str | None = None) -> tuple[str, str | None]:
    """The text and contact as stored, or `validation.failed` naming each bad field."""
    text = (text or "").strip()
    contact = (contact or "").strip() or None
    fields = {}
    if not text:
        fields["text"] = ("message.empty", {})
    elif len(text) > TEXT_MAX:
        fields["text"] = ("message.too_long", {"length": len(text), "max": TEXT_MAX})
    if contact is not None and len(contact) > CONTACT_MAX:
        fields["contact"] = ("message.contact_too_long", {"max": CONTACT_MAX})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)
    return text, contact


def list_messages(session: Session, order_id: int) -> list[MessageView]:
    """The order's conversation, oldest first."""
    events = session.exec(select(OrderEvent).where(OrderEvent.order_id == order_id,
                                                   OrderEvent.type.in_((RECEIVED, REPLIED)))
                          .order_by(OrderEvent.at, OrderEvent.id)).scalars().all()
    names = dict(session.exec(select(User.id, User.display_name).where(
        User.id.in_(sorted({e.actor_id for e in events if e.actor_id})))).all()) if events else {}
    keys = [_reply_key(order_id, e.id) for e in events if e.type == REPLIED]
    outbox = {r.dedupe_key: r for r in session.exec(select(OutboxMessage).where(
        OutboxMessage.dedupe_key.in_(keys))).scalars()} if keys else {}
    out = []
    for e in events:
        after = e.after or {}
        if e.type == RECEIVED:
            out.append(MessageView(True, e.note or "", e.at, after.get("contact"), after.get("via")))
        else:
            delivery, error, delivered_at = _delivery(outbox.get(_reply_key(order_id, e.id)))
            out.append(MessageView(False, e.note or "", e.at, names.get(e.actor_id) or e.actor_label,
                                   after.get("channel"), delivery, error, delivered_at))
    return out


def _reply_key(order_id: int, event_id: int) -> str:
    """The outbox key of a reply: its delivery is looked up by it."""
    return f"reply:{order_id}:{event_id}"


def record_customer_message(session: Session, order: Order, *, text: str, contact: str | None, via: str,
                            now: datetime) -> OrderEvent:
    """Store a cleaned message of a locked order, tell the owner, raise `inbound_message`. Flushes only."""
    previous = order.last_customer_contact_at
    order.last_customer_contact_at = now
    event = orders_service.record_event(session, order, type=RECEIVED, actor=None, now=now, actor_label="customer",
                                        after={"contact": contact, "via": via}, note=text)
    session.flush()
    owner = session.get(User, order.owner_id)
    token = i18n.set_locale((owner.locale if owner else None) or i18n.DEFAULT_LOCALE)
    try:
        title = i18n.gettext("The customer wrote about order %(number)s", number=order.number)
    finally:
        i18n.reset_locale(token)
    body = f"{contact}: {text}" if contact else text
    apply_effects(session, [fx.Notify(dedupe_key=f"customer_message:{order.id}:{event.id}",
                                      user_ids=(order.owner_id,), title=title, body=body)],
                  order=order, actor=None, now=now, source="rule")
    customer_todos.open_todo(session, order, kind=customer_todos.MESSAGE, body=body, event_id=event.id, now=now)
    rules_firing.evaluate_event_rules(session, order, changes={"last_customer_contact_at": previous}, actor=None,
                                       now=now, is_new=False, events=[("inbound_message", None)])
    return event


def send_from_tracking(session: Session, *, token: str, text: str | None, contact: str | None,
                       now: datetime) -> OrderEvent:
    """The customer's "Send us a message" on the tracking page: at most PER_HOUR an hour per order."""
    _link, order = tracking_service._link_for(session, token, for_update=True)
    text, contact = clean(text, contact)
    recent = session.exec(select(func.count(), func.min(OrderEvent.at)).where(
        OrderEvent.order_id == order.id, OrderEvent.type == RECEIVED, OrderEvent.at > now - WINDOW)).one()
    if recent[0] >= PER_HOUR:
        minutes = max(1, math.ceil((recent[1] + WINDOW - now).total_seconds() / 60))
        raise GendanError("message.too_many", {"count": recent[0], "minutes": minutes}, status=429)
    event = record_customer_message(session, order, text=text, contact=contact, via="tracking", now=now)
    session.commit()
    return event


def reply(session: Session, *, actor: Actor, order_id: int, text: str | None, now: datetime,
          contact_id: int | None = None) -> str | None:
    """Staff answer the customer: logged on the order, shown on the tracking page, and sent by the
    customer's preferred channel through the outbox, to the primary contact or to `contact_id`
    (one of the customer's contacts, in their language). Returns that channel, or None when nothing
    could be sent (no address for the channel, or the customer unsubscribed)."""
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    order = access.get_visible_order(session, actor, order_id, for_update=True)
    text, _ = clean(text)
    event = orders_service.record_event(session, order, type=REPLIED, actor=actor, now=now, note=text,
                                        after={"channel": None})
    session.flush()
    customer_todos.close_message_todo(session, order, user_id=actor.user_id, now=now)
    link = tracking_service.get_active_link(session, order.id) or tracking_service._new_link(
        session, order, actor=actor, now=now)
    from backend.settings import get_settings

    url = f"{get_settings().public_base_url}/t/{link.token}"
    customer = session.get(Customer, order.customer_id)
    contact = session.get(CustomerContact, contact_id) if contact_id else None
    if contact_id and (contact is None or contact.customer_id != order.customer_id):
        raise GendanError("validation.failed", {"count": 1}, fields={"contact_id": ("field.invalid", {})})
    locale = (contact.locale if contact else None) or (customer.preferred_locale if customer else None)
    token = i18n.set_locale(locale or "zh_CN")
    try:
        effect = fx.MessageCustomer(
            dedupe_key=_reply_key(order.id, event.id),
            subject=i18n.gettext("Reply about your order %(number)s", number=order.number),
            body="\n\n".join([text, i18n.gettext("Follow your order and answer us: %(url)s", url=url)]))
    finally:
        i18n.reset_locale(token)
    rows = apply_effects(session, [effect], order=order, actor=actor, now=now, source="reply")
    sent = next((r for r in rows if isinstance(r, OutboxMessage)), None)
    if sent is not None and contact is not None and not contact.is_primary:
        address = {"email": contact.email, "sms": contact.phone}.get(sent.channel)
        if not address:
            raise GendanError("validation.failed", {"count": 1}, fields={"contact_id": (
                "customer.channel_unreachable", {"channel": sent.channel, "needs": "email" if sent.channel == "email"
                                                 else "phone"})})
        sent.recipient = address
    if sent is not None:
        sent.payload = {**sent.payload, "link": url}  # the e-mail template renders the button
        event.after = {"channel": sent.channel}
    session.commit()
    return sent.channel if sent is not None else None
