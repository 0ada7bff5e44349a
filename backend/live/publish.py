"""Push after commit: a change tells the users it touched, but only once it is committed.

On PostgreSQL the message is `pg_notify` inside the transaction: PostgreSQL delivers it at
commit, to every server process LISTENing (backend/live/pg.py), and drops it on rollback. On
SQLite (one process) the users are kept on the session and published after its commit.
"""

from __future__ import annotations

import json

from sqlalchemy import event, text
from sqlmodel import Session

from backend.live.hub import hub

PG_CHANNEL = "gendan_live"
_PENDING = "gendan_live_pending"
_ITEM_ORDERS = "gendan_live_item_orders"


def touch(session: Session, user_ids, kind: str = "inbox") -> None:
    """Tell these users' open pages that their inbox (or notifications) changed, after commit."""
    ids = sorted({int(u) for u in user_ids if u})
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": PG_CHANNEL, "payload": json.dumps({"u": ids, "k": kind})})
    else:
        session.info.setdefault(_PENDING, set()).update((u, kind) for u in ids)


def on_user_touched(session: Session, user_ids) -> None:
    """`backend.effects.on_user_touched` callback: to-dos and notifications written by effects."""
    touch(session, user_ids, "inbox")


@event.listens_for(Session, "after_flush")
def _collect_item_orders(session, _flush_context) -> None:
    """A to-do written or changed on an order: its owner's "started by me" tab changes too."""
    from backend.inbox.models import InboxItem

    for obj in (*session.new, *session.dirty):
        if isinstance(obj, InboxItem) and obj.order_id:
            session.info.setdefault(_ITEM_ORDERS, set()).add(obj.order_id)


@event.listens_for(Session, "before_commit")
def _touch_owners(session) -> None:
    order_ids = session.info.pop(_ITEM_ORDERS, None)
    if not order_ids:
        return
    from sqlalchemy import select

    from backend.orders.models import Order

    owners = session.execute(select(Order.owner_id).where(Order.id.in_(sorted(order_ids)))).scalars().all()
    touch(session, owners, "inbox")


@event.listens_for(Session, "after_commit")
def _after_commit(session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    by_kind: dict[str, set[int]] = {}
    for user_id, kind in pending:
        by_kind.setdefault(kind, set()).add(user_id)
    for kind, users in by_kind.items():
        hub.publish(users, kind)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_ITEM_ORDERS, None)


def install() -> None:
    """Register the effects callback once per process."""
    from backend import effects

    if on_user_touched not in effects.on_user_touched:
        effects.on_user_touched.append(on_user_touched)
