"""The admin's audit log (/admin/audit): who changed which master data, newest first, filtered by
entity type, person and days, paged by keyset (a "Next page" link carries the cursor)."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from backend.audit import read as audit_read
from backend.audit.schemas import AuditFilter
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.people.models import User
from frontend.pages import audit_view
from frontend.pages.admin import AdminActor
from frontend.templating import render

router = APIRouter(prefix="/admin")
PAGE_SIZE = 50


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None  # a hand-edited URL; the form shows the field empty, the log unfiltered


def history(session: Session, actor: Actor, entity_type: str, entity_id: int | str) -> list[audit_view.AuditRow]:
    """One entity's latest changes for its page's History section (admins only; others get none)."""
    if not actor.is_admin:
        return []
    page = audit_read.entity_history(session, actor=actor, entity_type=entity_type, entity_id=entity_id, limit=20)
    return audit_view.rows(session, page.items)


@router.get("/audit")
def audit_page(request: Request, session: DbSession, actor: AdminActor, entity_type: str | None = None,
               entity_key: str | None = None, actor_id: str | None = None, since: str | None = None,
               until: str | None = None, cursor: str | None = None):
    form = {"entity_type": entity_type or "", "entity_key": (entity_key or "").strip(), "actor_id": actor_id or "",
            "since": since or "", "until": until or ""}
    try:
        filters = AuditFilter(entity_type=form["entity_type"] or None, entity_key=form["entity_key"] or None,
                              actor_id=int(actor_id) if (actor_id or "").isdigit() else None,
                              since=_date(since), until=_date(until), cursor=cursor or None, limit=PAGE_SIZE)
    except ValidationError:
        filters = AuditFilter(limit=PAGE_SIZE)
    page = audit_read.list_events(session, actor=actor, filters=filters)
    kept = {k: v for k, v in form.items() if v}
    people = session.exec(select(User.id, User.display_name).order_by(User.display_name)).all()
    return render(request, "admin/audit.html", {
        "nav": "admin", "tab": "audit", "form": form, "events": audit_view.rows(session, page.items),
        "entity_types": audit_view.entity_type_choices(), "people": people, "is_first_page": not cursor,
        "first_url": "/admin/audit" + (f"?{urlencode(kept)}" if kept else ""),
        "next_url": f"/admin/audit?{urlencode({**kept, 'cursor': page.next_cursor})}" if page.next_cursor else None})
