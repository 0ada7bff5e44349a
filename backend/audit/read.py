"""Reading the audit trail (admins only): newest first, filtered, keyset-paged on (at, id) so a
page never repeats or skips a row while new changes are written."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlmodel import Session

from backend.audit.models import AuditEvent
from backend.audit.schemas import AuditFilter, AuditPage, AuditRead
from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.orders.keyset import decode_cursor, encode_cursor, seek_clause
from backend.people.models import User


def _day_start(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def list_events(session: Session, *, actor: Actor, filters: AuditFilter) -> AuditPage:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")
    clauses = []
    if filters.entity_type:
        clauses.append(AuditEvent.entity_type == filters.entity_type)
    if filters.entity_key:
        clauses.append(AuditEvent.entity_key == filters.entity_key)
    if filters.actor_id is not None:
        clauses.append(AuditEvent.actor_id == filters.actor_id)
    if filters.since is not None:
        clauses.append(AuditEvent.at >= _day_start(filters.since))
    if filters.until is not None:
        clauses.append(AuditEvent.at < _day_start(filters.until) + timedelta(days=1))
    stmt = select(AuditEvent, User.display_name).outerjoin(User, User.id == AuditEvent.actor_id).where(*clauses)
    if filters.cursor:
        at, row_id = decode_cursor(filters.cursor, sort="at", direction="desc")
        stmt = stmt.where(seek_clause(AuditEvent.at, AuditEvent.id, at, row_id, descending=True))
    rows = session.exec(stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(filters.limit + 1)).all()
    has_more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    items = [AuditRead.model_validate(event).model_copy(update={"actor_name": name}) for event, name in rows]
    next_cursor = encode_cursor(items[-1].at, items[-1].id, sort="at", direction="desc") if has_more else None
    return AuditPage(items=items, next_cursor=next_cursor)


def entity_history(session: Session, *, actor: Actor, entity_type: str, entity_id: int | str,
                   limit: int = 50) -> AuditPage:
    """One entity's changes, newest first (the History section of a customer or user page)."""
    return list_events(session, actor=actor, filters=AuditFilter(entity_type=entity_type, entity_key=str(entity_id),
                                                                limit=limit))
