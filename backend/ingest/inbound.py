"""Signed inbound webhooks: other systems push orders to POST /api/v1/inbound/{source}.

The sender signs `"<timestamp>." + raw body` with HMAC-SHA256 and its source's secret and sends
`X-Gendan-Timestamp: <unix seconds>` and `X-Gendan-Signature: sha256=<hex>`, and may send
`X-Gendan-Delivery: <id>`. A timestamp more than five minutes old, or more than a minute ahead of
the server's clock, is refused. Within that window a delivery is applied once: a repeat of the
same delivery id (else of the same timestamp and body) is refused as a duplicate, and an update
signed earlier than the last one applied to that order is refused as out of order, so a captured
older delivery replayed later cannot roll an order back. The body is one order (OrderCreate
fields; `source` comes from the URL): the first delivery of an external id creates the order, a
later one with other values updates it, the same one again changes nothing. Every delivery,
accepted or refused, is logged with its outcome and reason; posts to an unknown source are logged
without their body's hash and at most UNKNOWN_PER_MINUTE a minute per client address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth import service as auth_service
from backend.auth.actor import Actor
from backend.clock import utcnow
from backend.errors import GendanError
from backend.ingest import service as import_service
from backend.ingest.models import InboundDelivery, InboundSource
from backend.ingest.schemas import (
    DeliveryRead,
    InboundResult,
    InboundSourceCreate,
    InboundSourceCreated,
    InboundSourceRead,
)
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderCreate, OrderUpdate
from backend.people.models import User

SIGNATURE_HEADER = "X-Gendan-Signature"
TIMESTAMP_HEADER = "X-Gendan-Timestamp"
DELIVERY_HEADER = "X-Gendan-Delivery"
WINDOW_SECONDS = 300  # how old a signed timestamp may be
FUTURE_SECONDS = 60  # how far ahead of our clock a sender's clock may run
UNKNOWN_PER_MINUTE = 10  # logged posts to unknown source keys per client address
ORDER_OUTCOMES = ("created", "updated", "unchanged")


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature header value a sender computes (documented in docs/ingest.md)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


# ---------------------------------------------------------------- admin: sources and the log

def _require_admin(actor: Actor) -> None:
    if not actor.is_admin or not actor.can_write:
        raise GendanError("auth.forbidden")


def create_source(session: Session, *, actor: Actor, payload: InboundSourceCreate, now: datetime
                  ) -> InboundSourceCreated:
    """A new source with a fresh secret, returned this once (the log and lists never show it)."""
    _require_admin(actor)
    if session.exec(select(InboundSource.id).where(InboundSource.key == payload.key)).first():
        raise GendanError("inbound.source_taken", {"key": payload.key})
    acts_as = payload.acts_as_id or actor.user_id
    user = session.get(User, acts_as)
    if user is None or not user.is_active:
        raise GendanError("validation.failed", {"count": 1},
                          fields={"acts_as_id": ("user.not_found", {"field": "acts_as_id", "id": acts_as})})
    source = InboundSource(key=payload.key, name=payload.name, secret="whsec_" + secrets.token_urlsafe(32),
                           acts_as_id=acts_as, creates_customers=payload.creates_customers,
                           created_by=actor.user_id, created_at=now)
    session.add(source)
    session.flush()
    audit.record(session, actor, "inbound_source", source.id, "create", {},
                 audit.snapshot(source, ("key", "name", "acts_as_id", "is_active", "creates_customers", "secret")),
                 now)
    session.commit()
    return InboundSourceCreated(**InboundSourceRead.model_validate(source).model_dump(), secret=source.secret)


def rotate_secret(session: Session, *, actor: Actor, source_id: int, now: datetime | None = None
                  ) -> InboundSourceCreated:
    _require_admin(actor)
    source = session.get(InboundSource, source_id)
    if source is None:
        raise GendanError("inbound.source_not_found", {"id": source_id})
    before = {"secret": source.secret}
    source.secret = "whsec_" + secrets.token_urlsafe(32)
    audit.record(session, actor, "inbound_source", source.id, "rotate_secret", before, {"secret": source.secret},
                 now or utcnow())
    session.commit()
    return InboundSourceCreated(**InboundSourceRead.model_validate(source).model_dump(), secret=source.secret)


def set_creates_customers(session: Session, *, actor: Actor, source_id: int, value: bool,
                          now: datetime | None = None) -> InboundSourceRead:
    """Turn on or off "create unknown customers by code" for a source (audited)."""
    _require_admin(actor)
    source = session.get(InboundSource, source_id)
    if source is None:
        raise GendanError("inbound.source_not_found", {"id": source_id})
    if source.creates_customers != value:
        audit.record(session, actor, "inbound_source", source.id, "update",
                     {"creates_customers": source.creates_customers}, {"creates_customers": value}, now or utcnow())
        source.creates_customers = value
    session.commit()
    return InboundSourceRead.model_validate(source)


def list_sources(session: Session, *, actor: Actor) -> list[InboundSourceRead]:
    _require_admin(actor)
    rows = session.exec(select(InboundSource).order_by(InboundSource.key)).scalars().all()
    return [InboundSourceRead.model_validate(s) for s in rows]


def list_deliveries(session: Session, *, actor: Actor, source_key: str | None = None, limit: int = 100
                    ) -> list[DeliveryRead]:
    _require_admin(actor)
    stmt = select(InboundDelivery)
    if source_key:
        stmt = stmt.where(InboundDelivery.source_key == source_key)
    rows = session.exec(stmt.order_by(InboundDelivery.id.desc()).limit(limit)).scalars().all()
    return [DeliveryRead.model_validate(d) for d in rows]


# ---------------------------------------------------------------- receiving

def receive(session: Session, *, source_key: str, body: bytes, signature: str | None, timestamp: str | None,
            now: datetime, delivery_id: str | None = None, client: str | None = None) -> InboundResult:
    """Verify and apply one order delivery. A refused delivery changes no order; its log row is kept."""
    def apply(source: InboundSource, order_fields: dict[str, Any], delivery: InboundDelivery) -> InboundResult:
        delivery.external_id = str(order_fields.get("external_id") or "")[:120] or None
        return _apply(session, source, order_fields, now, delivery)

    return logged_delivery(session, source_key=source_key, body=body, signature=signature, timestamp=timestamp,
                           now=now, apply=apply, delivery_id=delivery_id, client=client)


def logged_delivery(session: Session, *, source_key: str, body: bytes, signature: str | None,
                    timestamp: str | None, now: datetime, apply: Callable[..., Any],
                    delivery_id: str | None = None, client: str | None = None) -> Any:
    """Verify a delivery, then `apply(source, fields, delivery)`, which adds the delivery row and
    commits. A refusal (any GendanError) rolls back what `apply` did and commits the log row alone;
    past the unknown-source limit nothing is logged."""
    delivery = InboundDelivery(source_key=source_key[:60], received_at=now, is_accepted=False, outcome="rejected",
                               body_sha256=hashlib.sha256(body).hexdigest(), body_size=len(body),
                               remote_addr=(client or "")[:64] or None)
    try:
        try:
            source, fields = _verify(session, source_key, body, signature, timestamp, now, delivery)
            delivery.dedupe_key = dedupe_key(delivery_id, timestamp or "", body)
            _refuse_duplicate(session, source, delivery.dedupe_key)
            result = apply(source, fields, delivery)
        except IntegrityError:
            # a concurrent copy of this delivery committed first (the unique dedupe key)
            session.rollback()
            if not _already_applied(session, delivery.source_id, delivery.dedupe_key):
                raise
            raise GendanError("inbound.duplicate") from None
    except GendanError as exc:
        session.rollback()
        if exc.code == "inbound.rate_limited":
            raise
        delivery.dedupe_key = None  # only an applied delivery holds its key
        delivery.code, delivery.params = exc.code, _jsonable(exc.params)
        if exc.fields:
            delivery.params = {**delivery.params, "fields": {p: c for p, (c, _) in exc.fields.items()}}
        session.add(delivery)
        session.commit()
        raise
    return result


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in params.items()}


def dedupe_key(delivery_id: str | None, timestamp: str, body: bytes) -> str:
    """The sender's delivery id, else the hash of what was signed (a replay repeats both)."""
    if delivery_id and delivery_id.strip():
        return "id:" + delivery_id.strip()[:90]
    return "sha256:" + hashlib.sha256(f"{timestamp}.".encode() + body).hexdigest()


def _already_applied(session: Session, source_id: int | None, key: str | None) -> bool:
    return key is not None and session.exec(select(InboundDelivery.id).where(
        InboundDelivery.source_id == source_id, InboundDelivery.dedupe_key == key)).first() is not None


def _refuse_duplicate(session: Session, source: InboundSource, key: str) -> None:
    if _already_applied(session, source.id, key):
        raise GendanError("inbound.duplicate")


def _limit_strangers(session: Session, delivery: InboundDelivery, now: datetime) -> None:
    """Posts to unknown source keys are logged (an admin sees a misconfigured sender) without
    their body's hash, and at most UNKNOWN_PER_MINUTE a minute from one address."""
    delivery.body_sha256 = ""
    recent = session.exec(select(func.count()).select_from(InboundDelivery).where(
        InboundDelivery.remote_addr == delivery.remote_addr, InboundDelivery.code == "inbound.source_unknown",
        InboundDelivery.received_at >= now - timedelta(minutes=1))).scalar_one()
    if recent >= UNKNOWN_PER_MINUTE:
        raise GendanError("inbound.rate_limited", {"limit": UNKNOWN_PER_MINUTE})


def _verify(session: Session, source_key: str, body: bytes, signature: str | None, timestamp: str | None,
            now: datetime, delivery: InboundDelivery) -> tuple[InboundSource, dict[str, Any]]:
    source = session.exec(select(InboundSource).where(InboundSource.key == source_key)).scalars().first()
    if source is None or not source.is_active:
        _limit_strangers(session, delivery, now)
        raise GendanError("inbound.source_unknown", {"source": source_key[:60]})
    delivery.source_id = source.id
    if not signature or not timestamp:
        raise GendanError("inbound.signature_missing")
    # str.isdigit() is true for "²¹" and other digits int() refuses: ASCII digits only
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise GendanError("inbound.timestamp_invalid")
    expected = sign(source.secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace")):
        raise GendanError("inbound.signature_invalid")
    sent = int(timestamp)
    delivery.sent_at = datetime.fromtimestamp(sent, UTC)
    age = int(now.timestamp()) - sent
    if age > WINDOW_SECONDS or -age > FUTURE_SECONDS:
        window = WINDOW_SECONDS if age > 0 else FUTURE_SECONDS
        raise GendanError("inbound.timestamp_stale", {"skew": abs(age), "window": window})
    if b"\x00" in body or b"\\u0000" in body:  # no database text column can hold NUL
        raise GendanError("inbound.body_invalid")
    try:
        fields = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GendanError("inbound.body_invalid") from exc
    if not isinstance(fields, dict):
        raise GendanError("inbound.body_invalid")
    return source, fields


def _invalid(exc: ValidationError) -> GendanError:
    fields = {}
    for err in exc.errors():
        path = ".".join(str(p) for p in err.get("loc", ())) or "_"
        fields[path] = (f"field.{err.get('type', 'value_error')}", {"field": path})
    return GendanError("inbound.payload_invalid", {"count": len(fields)}, fields=fields)


def _apply(session: Session, source: InboundSource, fields: dict[str, Any], now: datetime,
           delivery: InboundDelivery) -> InboundResult:
    actor = auth_service.load_actor(session, source.acts_as_id, via="webhook")
    if actor is None:
        raise GendanError("auth.forbidden")
    fields = dict(fields)
    status = fields.pop("status", None)
    if status not in (None, "open", "completed", "cancelled"):
        raise GendanError("inbound.payload_invalid", {"count": 1},
                          fields={"status": ("field.literal_error", {"field": "status"})})
    code = fields.pop("customer_code", None)
    name = fields.pop("customer_name", None)
    if code is not None and "customer_id" not in fields:
        if isinstance(code, int) and not isinstance(code, bool):
            code = str(code)
        if not isinstance(code, str) or not code.strip() or (name is not None and not isinstance(name, str)):
            raise GendanError("inbound.payload_invalid", {"count": 1},
                              fields={"customer_code": ("field.string_type", {"field": "customer_code"})})
        found, problem = import_service.resolve_customer(
            session, code=code.strip(), name=(name or "").strip()[:200] or None,
            create=source.creates_customers, now=now)
        if problem == "import.customer_code_invalid":
            raise GendanError("inbound.payload_invalid", {"count": 1},
                              fields={"customer_code": ("import.customer_code_invalid", {"value": code[:40]})})
        if found is None:
            raise GendanError("inbound.customer_unknown", {"value": code[:40]})
        fields["customer_id"] = found
    if not fields.get("external_id"):
        raise GendanError("inbound.payload_invalid", {"count": 1},
                          fields={"external_id": ("field.missing", {"field": "external_id"})})
    try:
        payload = OrderCreate.model_validate({**fields, "source": source.key})
    except ValidationError as exc:
        raise _invalid(exc) from exc
    existing = session.exec(select(Order).where(Order.source == source.key,
                                                Order.external_id == payload.external_id)).scalars().first()
    if existing is not None:
        _refuse_out_of_order(session, source, delivery)
    if existing is None:
        token = import_service._pending_status.set(status)
        try:
            order, is_new = orders_service.create_order(session, actor=actor, payload=payload, now=now)
        finally:
            import_service._pending_status.reset(token)
        outcome = "created" if is_new else "unchanged"  # a concurrent delivery of the same order won
    else:
        changes = import_service.changes_for(existing, payload, fields, status)
        if changes:
            try:
                update = OrderUpdate.model_validate({"version": existing.version, **changes})
            except ValidationError as exc:
                raise _invalid(exc) from exc
            order = orders_service.update_order(session, actor=actor, order_id=existing.id, payload=update, now=now)
            outcome = "updated"
        else:
            order, outcome = existing, "unchanged"
    delivery.is_accepted, delivery.outcome, delivery.order_id = True, outcome, order.id
    session.add(delivery)
    session.commit()
    return InboundResult(delivery_id=delivery.id, outcome=outcome, order_id=order.id, number=order.number)


def _refuse_out_of_order(session: Session, source: InboundSource, delivery: InboundDelivery) -> None:
    """An update signed before the last delivery applied to this order is stale: applying it
    would roll the order back to older values."""
    newest = session.exec(select(func.max(InboundDelivery.sent_at)).where(
        InboundDelivery.source_id == source.id, InboundDelivery.external_id == delivery.external_id,
        InboundDelivery.is_accepted.is_(True), InboundDelivery.outcome.in_(ORDER_OUTCOMES))).scalar_one()
    if newest is not None and delivery.sent_at is not None and delivery.sent_at < newest:
        raise GendanError("inbound.out_of_order", {"sent_at": delivery.sent_at.isoformat(),
                                                   "newest": newest.isoformat()})
