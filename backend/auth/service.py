"""Sign-in, bearer tokens and API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth import throttle
from backend.auth.actor import Actor
from backend.auth.models import ApiKey, AuthSession
from backend.auth.passwords import verify_password
from backend.errors import GendanError
from backend.people.models import User, UserRole

TOKEN_MAX_AGE_SECONDS = 12 * 3600


def load_actor(session: Session, user_id: int, *, via: str = "session", scope: str = "write",
               generation: int | None = None) -> Actor | None:
    """The acting user, or None when unknown, inactive, or (given `generation`) the credential was
    issued before the user's password, roles or active flag last changed."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    if generation is not None and generation != user.token_generation:
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
    """Check a password under the sign-in rate limit (see `throttle`): at most `max_attempts` guesses
    per account and address are ever checked, however many arrive at once."""
    keys = throttle.limits(username, client, max_attempts)
    if throttle.is_known_source(session, keys[0].key, now):
        keys = [k for k in keys if not k.key.startswith("user:")]
    if not throttle.reserve(session, keys, now):
        session.rollback()
        seconds = throttle.retry_after(session, keys, now)
        session.rollback()
        raise GendanError("auth.rate_limited", {"minutes": -(-seconds // 60)})
    user = session.exec(select(User).where(User.username == username)).scalars().first()
    # counted before the password is checked, and no lock held during the (deliberately slow) check
    session.commit()
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        throttle.record_failure(session, keys, now)
        throttle.forget_stale(session, now)
        session.commit()
        raise GendanError("auth.invalid_credentials")
    throttle.record_success(session, keys, now)
    session.commit()
    actor = load_actor(session, user.id)
    assert actor is not None
    return actor


def start_session(session: Session, *, actor: Actor, now: datetime) -> str:
    """Record a browser sign-in; the returned id goes into the (signed) cookie."""
    user = session.get(User, actor.user_id)
    assert user is not None
    sid = secrets.token_urlsafe(32)
    session.add(AuthSession(id=sid, user_id=user.id, token_generation=user.token_generation, created_at=now))
    session.commit()
    return sid


def end_session(session: Session, *, session_id: str, now: datetime) -> None:
    """Sign out: the cookie's session is revoked, so a copy of the cookie no longer signs anyone in."""
    row = session.get(AuthSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        session.commit()


def actor_for_session(session: Session, *, session_id: str | None, user_id: int) -> Actor | None:
    """The actor of a browser session, or None when it was revoked (sign-out) or outdated."""
    row = session.get(AuthSession, session_id) if session_id else None
    if row is None or row.revoked_at is not None or row.user_id != user_id:
        return None
    return load_actor(session, user_id, generation=row.token_generation)


def revoke_credentials(session: Session, user: User) -> None:
    """Every session and bearer token of `user` stops working (flush only; the caller commits)."""
    user.token_generation = (user.token_generation or 0) + 1
    session.flush()


def issue_token(session: Session, secret: str, user_id: int) -> str:
    """A bearer token for `user_id`, valid 12 h or until the user's credentials are revoked."""
    user = session.get(User, user_id)
    assert user is not None
    return URLSafeTimedSerializer(secret, salt="gendan-token").dumps({"uid": user_id, "gen": user.token_generation})


def read_token(secret: str, token: str) -> tuple[int, int]:
    """(user id, token generation) of a valid bearer token."""
    try:
        data = URLSafeTimedSerializer(secret, salt="gendan-token").loads(token, max_age=TOKEN_MAX_AGE_SECONDS)
        return int(data["uid"]), int(data["gen"])
    except (SignatureExpired, BadSignature, KeyError, TypeError, ValueError) as exc:
        raise GendanError("auth.invalid_token") from exc


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
    # which key: what it writes can say so (the bulk API's new customers, backend/ingest/records.py)
    actor = replace(actor, extra={**actor.extra, "api_key_name": key.name})
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        # throttled so a busy integration does not write on every call. The reads above end first, so
        # the UPDATE opens its own transaction: on SQLite a read transaction that starts writing
        # cannot wait for the write lock (it fails "database is locked"), a fresh one can
        session.commit()
        key.last_used_at = now
        session.commit()
    return actor
