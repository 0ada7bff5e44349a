"""Tracking sources (admin use cases) and the worker's poll job.

A source is data: the aggregator's URL and customer id in plain settings, its key and push salt
encrypted with the connectors' key. The poll job follows active shipments one by one on a lease
(one worker at a time), at most `POLL_BATCH` per tick; a shipment whose poll fails waits longer
each time (backoff up to a day), and the error is kept on the shipment and on the source's health.
"""

from __future__ import annotations

import logging
import secrets as pysecrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.connectors import crypto
from backend.db import new_session
from backend.errors import GendanError
from backend.logistics import kuaidi100
from backend.logistics import service as logistics_service
from backend.logistics.models import Shipment, ShipmentEvent, TrackingSource
from backend.worker import lease as leases

log = logging.getLogger("gendan.logistics")

POLL_BATCH = 50
POLL_LEASE = timedelta(minutes=2)
MAX_BACKOFF = timedelta(hours=24)


@dataclass
class SourceInput:
    name: str
    url: str
    customer: str
    key: str = ""  # blank: keep the saved one
    salt: str = ""
    poll_minutes: int = 120
    is_enabled: bool = True


def _admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")


def _check(data: SourceInput) -> dict[str, tuple[str, dict[str, Any]]]:
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    if not data.name.strip():
        fields["name"] = ("field.missing", {"field": "name"})
    elif len(data.name) > 120:
        fields["name"] = ("field.string_too_long", {"max_length": 120})
    if not data.url.startswith(("http://", "https://")) or len(data.url) > 500:
        fields["url"] = ("logistics.url_invalid", {})
    if not data.customer.strip() or len(data.customer) > 120:
        fields["customer"] = ("field.missing", {"field": "customer"})
    if not 1 <= data.poll_minutes <= 10080:
        fields["poll_minutes"] = ("logistics.poll_minutes_invalid", {})
    if len(data.key) > 200 or len(data.salt) > 200:
        fields["key"] = ("field.string_too_long", {"max_length": 200})
    return fields


def list_sources(session: Session, *, actor: Actor) -> list[TrackingSource]:
    _admin(actor)
    return list(session.exec(select(TrackingSource).order_by(TrackingSource.id)).scalars().all())


def get_source(session: Session, *, actor: Actor, source_id: int) -> TrackingSource:
    _admin(actor)
    source = session.get(TrackingSource, source_id)
    if source is None:
        raise GendanError("logistics.source_not_found", {"id": source_id})
    return source


def save_source(session: Session, *, actor: Actor, data: SourceInput, now: datetime,
                source_id: int | None = None) -> TrackingSource:
    _admin(actor)
    fields = _check(data)
    source = get_source(session, actor=actor, source_id=source_id) if source_id else None
    if source is None and not data.key.strip():
        fields["key"] = ("field.missing", {"field": "key"})
    taken = session.exec(select(TrackingSource.id).where(TrackingSource.name == data.name.strip())).scalars().first()
    if taken is not None and (source is None or taken != source.id):
        fields["name"] = ("logistics.name_taken", {"name": data.name.strip()[:120]})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)
    if source is None:
        source = TrackingSource(name=data.name.strip(), push_key=pysecrets.token_urlsafe(24), created_at=now,
                                updated_at=now)
        session.add(source)
    old = crypto.decrypt(source.secrets) if source.secrets else {}
    source.secrets = crypto.encrypt({"key": data.key.strip() or old.get("key", ""),
                                     "salt": data.salt.strip() or old.get("salt", "")})
    source.name = data.name.strip()
    source.settings = {"url": data.url.strip(), "customer": data.customer.strip()}
    source.poll_minutes, source.is_enabled, source.updated_at = data.poll_minutes, data.is_enabled, now
    session.commit()
    return source


def delete_source(session: Session, *, actor: Actor, source_id: int) -> None:
    session.delete(get_source(session, actor=actor, source_id=source_id))
    session.commit()


def active_source(session: Session) -> TrackingSource | None:
    """The source shipments are polled through: the first enabled one."""
    return session.exec(select(TrackingSource).where(TrackingSource.is_enabled.is_(True))
                        .order_by(TrackingSource.id).limit(1)).scalars().first()


def _error(exc: GendanError, now: datetime) -> dict[str, Any]:
    return {"code": exc.code, "params": exc.params, "at": now.isoformat()}


def fetch(source: TrackingSource, shipment: Shipment, *, client: httpx.Client | None = None) -> kuaidi100.Feed:
    """Ask the source about one shipment (no database work: called outside any transaction)."""
    secret = crypto.decrypt(source.secrets)
    form = kuaidi100.query_form(carrier=shipment.carrier, tracking_no=shipment.tracking_no,
                                customer=source.settings.get("customer", ""), key=secret.get("key", ""))
    answer = kuaidi100.query(source.settings.get("url") or kuaidi100.DEFAULT_URL, form, client=client)
    return kuaidi100.parse_result(answer, shipment.tracking_no)


def poll_shipment(session: Session, *, source_id: int, shipment_id: int, now: datetime,
                  client: httpx.Client | None = None) -> int:
    """Poll one shipment and store what came back (one transaction). Returns new events, -1 on error."""
    source, shipment = session.get(TrackingSource, source_id), session.get(Shipment, shipment_id)
    if source is None or shipment is None:
        return 0
    session.commit()  # no transaction (and no SQLite write lock) held over the HTTP call
    try:
        feed = fetch(source, shipment, client=client)
        source, shipment = session.get(TrackingSource, source_id), session.get(Shipment, shipment_id)
        added = logistics_service.apply_feed(session, shipment, feed, now=now)
    except GendanError as exc:
        session.rollback()
        _failed(session, source_id, shipment_id, exc, now)
        return -1
    shipment.last_polled_at = now
    shipment.next_poll_at = now + timedelta(minutes=source.poll_minutes)
    source.last_poll_at = source.last_success_at = now
    source.last_error = None
    session.commit()
    return added


def _failed(session: Session, source_id: int, shipment_id: int, exc: GendanError, now: datetime) -> None:
    """Keep the error on the shipment and the source's health; ask again later, later each time."""
    source, shipment = session.get(TrackingSource, source_id), session.get(Shipment, shipment_id)
    error = _error(exc, now)
    shipment.failures += 1
    shipment.last_error, shipment.last_polled_at, shipment.updated_at = error, now, now
    backoff = min(timedelta(minutes=source.poll_minutes) * (2 ** min(shipment.failures, 10)), MAX_BACKOFF)
    shipment.next_poll_at = now + backoff
    source.last_poll_at, source.last_error = now, error
    session.commit()
    log.warning("tracking poll of %s failed: %s %s", shipment.tracking_no, exc.code, exc.params)


def poll_due(bind, now: datetime, *, limit: int = POLL_BATCH, client: httpx.Client | None = None) -> int:
    """Worker job: poll the active shipments that are due, on a lease. Returns how many were polled."""
    lease = leases.acquire(bind, "logistics.poll", POLL_LEASE)
    if lease is None:
        return 0
    polled = 0
    try:
        with new_session(bind) as session:
            source = active_source(session)
            if source is None:
                return 0
            due = session.exec(select(Shipment.id).where(Shipment.is_active.is_(True), Shipment.next_poll_at <= now)
                               .order_by(Shipment.next_poll_at, Shipment.id).limit(limit)).scalars().all()
            source_id = source.id
            session.commit()
            started = time.monotonic()
            for shipment_id in due:
                if time.monotonic() - started > POLL_LEASE.total_seconds() / 2:
                    break  # the rest next tick, well inside the lease
                poll_shipment(session, source_id=source_id, shipment_id=shipment_id, now=now, client=client)
                polled += 1
    finally:
        leases.release(bind, lease)
    return polled


def events_of(session: Session, order_id: int) -> list[tuple[Shipment, list[ShipmentEvent]]]:
    """The order's shipments, newest first, each with its events newest first."""
    shipments = session.exec(select(Shipment).where(Shipment.order_id == order_id)
                             .order_by(Shipment.id.desc())).scalars().all()
    out = []
    for shipment in shipments:
        events = session.exec(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)
                              .order_by(ShipmentEvent.at.desc(), ShipmentEvent.id.desc()).limit(200)).scalars().all()
        out.append((shipment, list(events)))
    return out
