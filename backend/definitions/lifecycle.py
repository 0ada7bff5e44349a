"""One lifecycle for what users design (forms, flows, rules): draft → published → retired.

Why this exists: the three kinds store their versions the same way (`VersionedDefinition`: one
row per key and version, at most one draft and one published version per key) and move them the
same way, so the moves are written once here. What differs stays with the kind: how a draft is
parsed and validated, what must hold before publishing (a form's compatibility with the orders
that use it, a flow's graph, a rule's condition), and what a rule does on top (enable, scan slot).

Helpers flush; the kind's use case commits (docs: one use case, one transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.models_base import VersionedDefinition

Row = TypeVar("Row", bound=VersionedDefinition)


def require_designer(actor: Actor) -> None:
    """The designers (forms, flows, rules: their pages and every use case that stores, publishes,
    enables, previews or dry-runs a definition) are for admins and users with the designer role,
    acting through a credential that may write (`Actor.can_write`: not a read-scoped API key).

    Reading a published definition needs no such right: orders render their form and flow for
    everyone who may see the order."""
    if not (actor.is_admin or actor.has_role("designer")) or not actor.can_write:
        raise GendanError("auth.forbidden")


@dataclass(frozen=True)
class Lifecycle(Generic[Row]):
    """The versions of one kind of definition, stored in `model`; `kind` names it in the audit
    log ("form", "flow", "rule")."""

    kind: str
    model: type[Row]

    # --- queries ---------------------------------------------------------------------------

    def versions(self, session: Session, key: str) -> list[Row]:
        """Every version of the key, oldest first."""
        m = self.model
        return list(session.exec(select(m).where(m.key == key).order_by(m.version)).scalars())

    def version(self, session: Session, key: str, version: int) -> Row | None:
        m = self.model
        return session.exec(select(m).where(m.key == key, m.version == version)).scalars().first()

    def get(self, session: Session, key: str, version: int) -> Row:
        """One version, or `<kind>.not_found` (404)."""
        row = self.version(session, key, version)
        if row is None:
            raise GendanError(f"{self.kind}.not_found", {"key": key, "version": version}, status=404)
        return row

    def export(self, session: Session, key: str, version: int) -> dict[str, Any]:
        """One version as a portable JSON document: what importing it as a draft accepts."""
        return self.get(session, key, version).definition

    def with_status(self, session: Session, key: str, status: str, *, for_update: bool = False) -> Row | None:
        """The key's draft or published version (there is at most one of each)."""
        m = self.model
        stmt = select(m).where(m.key == key, m.status == status).order_by(m.version.desc())
        if for_update:
            stmt = stmt.with_for_update()
        return session.exec(stmt).scalars().first()

    def working_copy(self, session: Session, key: str) -> Row | None:
        """What a designer opens: the draft if there is one, else the published version."""
        return self.with_status(session, key, "draft") or self.with_status(session, key, "published")

    def newest_per_key(self, session: Session) -> list[Row]:
        """The newest version of every key, by key."""
        m = self.model
        newest = select(m.key, func.max(m.version).label("version")).group_by(m.key).subquery()
        return list(session.exec(
            select(m).join(newest, and_(newest.c.key == m.key, newest.c.version == m.version)).order_by(m.key)
        ).scalars())

    # --- moves -----------------------------------------------------------------------------

    def store_draft(self, session: Session, *, actor: Actor, key: str, build: Callable[[int], dict[str, Any]],
                    now: datetime) -> Row:
        """Store `build(version)` as the key's draft: the existing draft's version, else one after
        the newest. `build` parses (and raises) before anything is added. Flush only.

        Two saves of a key at the same moment are not an error: the second saves over the first's
        draft, as it would have a moment later. PostgreSQL: savers of one key queue on an advisory
        lock held to commit (a unique-index race left is retried in a savepoint); SQLite serialises
        writers (transactions begin IMMEDIATE)."""
        if session.get_bind().dialect.name == "postgresql":
            # one saver of a key at a time, until commit: between reading "no draft" and reading the
            # newest version another saver may commit its draft, and a second draft (version + 1)
            # would slip past the unique (key, version) index
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"{self.kind}:{key}"})
        for _ in range(3):
            draft = self.with_status(session, key, "draft")
            if draft is not None:
                draft.definition = build(draft.version)
                draft.author_id = actor.user_id or draft.author_id
                draft.updated_at = now
                session.flush()
                return draft
            m = self.model
            newest = session.exec(select(func.max(m.version)).where(m.key == key)).scalar_one()
            version = (newest or 0) + 1
            draft = self.model(key=key, version=version, status="draft", definition=build(version),
                               author_id=actor.user_id or None, created_at=now, updated_at=now)
            try:
                with session.begin_nested():  # a savepoint: losing the race leaves the transaction usable
                    session.add(draft)
                    session.flush()
                return draft
            except IntegrityError:
                continue
        raise GendanError(f"{self.kind}.conflict", {"key": key})

    def publish(self, session: Session, draft: Row, *, actor: Actor, now: datetime,
                recorded: dict[str, Any] | None = None) -> Row | None:
        """Retire the published version, publish `draft` and record who did it (with `recorded`
        besides the versions). The kind has validated the draft. Returns the retired version.
        Flush only."""
        previous = self.with_status(session, draft.key, "published")
        if previous is not None:
            previous.status, previous.updated_at = "retired", now
            session.flush()  # one published row per key at any moment
        draft.status = "published"
        draft.published_at = draft.updated_at = now
        audit.record(session, actor, self.kind, draft.key, "publish",
                     {"version": previous.version if previous else None},
                     {"version": draft.version, **(recorded or {})}, now)
        session.flush()
        return previous

    def discard_draft(self, session: Session, key: str) -> bool:
        """Delete the key's draft; False when there was none. Flush only."""
        draft = self.with_status(session, key, "draft")
        if draft is None:
            return False
        session.delete(draft)
        session.flush()
        return True
