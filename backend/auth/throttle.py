"""The sign-in rate limit: per (account, source), per account and per source, with back-off.

Why this shape: a guess is *reserved* before its password is checked, by one conditional UPDATE per
key (`attempts = attempts + 1 WHERE attempts < limit`), so concurrent guesses queue on the row (its
lock on PostgreSQL, the write lock on SQLite) and at most `limit` of them are ever checked. A right
password gives its reservation back; a failure that fills a key's window locks the key for one
window, doubled at each lock-out in a row (capped), so every lock expires.

A stranger can lock the pair (their own address with the account) and the account from everywhere,
but the account lock does not apply where the account signed in successfully in the last 30 days:
the real user, at their usual address, keeps signing in while someone else guesses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from backend.auth.models import LoginThrottle

WINDOW = timedelta(minutes=1)
MAX_LOCK = timedelta(minutes=15)
QUIET = timedelta(days=1)  # strikes are forgotten after a day without attempts
KNOWN_SOURCE = timedelta(days=30)
ACCOUNT_FACTOR = 4  # an account (from anywhere) and a source (any account) allow 4x the pair's limit


@dataclass(frozen=True)
class Limit:
    key: str
    attempts: int


def limits(username: str, client: str, per_pair: int) -> list[Limit]:
    name = username.strip().lower()[:80]
    return [Limit(f"pair:{name}|{client}"[:200], per_pair), Limit(f"user:{name}", per_pair * ACCOUNT_FACTOR),
            Limit(f"client:{client}"[:200], per_pair * ACCOUNT_FACTOR)]


def backoff(strikes: int) -> timedelta:
    return min(WINDOW * (2 ** min(strikes, 16)), MAX_LOCK)


def _ensure_rows(session: Session, keys: list[str], now: datetime) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(LoginThrottle).values(
        [{"key": k, "attempts": 0, "window_started_at": now, "strikes": 0} for k in keys]
    ).on_conflict_do_nothing(index_elements=["key"]))


def is_known_source(session: Session, pair_key: str, now: datetime) -> bool:
    row = session.get(LoginThrottle, pair_key)
    return row is not None and row.last_success_at is not None and now - row.last_success_at < KNOWN_SOURCE


def reserve(session: Session, keys: list[Limit], now: datetime) -> bool:
    """Count one attempt under every key, or under none (refused: a key is locked or full). Flushes
    only; the caller commits at once so the rows are not held while the password is checked."""
    ordered = sorted(keys, key=lambda k: k.key)  # one lock order: two sign-ins never wait for each other
    _ensure_rows(session, [k.key for k in ordered], now)
    since, quiet = now - WINDOW, now - QUIET
    t = LoginThrottle
    for limit in ordered:
        expired = t.window_started_at < since
        result = session.execute(
            update(t).where(
                t.key == limit.key,
                or_(t.locked_until.is_(None), t.locked_until <= now),
                or_(expired, t.attempts < limit.attempts),
            ).values(
                attempts=case((expired, 1), else_=t.attempts + 1),
                strikes=case((t.window_started_at < quiet, 0), else_=t.strikes),
                window_started_at=case((expired, now), else_=t.window_started_at),
            ).execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return False
    return True


def _locked_rows(session: Session, keys: list[Limit]) -> list[tuple[Limit, LoginThrottle]]:
    by_key = {k.key: k for k in keys}
    rows = session.exec(select(LoginThrottle).where(LoginThrottle.key.in_(sorted(by_key)))
                        .order_by(LoginThrottle.key).with_for_update()).all()
    return [(by_key[row.key], row) for row in rows]


def record_failure(session: Session, keys: list[Limit], now: datetime) -> None:
    """A wrong password: the reservation stays counted; a full window locks the key (back-off)."""
    for limit, row in _locked_rows(session, keys):
        if row.attempts >= limit.attempts:
            row.locked_until = now + backoff(row.strikes)
            row.strikes += 1
            row.attempts = 0
            row.window_started_at = now
    session.flush()


def record_success(session: Session, keys: list[Limit], now: datetime) -> None:
    """The right password: give the reservation back and forget the strikes."""
    for limit, row in _locked_rows(session, keys):
        row.attempts = max(row.attempts - 1, 0)
        row.strikes = 0
        if limit.key.startswith("pair:"):
            row.last_success_at = now
    session.flush()


def retry_after(session: Session, keys: list[Limit], now: datetime) -> int:
    """Seconds until every refusing key accepts an attempt again (for the message)."""
    by_key = {k.key: k for k in keys}
    rows = session.exec(select(LoginThrottle).where(LoginThrottle.key.in_(sorted(by_key)))).all()
    until = [now]
    for row in rows:
        if row.locked_until is not None and row.locked_until > now:
            until.append(row.locked_until)
        elif row.attempts >= by_key[row.key].attempts:
            until.append(row.window_started_at + WINDOW)
    return max(1, int((max(until) - now).total_seconds()) + 1)


def forget_stale(session: Session, now: datetime) -> None:
    """Rows quiet for a day and unlocked say nothing any more."""
    t = LoginThrottle
    session.execute(t.__table__.delete().where(
        and_(t.window_started_at < now - QUIET, or_(t.locked_until.is_(None), t.locked_until < now),
             or_(t.last_success_at.is_(None), t.last_success_at < now - KNOWN_SOURCE))))
