"""Pausing a rule that cannot run: disabled, the reason in the audit log, its author told.

Used by the scan (a rule whose SQL the database refuses, backend/rules/scan.py) and by the event
path (a rule the evaluator cannot run, backend/rules/firing.py). Flush only: the caller commits.
Rules stored since the limits (engine/rules/limits.py) should never get here; rules stored before
them, or failing only on some rows (a float8 overflow), must not stop the others.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session

from backend import i18n
from backend.audit import service as audit
from backend.notify.models import Notification
from backend.people.models import User
from backend.rules.models import RuleDefinitionRow, RuleDue

__all__ = ["error_text", "pause_rule"]


def error_text(exc: BaseException) -> str:
    """The first line of an error (the database's own message when there is one), at most 300 chars."""
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


def pause_rule(session: Session, row: RuleDefinitionRow | None, error: str, now: datetime) -> None:
    """Disable an enabled rule version, record why and notify its author (flush only)."""
    if row is None or not row.enabled:
        return
    audit.record(session, None, "rule", row.key, "pause", {"enabled": True},
                 {"enabled": False, "version": row.version, "error": error}, now)
    row.enabled = False
    row.scan_slot, row.scan_ready = None, False
    session.execute(delete(RuleDue.__table__).where(RuleDue.__table__.c.rule_id == row.id))  # its due moments
    row.definition = {**row.definition, "enabled": False}
    row.updated_at = now
    if row.author_id is not None:
        _tell_author(session, row, error, now)
    session.flush()


def _tell_author(session: Session, row: RuleDefinitionRow, error: str, now: datetime) -> None:
    author = session.get(User, row.author_id)
    token = i18n.set_locale((author.locale if author is not None else None) or i18n.DEFAULT_LOCALE)
    try:
        params = {"key": row.key, "error": error}
        title = i18n.translate_error("rule.paused_title", params)[:300]
        body = i18n.translate_error("rule.paused", params)[:4000]
    finally:
        i18n.reset_locale(token)
    session.add(Notification(dedupe_key=f"rule_paused:{row.key}:{row.version}:{now.isoformat()}",
                             user_id=row.author_id, title=title, body=body, created_at=now))
