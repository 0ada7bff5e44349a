"""Writing the audit trail: `record` adds one row to the caller's session and never commits, so
the row lives or dies with the change it describes (the caller's use case commits both)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlmodel import Session

from backend.audit.models import AuditEvent
from backend.auth.actor import Actor

REDACTED = "[redacted]"
# never stored in clear, not even in the trail: that a secret changed is recorded, not its value
SECRET_FIELDS = frozenset({"password", "password_hash", "key_hash", "secret", "token", "api_key"})


_PLAIN = frozenset({str, int, float, bool, type(None)})  # JSON values as they are (most of a row's)


def _jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return value


def snapshot(obj: Any, fields: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The named attributes of a row or schema as JSON values: the `before`/`after` of a change."""
    return {name: _jsonable(getattr(obj, name, None)) for name in fields}


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields whose value changed, secrets redacted. A field missing on one side counts as
    None, so a create shows every field that got a value."""
    if not before:  # a create: every field of `after` that is not None (the set-based paths' many rows)
        new = {}
        for name, value in after.items():
            now_ = _jsonable(value)
            if now_ is not None:
                new[name] = REDACTED if name in SECRET_FIELDS else now_
        return {}, new
    old, new = {}, {}
    for name in dict.fromkeys([*before, *after]):
        was, now_ = _jsonable(before.get(name)), _jsonable(after.get(name))
        if was == now_:
            continue
        is_secret = name in SECRET_FIELDS
        if name in before:
            old[name] = REDACTED if is_secret and was is not None else was
        if name in after:
            new[name] = REDACTED if is_secret and now_ is not None else now_
    return old, new


def record(session: Session, actor: Actor | None, entity_type: str, entity_id: int | str, action: str,
           before: dict[str, Any], after: dict[str, Any], now: datetime) -> AuditEvent | None:
    """Add the change to the session (no flush, no commit). A call that changed nothing (a save
    with the same values, a second revoke) records nothing."""
    old, new = diff(before, after)
    if not old and not new:
        return None
    actor_id = actor.user_id if actor is not None and actor.user_id else None  # SYSTEM is user 0
    event = AuditEvent(at=now, actor_id=actor_id, entity_type=entity_type, entity_key=str(entity_id),
                       action=action, before=old, after=new)
    session.add(event)
    return event


def create_rows(actor: Actor | None, entity_type: str, created: list[tuple[int | str, dict[str, Any]]],
                now: datetime) -> list[dict[str, Any]]:
    """What `record(..., "create", {}, after, now)` adds, for many new rows at once: plain dicts for
    one multi-row insert (backend/bulk_insert.py:insert_rows) in the set-based paths."""
    actor_id = actor.user_id if actor is not None and actor.user_id else None
    out = []
    for entity_id, after in created:
        old, new = diff({}, after)
        if old or new:
            out.append({"at": now, "actor_id": actor_id, "entity_type": entity_type, "entity_key": str(entity_id),
                        "action": "create", "before": old, "after": new})
    return out
