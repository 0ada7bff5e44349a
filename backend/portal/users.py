"""Portal users: people of an external company who sign in to the portal with a password and see
what their company's inbox link shows. Admins create and switch them off; sign-in is rate-limited
like ours (backend/auth/throttle.py, under keys of their own)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth import throttle
from backend.auth.actor import Actor
from backend.auth.passwords import hash_password, verify_password
from backend.errors import GendanError
from backend.portal.models import ExternalParty, PortalUser
from backend.portal.service import not_found

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@\-]{2,64}$")
MIN_PASSWORD = 10
USER_FIELDS = ("party_id", "username", "display_name", "is_active")


def create_user(session: Session, *, actor: Actor, party_id: int, username: str, display_name: str, password: str,
                now: datetime) -> PortalUser:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")
    username, display_name = username.strip(), display_name.strip()
    fields = {}
    party = session.get(ExternalParty, party_id)
    if party is None:
        fields["party_id"] = ("portal.party_not_found", {"id": party_id})
    if not USERNAME_RE.match(username):
        fields["username"] = ("portal.username_invalid", {})
    elif session.exec(select(PortalUser.id).where(PortalUser.username == username)).first() is not None:
        fields["username"] = ("portal.username_taken", {"username": username})
    if not display_name or len(display_name) > 120:
        fields["display_name"] = ("field.missing", {"field": "display_name"}) if not display_name else (
            "field.string_too_long", {"max_length": 120})
    if not MIN_PASSWORD <= len(password) <= 200:
        fields["password"] = ("portal.password_too_short", {"min": MIN_PASSWORD})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)
    user = PortalUser(party_id=party_id, username=username, display_name=display_name,
                      password_hash=hash_password(password), created_at=now)
    session.add(user)
    session.flush()
    audit.record(session, actor, "portal_user", user.id, "create", {}, audit.snapshot(user, USER_FIELDS), now)
    session.commit()
    return user


def set_active(session: Session, *, actor: Actor, user_id: int, is_active: bool, now: datetime) -> PortalUser:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")
    user = session.get(PortalUser, user_id)
    if user is None:
        raise GendanError("portal.user_not_found", {"id": user_id})
    before = audit.snapshot(user, USER_FIELDS)
    user.is_active = is_active
    audit.record(session, actor, "portal_user", user.id, "update", before, audit.snapshot(user, USER_FIELDS), now)
    session.commit()
    return user


def list_users(session: Session, *, actor: Actor) -> list[PortalUser]:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")
    return list(session.exec(select(PortalUser).order_by(PortalUser.username)).scalars())


def authenticate(session: Session, *, username: str, password: str, client: str, now: datetime,
                 max_attempts: int) -> PortalUser:
    """Check a portal password under the sign-in rate limit; the same refusal for an unknown user,
    a wrong password and a switched-off user or company."""
    keys = _limits(username, client, max_attempts)
    if not throttle.reserve(session, keys, now):
        session.rollback()
        seconds = throttle.retry_after(session, keys, now)
        session.rollback()
        raise GendanError("auth.rate_limited", {"minutes": -(-seconds // 60)})
    user = session.exec(select(PortalUser).where(PortalUser.username == username.strip())).scalars().first()
    session.commit()
    party = session.get(ExternalParty, user.party_id) if user is not None else None
    if user is None or not user.is_active or party is None or not party.is_active \
            or not verify_password(user.password_hash, password):
        throttle.record_failure(session, keys, now)
        session.commit()
        raise GendanError("auth.invalid_credentials")
    throttle.record_success(session, keys, now)
    user.last_login_at = now
    session.commit()
    return user


def party_of(session: Session, user_id: int | None) -> tuple[PortalUser, ExternalParty]:
    """The signed-in portal user and their company, both active; `portal.not_found` otherwise."""
    user = session.get(PortalUser, user_id) if user_id else None
    party = session.get(ExternalParty, user.party_id) if user is not None else None
    if user is None or not user.is_active or party is None or not party.is_active:
        raise not_found()
    return user, party


def _limits(username: str, client: str, max_attempts: int) -> list[throttle.Limit]:
    """The sign-in limiter's keys for a portal account, under `portal-` (never our staff's keys)."""
    return [throttle.Limit(f"portal-{k.key}"[:200], k.attempts) for k in throttle.limits(username, client, max_attempts)]


def change_password(session: Session, *, user_id: int | None, current: str, new: str, repeat: str, client: str,
                    now: datetime, max_attempts: int) -> PortalUser:
    """The signed-in portal user changes their own password (there is no way to name another user):
    the current one is checked under the portal sign-in's rate limit (a wrong one counts as a failed
    sign-in), the new one follows the rules an admin's must (MIN_PASSWORD..200 characters, argon2).
    Audit row `portal_user` / `update` (`password_hash`, redacted by the audit, and `by: self`): no hash kept."""
    user, party = party_of(session, user_id)
    fields = {}
    if not MIN_PASSWORD <= len(new) <= 200:
        fields["new_password"] = ("portal.password_too_short", {"min": MIN_PASSWORD})
    elif new != repeat:
        fields["repeat_password"] = ("portal.password_mismatch", {})
    keys = _limits(user.username, client, max_attempts)
    if not throttle.reserve(session, keys, now):
        session.rollback()
        seconds = throttle.retry_after(session, keys, now)
        session.rollback()
        raise GendanError("auth.rate_limited", {"minutes": -(-seconds // 60)})
    session.commit()
    if not verify_password(user.password_hash, current):
        throttle.record_failure(session, keys, now)
        session.commit()
        fields = {"current_password": ("portal.password_wrong", {}), **fields}
    else:
        throttle.record_success(session, keys, now)
        session.commit()
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)
    user.password_hash = hash_password(new)
    from backend.portal.service import party_actor

    audit.record(session, party_actor(party, person=user.display_name), "portal_user", user.id, "update", {},
                 {"password_hash": "changed", "by": "self", "portal_user_id": user.id, "party_id": party.id}, now)
    session.commit()
    return user
