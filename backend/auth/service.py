"""Sign-in, bearer tokens and API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth.actor import Actor
from backend.auth.models import ApiKey, LoginAttempt
from backend.auth.passwords import verify_password
from backend.errors import GendanError
from backend.people.models import User, UserRole

TOKEN_MAX_AGE_SECONDS = 12 * 3600
LOGIN_WINDOW = timedelta(minutes=1)


def load_actor(session: Session, user_id: int, *, via: str = "session", scope: str = "write") -> Actor | None:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    roles = session.exec(select(UserRole.role).where(UserRole.user_id == user_id)).scalars().all()
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=frozenset(roles),
        department_id=user.department_id,
        locale=user.locale,
        via=via,
        scope=scope,
    )


def authenticate(session: Session, *, username: str, password: str, client: str, now: datetime,
                 max_attempts: int) -> Actor:
    """Check a password, counting failures per user name and per client address (rate limit)."""
    keys = [f"user:{username.lower()}", f"client:{client}"]
    since = now - LOGIN_WINDOW
    # each failure is counted once under the user name and once under the client address;
    # either reaching the limit locks (one user from many places, or one place guessing many users)
    recent = session.exec(
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.key.in_(keys), LoginAttempt.at >= since)
        .group_by(LoginAttempt.key)
    ).scalars().all()
    if max(recent, default=0) >= max_attempts:
        raise GendanError("auth.rate_limited")
    user = session.exec(select(User).where(User.username == username)).scalars().first()
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        for key in keys:
            session.add(LoginAttempt(key=key, at=now))
        session.exec(delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(hours=1)))
        session.commit()
        raise GendanError("auth.invalid_credentials")
    actor = load_actor(session, user.id)
    assert actor is not None
    return actor


def issue_token(secret: str, user_id: int) -> str:
    return URLSafeTimedSerializer(secret, salt="gendan-token").dumps({"uid": user_id})


def read_token(secret: str, token: str) -> int:
    try:
        data = URLSafeTimedSerializer(secret, salt="gendan-token").loads(token, max_age=TOKEN_MAX_AGE_SECONDS)
    except (SignatureExpired, BadSignature) as exc:
        raise GendanError("auth.invalid_token") from exc
    return int(data["uid"])


def hash_api_key(key: str) -> str:
    # keys are 256 random bits, so a fast hash is enough (no dictionary to attack)
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, *, actor: Actor, name: str, scope: str, user_id: int | None,
                   now: datetime) -> tuple[ApiKey, str]:
    """Create a key; the clear key is returned once and never stored."""
    if not actor.is_admin or not actor.can_write:
        raise GendanError("auth.forbidden")
    if scope not in ("read", "write"):
        raise GendanError("validation.failed", {"count": 1}, status=422,
                          fields={"scope": ("field.enum", {"field": "scope", "expected": "read, write"})})
    if user_id is not None:
        owner = session.get(User, user_id)
        if owner is None or not owner.is_active:
            raise GendanError("validation.failed", {"count": 1}, status=422,
                              fields={"user_id": ("user.not_found", {"field": "user_id", "id": user_id})})
    clear = "gdk_" + secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=clear[:10], key_hash=hash_api_key(clear), scope=scope,
                 user_id=user_id or actor.user_id, created_at=now)
    session.add(key)
    session.flush()
    audit.record(session, actor, "api_key", key.id, "create", {},
                 audit.snapshot(key, ("name", "prefix", "scope", "user_id", "key_hash")), now)
    session.commit()
    session.refresh(key)
    return key, clear


def revoke_api_key(session: Session, *, actor: Actor, key_id: int, now: datetime) -> ApiKey:
    if not actor.is_admin or not actor.can_write:
        raise GendanError("auth.forbidden")
    key = session.get(ApiKey, key_id)
    if key is None:
        raise GendanError("api_key.not_found", {"id": key_id})
    audit.record(session, actor, "api_key", key.id, "revoke", {"revoked_at": key.revoked_at},
                 {"revoked_at": key.revoked_at or now}, now)
    key.revoked_at = key.revoked_at or now
    session.commit()
    return key


def list_api_keys(session: Session, *, actor: Actor) -> list[ApiKey]:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")
    return list(session.exec(select(ApiKey).order_by(ApiKey.id.desc())).scalars().all())


def actor_for_api_key(session: Session, clear: str, *, now: datetime) -> Actor:
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_api_key(clear))).scalars().first()
    if key is None or key.revoked_at is not None:
        raise GendanError("auth.invalid_token")
    actor = load_actor(session, key.user_id, via="api_key", scope=key.scope)
    if actor is None:
        raise GendanError("auth.invalid_token")
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        key.last_used_at = now  # throttled so a busy integration does not write on every call
        session.commit()
    return actor
