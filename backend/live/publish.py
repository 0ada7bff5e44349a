"""Push after commit: a change tells the users it touched, but only once it is committed.

On PostgreSQL the message is `pg_notify` inside the transaction: PostgreSQL delivers it at
commit, to every server process LISTENing (backend/live/pg.py), and drops it on rollback. On
SQLite (one process) the users are kept on the session and published after its commit.

Nothing here registers itself: the app's assembly (backend/pipeline_assembly.py) calls `listen()`
once, puts `on_user_touched` in the pipeline's effect appliers and `on_order_change` last among
its stages.
"""

from __future__ import annotations

import json

from sqlalchemy import event, text
from sqlmodel import Session

from backend.live.hub import hub
from backend.pipeline import OrderChange

PG_CHANNEL = "gendan_live"
_PENDING = "gendan_live_pending"
_ITEM_ORDERS = "gendan_live_item_orders"
NOTIFY_IDS = 500  # user ids per pg_notify payload (~12 bytes each at most)


def touch(session: Session, user_ids, kind: str = "inbox") -> None:
    """Tell these users' open pages that their inbox (or notifications) changed, after commit."""
    ids = sorted({int(u) for u in user_ids if u})
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        for start in range(0, len(ids), NOTIFY_IDS):  # a payload stays under PostgreSQL's 8,000 bytes
            session.execute(text("SELECT pg_notify(:channel, :payload)"),
                            {"channel": PG_CHANNEL, "payload": json.dumps({"u": ids[start:start + NOTIFY_IDS], "k": kind})})
    else:
        session.info.setdefault(_PENDING, set()).update((u, kind) for u in ids)


def on_user_touched(session: Session, user_ids) -> None:
    """EffectAppliers.on_touched: to-dos and notifications written by effects."""
    touch(session, user_ids, "inbox")


def on_order_change(session: Session, change: OrderChange) -> None:
    """Live-push stage of the order pipeline: the owner's open pages (their "started by me" tab
    shows the order's stage and state) hear of a change of their order, after commit."""
    if not change.is_new:
        touch(session, {change.order.owner_id}, "inbox")
    from backend.live.orders import touch_order  # the order's own open pages (backend/live/orders.py)

    touch_order(session, change.order.id, ("head", "details", "timeline"))


def on_order_changes(session: Session, changes: list[OrderChange]) -> None:
    """The live stage for many changes at once (a chunk of firings, the bulk import): what
    `on_order_change` tells for each, the owners in one push instead of one per order."""
    from backend.live.orders import touch_order

    touch(session, {c.order.owner_id for c in changes if not c.is_new}, "inbox")
    for change in changes:
        touch_order(session, change.order.id, ("head", "details", "timeline"))


def _collect_item_orders(session, _flush_context) -> None:
    """A to-do written or changed on an order: its owner's "started by me" tab changes too."""
    from backend.inbox.models import InboxItem

    for obj in (*session.new, *session.dirty):
        if isinstance(obj, InboxItem) and obj.order_id:
            session.info.setdefault(_ITEM_ORDERS, set()).add(obj.order_id)


def _touch_owners(session) -> None:
    order_ids = session.info.pop(_ITEM_ORDERS, None)
    if not order_ids:
        return
    from sqlalchemy import select

    from backend.orders.models import Order

    owners = session.execute(select(Order.owner_id).where(Order.id.in_(sorted(order_ids)))).scalars().all()
    touch(session, owners, "inbox")


def _after_commit(session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    by_kind: dict[str, set[int]] = {}
    for user_id, kind in pending:
        by_kind.setdefault(kind, set()).add(user_id)
    for kind, users in by_kind.items():
        hub.publish(users, kind)


def _after_rollback(session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_ITEM_ORDERS, None)


LISTENERS = (("after_flush", _collect_item_orders), ("before_commit", _touch_owners),
             ("after_commit", _after_commit), ("after_rollback", _after_rollback))


def listen() -> None:
    """Hook the session events that carry pushes to commit (idempotent; called by the assembly)."""
    for name, fn in LISTENERS:
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)
    from backend.live import orders

    orders.listen()
