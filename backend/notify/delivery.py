"""Outbox delivery: claim due rows with a lease, send through the channel, log every attempt.

Rows are claimed in their own short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the
database-wide write lock on SQLite), a few at a time. A claim's `locked_until` is also its fencing
token: right before each send the worker renews the lease with a compare-and-set on the value it
claimed, so a row whose lease ran out while it waited in the batch (and was claimed by another
worker) is skipped, never sent twice; while the server talks a heartbeat thread renews the lease
every quarter of it (the same compare-and-set), so nobody can take the row from a live worker
however long its server takes to answer; a worker that stalled past its renewed lease before
sending does not send. Marking the outcome (sent, failed, dead) is the same compare-and-set on the
token: a worker whose lease was taken over while its send ran (frozen past the lease) logs its
attempt but never marks the row, so the new holder's outcome stands; the message keeps one
Message-ID on every attempt, so a receiver can drop the one duplicate such a freeze can cause.
A worker that dies mid-send leaves a `sending` row
whose lease runs out and is claimed again. A failed attempt is retried with backoff
(`backend.effects.bump_after`) until MAX_ATTEMPTS, then the row is `dead` and waits for an
admin's resend. Attempt and send times are read from the clock when the server answers, not
when the batch was claimed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.db import new_session
from backend.effects import bump_after
from backend.errors import GendanError
from backend.notify.channels import DeliveryError, Message, Target, get_channel
from backend.notify.models import ChannelConfig, OutboxAttachment, OutboxAttempt, OutboxMessage
from backend.settings import Settings, get_settings

log = logging.getLogger("gendan.outbox")
MAX_ATTEMPTS = 8
DUE_STATES = ("pending", "failed")
Clock = Callable[[], datetime]


def lease_of(settings: Settings) -> timedelta:
    """How long a claim or a renewal holds a row: longer than one send's worst case."""
    return timedelta(seconds=settings.outbox_lease_seconds)


def claim_due(bind: Engine | Connection, now: datetime, *, limit: int, lease: timedelta
              ) -> list[tuple[int, datetime]]:
    """Mark up to `limit` due rows `sending` under a lease; return (id, token) pairs, the token
    being the `locked_until` this claim wrote.

    One UPDATE statement: on SQLite a transaction that reads first and writes later can fail with
    "database is locked" instead of waiting. The token is later than any expired lease it replaces
    (a row is taken over only once `locked_until < now`), so an old holder's token never matches."""
    due = or_(
        (OutboxMessage.state.in_(DUE_STATES)) & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.state == "sending") & (OutboxMessage.locked_until < now),
    )
    picked = (select(OutboxMessage.id).where(due).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
              .limit(limit).with_for_update(skip_locked=True))
    token = now + lease
    with new_session(bind) as session:
        ids = session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(picked.scalar_subquery()))
            .values(state="sending", locked_until=token).returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        ).scalars().all()
        session.commit()
    return [(message_id, token) for message_id in sorted(ids)]


def deliver_outbox(bind: Engine | Connection, now: datetime, *, settings: Settings | None = None,
                   limit: int | None = None, clock: Clock | None = None) -> int:
    """The worker job: send every due row once. Returns how many were delivered.

    `clock` gives the time of each send (the worker passes the wall clock; tests default to `now`)."""
    settings = settings or get_settings()
    clock = clock or (lambda: now)
    sent = 0
    # the heartbeat renews from a thread of its own: an engine, not a test's single connection
    heartbeat_bind = bind if isinstance(bind, Engine) else None
    for message_id, token in claim_due(bind, now, limit=limit or settings.outbox_batch_size,
                                       lease=lease_of(settings)):
        with new_session(bind) as session:
            row = session.get(OutboxMessage, message_id)
            if row is not None and _attempt(session, row, token=token, clock=clock, settings=settings,
                                            heartbeat=heartbeat_bind):
                sent += 1
    return sent


def _renew(session: Session, message_id: int, token: datetime, until: datetime) -> datetime | None:
    """Compare-and-set: extend the lease only if this worker still holds the row. The new token,
    or None when the row was taken by another worker (or finished) meanwhile."""
    until = max(until, token + timedelta(microseconds=1))
    changed = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state == "sending", OutboxMessage.locked_until == token)
        .values(locked_until=until).execution_options(synchronize_session=False)
    ).rowcount
    return until if changed == 1 else None


class _Heartbeat:
    """Renews a row's lease every quarter of it while its send is in flight, from a thread, each
    renewal the same compare-and-set on the current token. A server that takes longer than the
    lease to answer (a stalled SMTP DATA reply) then never lets another worker take the row and
    send it again. `token` is the last one written; `lost` says a renewal found the row taken
    (this worker froze past its lease), and then the outcome is not marked (`_finish`)."""

    def __init__(self, bind: Engine, message_id: int, token: datetime, *, clock: Clock, lease: timedelta):
        self.bind, self.message_id, self.token, self.clock, self.lease = bind, message_id, token, clock, lease
        self.lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"outbox-lease-{message_id}")

    def _run(self) -> None:
        while not self._done.wait(self.lease.total_seconds() / 4):
            try:
                with new_session(self.bind) as session:
                    held = _renew(session, self.message_id, self.token, self.clock() + self.lease)
                    session.commit()
            except Exception:  # noqa: BLE001 - a database blip: the lease still runs; try at the next beat
                log.warning("outbox %s: lease renewal failed; trying again", self.message_id, exc_info=True)
                continue
            if held is None:
                self.lost = True
                log.warning("outbox %s: lease taken over during the send (this worker stalled past it)",
                            self.message_id)
                return
            self.token = held

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()  # a renewal under way ends first: `token` is then final


def _attempt(session: Session, row: OutboxMessage, *, token: datetime, clock: Clock, settings: Settings,
             heartbeat: Engine | None = None) -> bool:
    """One try at one claimed row; commits the outcome and the attempt log.

    No transaction is open while the channel talks to its server (up to the timeout): on SQLite
    an open transaction holds the database's write lock, which every request would wait for. The
    reads end before the lease renewal, which starts its own transaction with the write.
    With `heartbeat` (the worker's engine) the lease is renewed while the channel talks (`_Heartbeat`).
    """
    message_id, attempts, channel = row.id, row.attempts, row.channel
    try:
        target = target_for(session, row, settings)
        message = message_for(session, row)
        session.commit()  # rows stay loaded (expire_on_commit=False)
        held = _renew(session, message_id, token, clock() + lease_of(settings))
        session.commit()
        if held is None:
            log.info("outbox %s: lease taken over by another worker; not sending", message_id)
            return False
        token = held
        if clock() >= held:  # stalled past the renewed lease (SIGSTOP, a long pause): the row may be another's
            log.info("outbox %s: lease ran out before the send; not sending", message_id)
            return False
        channel_send = get_channel(target.kind).send
        if heartbeat is None:
            receipt = channel_send(message, target, now_ms=int(clock().timestamp() * 1000))
        else:
            beat = _Heartbeat(heartbeat, message_id, token, clock=clock, lease=lease_of(settings))
            try:
                with beat:
                    receipt = channel_send(message, target, now_ms=int(clock().timestamp() * 1000))
            finally:
                token = beat.token  # read once the heartbeat thread has ended
    except Exception as exc:  # one broken row must not stop the queue; a bug still shows in the log
        session.rollback()
        if not isinstance(exc, DeliveryError):
            log.exception("outbox %s: unexpected error while sending", message_id)
            exc = DeliveryError(f"internal error: {type(exc).__name__}: {exc}")
        at = clock()
        attempts += 1
        is_dead = not exc.retryable or attempts >= MAX_ATTEMPTS
        _finish(session, row, message_id, token, at=at, ok=False, detail=exc.detail,
                values={"attempts": attempts, "last_error": exc.detail[:2000], "state": "dead" if is_dead else "failed",
                        "next_attempt_at": bump_after(at, attempts), "locked_until": None})
        log.warning("outbox %s (%s) attempt %s failed: %s", message_id, channel, attempts, exc.detail)
        return False
    at = clock()
    _finish(session, row, message_id, token, at=at, ok=True, detail=receipt,
            values={"attempts": attempts + 1, "state": "sent", "sent_at": at, "locked_until": None,
                    "last_error": None})
    return True


def _finish(session: Session, row: OutboxMessage, message_id: int, token: datetime, *, at: datetime, ok: bool,
            detail: str, values: dict) -> None:
    """Record the attempt, and the row's outcome if this worker still holds it (it always does
    unless a send outlived the lease, which the lease's length rules out short of a frozen worker)."""
    changed = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state == "sending", OutboxMessage.locked_until == token)
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount
    if changed == 1:
        for name, value in values.items():  # the loaded row shows the outcome without a second write
            set_committed_value(row, name, value)
    else:
        log.warning("outbox %s: lease lost during the send; outcome logged, row left to its new holder", message_id)
    session.add(OutboxAttempt(message_id=message_id, at=at, ok=ok, detail=detail[:2000]))
    session.commit()


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
    attachments: tuple[tuple[str, str, bytes], ...] = ()
    if payload.get("attachments"):
        attachments = tuple((a.filename, a.content_type, bytes(a.content)) for a in session.exec(
            select(OutboxAttachment).where(OutboxAttachment.message_id == row.id).order_by(OutboxAttachment.id)
        ).scalars())
    return Message(recipient=row.recipient if row.channel != "webhook" else "", subject=row.subject,
                   text=row.body, html=payload.get("html"), locale=locale or "zh_CN",
                   delivery_id=row.dedupe_key, data=data, attachments=attachments,
                   inline=tuple(str(name) for name in payload.get("inline") or ()))


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
