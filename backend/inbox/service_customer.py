"""To-dos a customer raises: 催单 (an urge on the tracking page) and a message (the tracking page,
or another system's inbound webhook) give the order's owner work, not only a notification.

Issue 17: "urges and customer messages create no to-do". One open to-do per order and kind: a
repeat is counted on it (`payload.count`, shown as "3 times") and refreshes its text, instead of
stacking a card per click. Once the owner has handled it, the next urge opens a new one. A reply
to the customer handles the open message to-do (`close_message_todo`).

Helpers for the tracking use cases: they flush at most; the caller holds the order's row lock,
so two urges of one order cannot both open a to-do.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from backend import i18n
from backend.effects import apply_effects
from backend.inbox.models import InboxItem
from backend.live.publish import touch
from backend.localized import split_title
from backend.orders.models import Order
from engine import effects as fx

URGE = "customer_urge"
MESSAGE = "customer_message"


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated when the title is built, in every locale."""
    return message


_TITLES = {
    URGE: N_("The customer is urging order %(number)s"),
    MESSAGE: N_("The customer wrote about order %(number)s"),
}
_CATALOG_LOCALES = {"zh_CN": "zh-CN", "en": "en"}


def _title(kind: str, order: Order) -> dict[str, str]:
    """The title in every language the app speaks (the owner reads it in theirs)."""
    names = {}
    for catalog, name in _CATALOG_LOCALES.items():
        names[name] = i18n.translations(catalog).ugettext(_TITLES[kind]) % {"number": order.number}
    return names


def open_todo(session: Session, order: Order, *, kind: str, body: str, event_id: int, now: datetime) -> InboxItem:
    """The owner's open to-do of this kind on this order: counted up if there is one, else created."""
    current = session.exec(select(InboxItem).where(
        InboxItem.order_id == order.id, InboxItem.kind == kind, InboxItem.assignee_id == order.owner_id,
        InboxItem.state == "open").order_by(InboxItem.id)).scalars().first()
    if current is not None:
        count = max(1, int((current.payload or {}).get("count") or 1)) + 1
        current.payload = {**(current.payload or {}), "count": count, "last_at": now.isoformat()}
        if body:
            current.body = body[:4000]
        current.title, current.title_i18n = split_title(_title(kind, order))
        if count >= 2 and current.priority in ("low", "normal"):
            current.priority = "high"  # asked again: it moves up the owner's list
        session.flush()
        touch(session, {order.owner_id}, "inbox")
        return current
    rows = apply_effects(session, [fx.CreateTodo(
        dedupe_key=f"{kind}:{order.id}:{event_id}", kind=kind, title=_title(kind, order),
        assignee_ids=(order.owner_id,), body=body[:4000], priority="normal",
        payload={"count": 1, "last_at": now.isoformat()})], order=order, actor=None, now=now, source="customer")
    return next(r for r in rows if isinstance(r, InboxItem))


def close_message_todo(session: Session, order: Order, *, user_id: int | None, now: datetime) -> int:
    """A reply answers the customer: the open message to-do(s) of the order are done. Flushes."""
    items = session.exec(select(InboxItem).where(InboxItem.order_id == order.id, InboxItem.kind == MESSAGE,
                                                 InboxItem.state == "open")).scalars().all()
    for item in items:
        item.state, item.outcome, item.closed_at, item.closed_by_id = "done", "replied", now, user_id
    if items:
        session.flush()
        touch(session, {i.assignee_id for i in items}, "inbox")
    return len(items)
