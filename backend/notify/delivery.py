"""Outbox delivery: claim due rows with a lease, send through the channel, log every attempt.

Rows are claimed in their own short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the
database-wide write lock on SQLite), so several workers never send the same row; a worker that
dies mid-send leaves a `sending` row whose lease runs out and is claimed again. A failed attempt is
retried with backoff (`backend.effects.bump_after`) until MAX_ATTEMPTS, then the row is `dead` and
waits for an admin's resend.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.db import new_session
from backend.effects import bump_after
from backend.errors import GendanError
from backend.notify.channels import DeliveryError, Message, Target, get_channel
from backend.notify.models import ChannelConfig, OutboxAttempt, OutboxMessage
from backend.settings import Settings, get_settings

log = logging.getLogger("gendan.outbox")
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)
DUE_STATES = ("pending", "failed")


def claim_due(bind: Engine | Connection, now: datetime, *, limit: int = 50) -> list[int]:
    """Mark up to `limit` due rows `sending` under a lease and return their ids (one transaction)."""
    with new_session(bind) as session:
        due = or_(
            (OutboxMessage.state.in_(DUE_STATES)) & (OutboxMessage.next_attempt_at <= now),
            (OutboxMessage.state == "sending") & (OutboxMessage.locked_until < now),
        )
        rows = session.exec(
            select(OutboxMessage).where(due).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit).with_for_update(skip_locked=True)
        ).scalars().all()
        for row in rows:
            row.state, row.locked_until = "sending", now + LEASE
        ids = [row.id for row in rows]
        session.commit()
    return ids


def deliver_outbox(bind: Engine | Connection, now: datetime, *, settings: Settings | None = None,
                   limit: int = 50) -> int:
    """The worker job: send every due row once. Returns how many were delivered."""
    settings = settings or get_settings()
    sent = 0
    for message_id in claim_due(bind, now, limit=limit):
        with new_session(bind) as session:
            row = session.get(OutboxMessage, message_id)
            if row is not None and _attempt(session, row, now=now, settings=settings):
                sent += 1
    return sent


def _attempt(session: Session, row: OutboxMessage, *, now: datetime, settings: Settings) -> bool:
    """One try at one claimed row; commits the outcome and the attempt log.

    The read transaction ends before the channel talks to its server (up to the timeout): on
    SQLite an open transaction holds the database's write lock, which every request would wait for.
    """
    try:
        target = target_for(session, row, settings)
        message = message_for(session, row)
        session.commit()  # rows stay loaded (expire_on_commit=False); nothing is locked while sending
        receipt = get_channel(target.kind).send(message, target, now_ms=int(now.timestamp() * 1000))
    except Exception as exc:  # one broken row must not stop the queue; a bug still shows in the log
        if not isinstance(exc, DeliveryError):
            log.exception("outbox %s: unexpected error while sending", row.id)
            exc = DeliveryError(f"internal error: {type(exc).__name__}: {exc}")
        row.attempts += 1
        row.last_error = exc.detail[:2000]
        is_dead = not exc.retryable or row.attempts >= MAX_ATTEMPTS
        row.state = "dead" if is_dead else "failed"
        row.next_attempt_at = bump_after(now, row.attempts)
        row.locked_until = None
        session.add(OutboxAttempt(message_id=row.id, at=now, ok=False, detail=exc.detail[:2000]))
        session.commit()
        log.warning("outbox %s (%s) attempt %s failed: %s", row.id, row.channel, row.attempts, exc.detail)
        return False
    row.attempts += 1
    row.state, row.sent_at, row.locked_until, row.last_error = "sent", now, None, None
    session.add(OutboxAttempt(message_id=row.id, at=now, ok=True, detail=receipt[:2000]))
    session.commit()
    return True


def target_for(session: Session, row: OutboxMessage, settings: Settings) -> Target:
    """Which server receives this row: the configuration named in the row, else the first enabled
    one of the channel's kind; e-mail falls back to the SMTP server in the settings."""
    payload = row.payload or {}
    config = None
    if payload.get("config_id"):
        config = session.get(ChannelConfig, int(payload["config_id"]))
    elif row.channel != "webhook":
        config = session.exec(select(ChannelConfig).where(ChannelConfig.kind == row.channel,
                                                          ChannelConfig.is_enabled.is_(True))
                              .order_by(ChannelConfig.id)).scalars().first()
    if row.channel == "webhook":
        secret = None
        if payload.get("secret_ref"):
            ref = session.exec(select(ChannelConfig).where(ChannelConfig.name == payload["secret_ref"])).scalars().first()
            if ref is None:
                raise DeliveryError(f"no channel configuration named {payload['secret_ref']!r}", retryable=False)
            secret = ref.secret
        elif config is not None:
            secret = config.secret
        address = row.recipient or (config.target if config else "")
        return Target("webhook", address, secret, dict(config.options) if config else {})
    if config is not None:
        return Target(config.kind, config.target, config.secret, dict(config.options))
    if row.channel == "email":
        return Target("email", f"{settings.smtp_host}:{settings.smtp_port}", None, {"from": settings.smtp_from})
    raise DeliveryError(f"no {row.channel} channel is configured")


def message_for(session: Session, row: OutboxMessage) -> Message:
    payload = row.payload or {}
    locale = payload.get("locale")
    if not locale and payload.get("customer_id"):
        customer = session.get(Customer, payload["customer_id"])
        locale = customer.preferred_locale if customer else None
    data = dict(payload.get("data") or {})
    if payload.get("link"):
        data.setdefault("link", payload["link"])
    return Message(recipient=row.recipient if row.channel != "webhook" else "", subject=row.subject,
                   text=row.body, html=payload.get("html"), locale=locale or "zh_CN",
                   delivery_id=row.dedupe_key, data=data)


# --- admin use cases -------------------------------------------------------------------------------

def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")


def list_outbox(session: Session, *, actor: Actor, state: str | None = None, limit: int = 100) -> list[OutboxMessage]:
    _require_admin(actor)
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if state:
        query = query.where(OutboxMessage.state == state)
    return list(session.exec(query).scalars().all())


def list_attempts(session: Session, *, actor: Actor, message_ids: list[int]) -> dict[int, list[OutboxAttempt]]:
    _require_admin(actor)
    out: dict[int, list[OutboxAttempt]] = {i: [] for i in message_ids}
    if message_ids:
        for attempt in session.exec(select(OutboxAttempt).where(OutboxAttempt.message_id.in_(message_ids))
                                    .order_by(OutboxAttempt.at, OutboxAttempt.id)).scalars():
            out[attempt.message_id].append(attempt)
    return out


def resend(session: Session, *, actor: Actor, message_id: int, now: datetime) -> OutboxMessage:
    """Queue a failed, dead or sent message again now (the admin's resend button)."""
    _require_admin(actor)
    row = session.exec(select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update()).scalars().first()
    if row is None:
        raise GendanError("outbox.not_found", {"id": message_id})
    if row.state in ("pending", "sending"):
        raise GendanError("outbox.already_queued", {"id": message_id, "state": row.state})
    row.state, row.next_attempt_at, row.locked_until = "pending", now, None
    session.commit()
    return row
