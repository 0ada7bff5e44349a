"""Signed inbound webhooks: other systems push orders to POST /api/v1/inbound/{source}.

The sender signs `"<timestamp>." + raw body` with HMAC-SHA256 and its source's secret and sends
`X-Gendan-Timestamp: <unix seconds>` and `X-Gendan-Signature: sha256=<hex>`. A timestamp more
than five minutes from the server's clock is refused, so a captured delivery cannot be replayed
later. The body is one order (OrderCreate fields; `source` comes from the URL): the first delivery
of an external id creates the order, a later one with other values updates it, the same one again
changes nothing. Every delivery, accepted or refused, is logged with its outcome and reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth import service as auth_service
from backend.auth.actor import Actor
from backend.clock import utcnow
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.ingest import messages
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
WINDOW_SECONDS = 300
UPDATABLE = ("customer_id", "amount", "currency", "stage", "planned_delivery", "payment_due", "data", "tags")

messages.register()


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
        raise GendanError("validation.failed", {"count": 1}, status=422,
                          fields={"acts_as_id": ("user.not_found", {"field": "acts_as_id", "id": acts_as})})
    source = InboundSource(key=payload.key, name=payload.name, secret="whsec_" + secrets.token_urlsafe(32),
                           acts_as_id=acts_as, created_by=actor.user_id, created_at=now)
    session.add(source)
    session.flush()
    audit.record(session, actor, "inbound_source", source.id, "create", {},
                 audit.snapshot(source, ("key", "name", "acts_as_id", "is_active", "secret")), now)
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
            now: datetime) -> InboundResult:
    """Verify and apply one order delivery. A refused delivery changes no order; its log row is kept."""
    def apply(source: InboundSource, order_fields: dict[str, Any], delivery: InboundDelivery) -> InboundResult:
        delivery.external_id = str(order_fields.get("external_id") or "")[:120] or None
        return _apply(session, source, order_fields, now, delivery)

    return logged_delivery(session, source_key=source_key, body=body, signature=signature, timestamp=timestamp,
                           now=now, apply=apply)


def logged_delivery(session: Session, *, source_key: str, body: bytes, signature: str | None,
                    timestamp: str | None, now: datetime, apply: Callable[..., Any]) -> Any:
    """Verify a delivery, then `apply(source, fields, delivery)`, which adds the delivery row and
    commits. A refusal (any GendanError) rolls back what `apply` did and commits the log row alone."""
    delivery = InboundDelivery(source_key=source_key[:60], received_at=now, is_accepted=False, outcome="rejected",
                               body_sha256=hashlib.sha256(body).hexdigest(), body_size=len(body))
    try:
        source, fields = _verify(session, source_key, body, signature, timestamp, now, delivery)
        result = apply(source, fields, delivery)
    except GendanError as exc:
        session.rollback()
        delivery.code, delivery.params = exc.code, _jsonable(exc.params)
        if exc.fields:
            delivery.params = {**delivery.params, "fields": {p: c for p, (c, _) in exc.fields.items()}}
        session.add(delivery)
        session.commit()
        raise
    return result


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in params.items()}


def _verify(session: Session, source_key: str, body: bytes, signature: str | None, timestamp: str | None,
            now: datetime, delivery: InboundDelivery) -> tuple[InboundSource, dict[str, Any]]:
    source = session.exec(select(InboundSource).where(InboundSource.key == source_key)).scalars().first()
    if source is None or not source.is_active:
        raise GendanError("inbound.source_unknown", {"source": source_key[:60]})
    delivery.source_id = source.id
    if not signature or not timestamp:
        raise GendanError("inbound.signature_missing")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise GendanError("inbound.timestamp_invalid")
    if not hmac.compare_digest(sign(source.secret, timestamp, body), signature.strip()):
        raise GendanError("inbound.signature_invalid")
    skew = abs(int(now.timestamp()) - int(timestamp))
    if skew > WINDOW_SECONDS:
        raise GendanError("inbound.timestamp_stale", {"skew": skew, "window": WINDOW_SECONDS})
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
    return GendanError("inbound.payload_invalid", {"count": len(fields)}, status=422, fields=fields)


def _apply(session: Session, source: InboundSource, fields: dict[str, Any], now: datetime,
           delivery: InboundDelivery) -> InboundResult:
    actor = auth_service.load_actor(session, source.acts_as_id, via="webhook")
    if actor is None:
        raise GendanError("auth.forbidden")
    fields = dict(fields)
    status = fields.pop("status", None)
    if status not in (None, "open", "completed", "cancelled"):
        raise GendanError("inbound.payload_invalid", {"count": 1}, status=422,
                          fields={"status": ("field.literal_error", {"field": "status"})})
    code = fields.pop("customer_code", None)
    if code is not None and "customer_id" not in fields:
        found = session.exec(select(Customer.id).where(Customer.code == str(code))).scalars().first()
        if found is None:
            raise GendanError("inbound.customer_unknown", {"value": str(code)[:40]})
        fields["customer_id"] = found
    if not fields.get("external_id"):
        raise GendanError("inbound.payload_invalid", {"count": 1}, status=422,
                          fields={"external_id": ("field.missing", {"field": "external_id"})})
    try:
        payload = OrderCreate.model_validate({**fields, "source": source.key})
    except ValidationError as exc:
        raise _invalid(exc) from exc
    existing = session.exec(select(Order).where(Order.source == source.key,
                                                Order.external_id == payload.external_id)).scalars().first()
    if existing is None:
        token = import_service._pending_status.set(status)
        try:
            order, is_new = orders_service.create_order(session, actor=actor, payload=payload, now=now)
        finally:
            import_service._pending_status.reset(token)
        outcome = "created" if is_new else "unchanged"  # a concurrent delivery of the same order won
    else:
        changes = _changes(existing, payload, fields, status)
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


def _changes(order: Order, payload: OrderCreate, sent: dict[str, Any], status: str | None) -> dict[str, Any]:
    """The fields the delivery sends with a value other than the order's (unsent fields stay)."""
    out: dict[str, Any] = {}
    for name in UPDATABLE:
        if name not in sent:
            continue
        value = getattr(payload, name)
        current = getattr(order, name)
        if name == "amount":
            differs = Decimal(str(current)) != value
        elif name == "data":
            differs = not orders_service.sent_values_match(current or {}, value or {})
        else:
            differs = current != value
        if differs:
            out[name] = value
    if status is not None and status != order.status:
        out["status"] = status
    return out
