"""Live order pages: which parts of which order changed, pushed to the tabs showing that order.

A change is collected from the rows the session writes (mapper events on the tables that belong
to an order: the order itself, its events, flow instances, to-dos, rule firings, outbox messages)
and from the pipeline's live stage, and published only once committed:

- PostgreSQL: `pg_notify` inside the transaction (PostgreSQL delivers it at commit to every server
  process's listener, backend/live/pg.py, and drops it on rollback);
- SQLite (one process): kept on the session and handed to this process's hub after commit.

The message names the order and the page parts to re-read ("head", "details", "timeline", "flow",
"messages"); it carries no order data, so the page re-fetches over plain HTTP, where permissions,
language and formatting stay in one place. A tab that falls behind gets one merged message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import event, text
from sqlalchemy.orm import object_session
from sqlmodel import Session

PARTS = ("head", "details", "timeline", "flow", "messages")
_CODE = {"head": "h", "details": "d", "timeline": "t", "flow": "f", "messages": "m"}
_PART = {v: k for k, v in _CODE.items()}
# which page parts a row of each table feeds
TABLE_PARTS: dict[str, frozenset[str]] = {
    "sales_order": frozenset({"head", "details"}),
    "order_event": frozenset({"timeline"}),
    "flow_instance": frozenset({"flow", "head"}),
    "inbox_item": frozenset({"flow"}),
    "rule_firing": frozenset({"timeline"}),
    "outbox_message": frozenset({"messages"}),
}
MESSAGE_EVENTS = ("customer_message", "customer_reply")
NOTIFY_LIMIT = 7000  # bytes per pg_notify payload (PostgreSQL's limit is 8000)
_PENDING = "gendan_live_order_parts"
PG_CHANNEL = "gendan_live"  # the same channel as the inbox's pushes (backend/live/publish.py)


class _Tab:
    """One websocket's view of the hub: the parts changed since it last sent, merged."""

    __slots__ = ("loop", "pending", "wake")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict[int, set[str]] = {}
        self.wake = asyncio.Event()

    def offer(self, order_id: int, parts: frozenset[str]) -> None:  # on the tab's loop
        self.pending.setdefault(order_id, set()).update(parts)
        self.wake.set()

    async def next(self) -> dict[int, set[str]]:
        await self.wake.wait()
        self.wake.clear()
        out, self.pending = self.pending, {}
        return out


class OrderHub:
    """Per process: the tabs listening to each order. `publish` may be called from any thread."""

    def __init__(self) -> None:
        self._subs: dict[int, set[_Tab]] = defaultdict(set)
        self._lock = threading.Lock()
        self.seq = itertools.count(1)

    def tab(self) -> _Tab:
        return _Tab(asyncio.get_running_loop())

    def subscribe(self, tab: _Tab, order_id: int) -> None:
        with self._lock:
            self._subs[order_id].add(tab)

    def unsubscribe(self, tab: _Tab, order_id: int | None = None) -> None:
        with self._lock:
            for oid in [order_id] if order_id is not None else list(self._subs):
                tabs = self._subs.get(oid)
                if tabs is not None:
                    tabs.discard(tab)
                    if not tabs:
                        del self._subs[oid]

    def subscriber_count(self, order_id: int) -> int:
        with self._lock:
            return len(self._subs.get(order_id, ()))

    def publish(self, changes: dict[int, Iterable[str]]) -> int:
        """Tell the tabs of these orders which parts changed; returns how many tabs were told."""
        told = 0
        with self._lock:
            targets = [(tab, oid, frozenset(parts)) for oid, parts in changes.items()
                       for tab in self._subs.get(int(oid), ())]
        for tab, oid, parts in targets:
            try:
                tab.loop.call_soon_threadsafe(tab.offer, oid, parts)
                told += 1
            except RuntimeError:  # that tab's loop is closed; its socket is going away
                pass
        return told


order_hub = OrderHub()


def encode(changes: dict[int, set[str]]) -> list[str]:
    """NOTIFY payloads, each under the size limit: {"o": [[order_id, "hdt"], ...]}."""
    payloads, batch = [], []
    for oid in sorted(changes):
        batch.append([oid, "".join(sorted(_CODE[p] for p in changes[oid] if p in _CODE))])
        if len(batch) >= 300:  # ~20 bytes each: well under NOTIFY_LIMIT
            payloads.append(json.dumps({"o": batch}, separators=(",", ":")))
            batch = []
    if batch:
        payloads.append(json.dumps({"o": batch}, separators=(",", ":")))
    return payloads


def decode(data: dict) -> dict[int, set[str]]:
    """The other side of `encode` (from a notification another process sent); bad items dropped."""
    out: dict[int, set[str]] = {}
    items = data.get("o")
    if not isinstance(items, list):
        raise ValueError("no order list")
    for item in items[:1000]:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], int) and isinstance(item[1], str):
            out.setdefault(item[0], set()).update(_PART[c] for c in item[1][:8] if c in _PART)
    return out


def touch_order(session: Session, order_id: int | None, parts: Iterable[str]) -> None:
    """Mark parts of an order's page as changed by this session's transaction (pushed after commit)."""
    if order_id:
        session.info.setdefault(_PENDING, {}).setdefault(int(order_id), set()).update(parts)


def _parts_of(obj) -> tuple[int | None, frozenset[str]]:
    table = getattr(obj, "__tablename__", None)
    parts = TABLE_PARTS.get(table) if isinstance(table, str) else None
    if parts is None:
        return None, frozenset()
    if table == "sales_order":
        return obj.id, parts
    if table == "order_event" and getattr(obj, "type", None) in MESSAGE_EVENTS:
        parts = parts | {"messages"}
    return getattr(obj, "order_id", None), parts


def _row_written(_mapper, _connection, target) -> None:
    """Mapper event (after insert / update / delete of a row of a TABLE_PARTS table): O(rows
    written), unlike walking the session's identity map at every flush."""
    session = object_session(target)
    if session is not None:
        order_id, parts = _parts_of(target)
        if parts:
            touch_order(session, order_id, parts)


def _before_commit(session) -> None:
    """PostgreSQL: queue the NOTIFY in the transaction itself (delivered at commit, never on rollback)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.flush()  # the commit's own flush comes after this hook: collect its rows now
    pending = session.info.pop(_PENDING, None)
    for payload in encode(pending or {}):
        session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": PG_CHANNEL, "payload": payload})


def _after_commit(session) -> None:
    pending = session.info.pop(_PENDING, None)  # SQLite (PostgreSQL's was sent by NOTIFY)
    if pending:
        order_hub.publish(pending)


def _after_rollback(session) -> None:
    session.info.pop(_PENDING, None)


LISTENERS = (("before_commit", _before_commit), ("after_commit", _after_commit),
             ("after_rollback", _after_rollback))


def _models():
    from backend.flows.models import FlowInstance
    from backend.inbox.models import InboxItem
    from backend.notify.models import OutboxMessage
    from backend.orders.models import Order, OrderEvent
    from backend.rules.models import RuleFiring

    return (Order, OrderEvent, FlowInstance, InboxItem, RuleFiring, OutboxMessage)


def listen() -> None:
    """Hook the session and mapper events (idempotent; called with backend.live.publish.listen)."""
    for name, fn in LISTENERS:
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)
    for model in _models():
        assert model.__tablename__ in TABLE_PARTS
        for name in ("after_insert", "after_update", "after_delete"):
            if not event.contains(model, name, _row_written):
                event.listen(model, name, _row_written)
