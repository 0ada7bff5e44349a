"""Inbox use cases, talking: comments (with an attachment) on a to-do's order, seen by everyone on it."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.effects import apply_effects
from backend.errors import GendanError
from backend.inbox.models import InboxItem
from backend.inbox.service import may_see
from backend.orders import access
from backend.orders.models import Order, OrderEvent
from backend.orders.service import record_event
from engine import effects as fx

MAX_ATTACHMENT = 5 * 1024 * 1024


def comment(session: Session, *, actor: Actor, item_id: int, text: str, attachment: tuple[str, bytes] | None,
            upload_dir: Path, now: datetime) -> OrderEvent:
    """A comment (with an optional attachment) on the to-do's order, seen by everyone on it."""
    item = session.get(InboxItem, item_id)
    if item is None or not may_see(session, actor, item) or item.order_id is None:
        raise GendanError("inbox.not_found", {"id": item_id})
    text = text.strip()
    if not text and attachment is None:
        raise GendanError("validation.failed", {"count": 1},
                          fields={"text": ("field.missing", {"field": "text"})})
    after: dict[str, Any] = {"inbox_item_id": item.id}
    if attachment is not None:
        name, data = attachment
        if len(data) > MAX_ATTACHMENT:
            raise GendanError("inbox.attachment_too_large", {"limit": MAX_ATTACHMENT})
        safe = re.sub(r"[^\w.\-]+", "_", Path(name).name)[:80] or "file"
        stored = f"{uuid.uuid4().hex}__{safe}"
        folder = upload_dir / "inbox"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / stored).write_bytes(data)
        after["attachment"] = {"name": safe, "stored": stored, "size": len(data)}
    order = session.get(Order, item.order_id)
    event = record_event(session, order, type="commented", actor=actor, now=now, after=after, note=text[:2000])
    session.flush()
    others = set(session.exec(select(InboxItem.assignee_id).where(InboxItem.order_id == order.id,
                                                                  InboxItem.state == "open")).scalars())
    others = (others | {order.owner_id}) - {actor.user_id}
    if others:
        apply_effects(session, [fx.Notify(dedupe_key=f"comment:{event.id}", user_ids=tuple(sorted(others)),
                                          title=f"{order.number}: {actor.display_name}", body=text[:300])],
                      order=order, actor=actor, now=now)
    session.commit()
    return event


def list_comments(session: Session, *, actor: Actor, item_id: int) -> list[OrderEvent]:
    item = session.get(InboxItem, item_id)
    if item is None or not may_see(session, actor, item) or item.order_id is None:
        raise GendanError("inbox.not_found", {"id": item_id})
    return list(session.exec(select(OrderEvent).where(OrderEvent.order_id == item.order_id,
                                                      OrderEvent.type == "commented")
                             .order_by(OrderEvent.at, OrderEvent.id)).scalars())


def attachment_path(session: Session, *, actor: Actor, event_id: int, upload_dir: Path) -> tuple[Path, str]:
    event = session.get(OrderEvent, event_id)
    info = (event.after or {}).get("attachment") if event is not None and event.type == "commented" else None
    if not info:
        raise GendanError("inbox.attachment_not_found", {"id": event_id})
    try:
        access.get_visible_order(session, actor, event.order_id)
    except GendanError:
        raise GendanError("inbox.attachment_not_found", {"id": event_id}) from None
    return upload_dir / "inbox" / Path(info["stored"]).name, info["name"]
