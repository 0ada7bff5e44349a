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

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session

from backend import i18n
from backend.audit import service as audit
from backend.auth import service as auth_service
from backend.auth.actor import Actor
from backend.clock import utcnow
from backend.errors import GendanError, error_params
from backend.ingest import service as import_service
from backend.ingest import via
from backend.ingest.models import InboundDelivery, InboundSource
from backend.ingest.rows import ParsedRow
from backend.ingest.schemas import (
    DeliveryRead,
    ImportMapping,
    InboundFormat,
    InboundRecordResult,
    InboundResult,
    InboundSignature,
    InboundSourceCreate,
    InboundSourceCreated,
    InboundSourceRead,
    MappedInboundResult,
    RowError,
)
from backend.installation.service import get_installation
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderCreate, OrderUpdate
from backend.people.models import User
from engine.connectors import jsonpath

SIGNATURE_HEADER = "X-Gendan-Signature"
TIMESTAMP_HEADER = "X-Gendan-Timestamp"
DELIVERY_HEADER = "X-Gendan-Delivery"
WINDOW_SECONDS = 300  # how old a signed timestamp may be
FUTURE_SECONDS = 60  # how far ahead of our clock a sender's clock may run
UNKNOWN_PER_MINUTE = 10  # logged posts to unknown source keys per client address
ORDER_OUTCOMES = ("created", "updated", "unchanged")
MAX_RECORDS = 500  # records in one mapped delivery
MAX_DEPTH = 32  # nesting of a mapped body


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
            now: datetime, delivery_id: str | None = None, client: str | None = None,
            headers: Mapping[str, str] | None = None, query: Mapping[str, str] | None = None
            ) -> InboundResult | MappedInboundResult:
    """Verify and apply one delivery: one Gendan-format order, or a mapped source's records.
    A refused delivery changes no order; its log row is kept."""
    def apply(source: InboundSource, order_fields: Any, delivery: InboundDelivery
              ) -> InboundResult | MappedInboundResult:
        if source.body_format == "mapped":
            return _apply_mapped(session, source, order_fields, now, delivery)
        if not isinstance(order_fields, dict):
            raise GendanError("inbound.body_invalid")
        delivery.external_id = str(order_fields.get("external_id") or "")[:120] or None
        return _apply(session, source, order_fields, now, delivery)

    return logged_delivery(session, source_key=source_key, body=body, signature=signature, timestamp=timestamp,
                           now=now, apply=apply, delivery_id=delivery_id, client=client,
                           headers=headers, query=query)


def logged_delivery(session: Session, *, source_key: str, body: bytes, signature: str | None,
                    timestamp: str | None, now: datetime, apply: Callable[..., Any],
                    delivery_id: str | None = None, client: str | None = None,
                    headers: Mapping[str, str] | None = None, query: Mapping[str, str] | None = None) -> Any:
    """Verify a delivery, then `apply(source, fields, delivery)`, which adds the delivery row and
    commits. A refusal (any GendanError) rolls back what `apply` did and commits the log row alone;
    past the unknown-source limit nothing is logged."""
    delivery = InboundDelivery(source_key=source_key[:60], received_at=now, is_accepted=False, outcome="rejected",
                               body_sha256=hashlib.sha256(body).hexdigest(), body_size=len(body),
                               remote_addr=(client or "")[:64] or None)
    try:
        try:
            source, fields = _verify(session, source_key, body, signature, timestamp, now, delivery,
                                     headers or {}, query or {})
            if _scheme(source).scheme == "gendan":
                delivery.dedupe_key = dedupe_key(delivery_id, timestamp or "", body)
                _refuse_duplicate(session, source, delivery.dedupe_key)
            # other schemes: records are applied by (source, external id), so a repeat is `unchanged`
            with via.channel(f"webhook: {source.name}"):  # customers it creates say which source
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
            now: datetime, delivery: InboundDelivery, headers: Mapping[str, str] | None = None,
            query: Mapping[str, str] | None = None) -> tuple[InboundSource, Any]:
    source = session.exec(select(InboundSource).where(InboundSource.key == source_key)).scalars().first()
    if source is None or not source.is_active:
        _limit_strangers(session, delivery, now)
        raise GendanError("inbound.source_unknown", {"source": source_key[:60]})
    delivery.source_id = source.id
    scheme = _scheme(source)
    if scheme.scheme != "gendan":
        delivery.sent_at = verify_scheme(scheme, source.secret, body, headers or {}, query or {}, now)
        return source, parse_body(body, allow_list=source.body_format == "mapped")
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
    return source, parse_body(body, allow_list=source.body_format == "mapped")


def parse_body(body: bytes, *, allow_list: bool = False) -> Any:
    """The JSON body: an object (a mapped source's body may also be a list); else inbound.body_invalid."""
    if b"\x00" in body or b"\\u0000" in body:  # no database text column can hold NUL
        raise GendanError("inbound.body_invalid")
    try:
        fields = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise GendanError("inbound.body_invalid") from exc
    if not isinstance(fields, dict) and not (allow_list and isinstance(fields, list)):
        raise GendanError("inbound.body_invalid")
    if jsonpath.depth_exceeds(fields, MAX_DEPTH):
        raise GendanError("inbound.body_invalid")
    return fields


def _invalid(exc: ValidationError) -> GendanError:
    fields = {}
    for err in exc.errors():
        path = ".".join(str(p) for p in err.get("loc", ())) or "_"
        fields[path] = (f"field.{err.get('type', 'value_error')}", {"field": path, **error_params(err)})
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
            create=source.creates_customers, now=now, actor=actor)
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


# ---------------------------------------------------------------- the sender's own schemes and shapes

def _scheme(source: InboundSource) -> InboundSignature:
    try:
        return InboundSignature.model_validate(source.signature or {})
    except ValidationError:
        return InboundSignature()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name) if name else None
    if value is None and name:
        value = headers.get(name.lower())
    return value


def _same(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace"))


def _check_age(stamp: str, now: datetime, tolerance: int, *, millis: bool = False) -> datetime:
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 15:
        raise GendanError("inbound.timestamp_invalid")
    sent = int(stamp) / 1000 if millis else int(stamp)
    age = int(now.timestamp() - sent)
    if abs(age) > tolerance:
        raise GendanError("inbound.timestamp_stale", {"skew": abs(age), "window": tolerance})
    return datetime.fromtimestamp(sent, UTC)


def verify_scheme(scheme: InboundSignature, secret: str, body: bytes, headers: Mapping[str, str],
                  query: Mapping[str, str], now: datetime) -> datetime | None:
    """Check a delivery signed in the sender's own scheme (constant-time); the signed time or None."""
    key = secret.encode()
    if scheme.scheme == "dingtalk":
        # DingTalk: sign = base64(HMAC-SHA256(secret, timestamp + "\n" + secret)), timestamp in ms
        stamp, sign_value = query.get("timestamp"), query.get("sign")
        if not stamp or not sign_value:
            raise GendanError("inbound.scheme_missing", {"what": "timestamp, sign"})
        sent = _check_age(stamp.strip(), now, scheme.tolerance, millis=True)
        digest = hmac.new(key, f"{stamp.strip()}\n{secret}".encode(), hashlib.sha256).digest()
        if not _same(base64.b64encode(digest).decode(), sign_value):
            raise GendanError("inbound.signature_invalid")
        return sent
    given = _header(headers, scheme.header)
    if given is None:
        raise GendanError("inbound.scheme_missing", {"what": scheme.header})
    if scheme.scheme == "static_token":
        if not _same(secret, given):
            raise GendanError("inbound.signature_invalid")
        return None
    sent = None
    signed = body
    if scheme.timestamp_header:
        stamp = _header(headers, scheme.timestamp_header)
        if not stamp:
            raise GendanError("inbound.scheme_missing", {"what": scheme.timestamp_header})
        sent = _check_age(stamp.strip(), now, scheme.tolerance)
        signed = f"{stamp.strip()}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256)
    text = digest.hexdigest() if scheme.scheme == "hmac_sha256_hex" else base64.b64encode(digest.digest()).decode()
    if not _same(scheme.prefix + text, given):
        raise GendanError("inbound.signature_invalid")
    return sent


def _mapped_settings(source: InboundSource) -> tuple[str, ImportMapping]:
    settings = source.mapped or {}
    try:
        mapping = ImportMapping.model_validate({**(settings.get("mapping") or {"columns": {}}),
                                                "source": source.key,
                                                "create_customers": source.creates_customers})
    except ValidationError as exc:
        raise GendanError("inbound.mapping_invalid") from exc
    return str(settings.get("records_path") or ""), mapping


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, ZoneInfoNotFoundError) as exc:  # unknown, or a path-like name
        raise GendanError("inbound.mapping_invalid") from exc


def _records(document: Any, records_path: str) -> list[Any]:
    try:
        found = jsonpath.records(document, records_path) if records_path else document
    except jsonpath.PathError as exc:
        raise GendanError("inbound.mapping_invalid") from exc
    records = found if isinstance(found, list) else [found]
    if not records:
        raise GendanError("inbound.no_records", {"path": records_path[:200]})
    if len(records) > MAX_RECORDS:
        raise GendanError("inbound.too_many_records", {"count": len(records), "limit": MAX_RECORDS})
    return records


def _error_dicts(errors: list[RowError], mapping: ImportMapping) -> list[dict[str, Any]]:
    return [{"field": e.field, "path": e.column or mapping.columns.get(e.field), "code": e.code,
             "message": i18n.translate_error(e.code, e.params)} for e in errors]


def parsed_records(session: Session, source: InboundSource, document: Any
                   ) -> tuple[ImportMapping, list[tuple[Any, ParsedRow]]]:
    """Every record of a mapped body as an import row (pure reading: nothing stored)."""
    from backend.connectors.runner import parse_record  # the connectors' own record reader

    records_path, mapping = _mapped_settings(source)
    if not mapping.columns.get("external_id"):
        raise GendanError("inbound.mapping_invalid")
    zone = _zone(mapping.timezone) if mapping.timezone else get_installation(session).zone
    fields = import_service.data_fields(session)
    rows = [(record, parse_record(i, record, mapping, zone, fields))
            for i, record in enumerate(_records(document, records_path), start=1)]
    return mapping, rows


def preview(session: Session, *, actor: Actor, source_id: int, body: str, settings: InboundFormat | None
            ) -> list[InboundRecordResult]:
    """The orders a sample body would make, with each record's errors; nothing is stored."""
    _require_admin(actor)
    source = session.get(InboundSource, source_id)
    if source is None:
        raise GendanError("inbound.source_not_found", {"id": source_id})
    trial = InboundSource(key=source.key, name=source.name, secret="", acts_as_id=source.acts_as_id,
                          creates_customers=source.creates_customers, created_by=source.created_by,
                          created_at=source.created_at, body_format="mapped",
                          mapped=_mapped_of(settings) if settings else source.mapped)
    document = parse_body(body.encode("utf-8", "replace"), allow_list=True)
    mapping, rows = parsed_records(session, trial, document)
    out = []
    for _record, parsed in rows:
        errors = list(parsed.errors)
        if not errors and parsed.customer_code:
            found, problem = import_service.resolve_customer(session, code=parsed.customer_code,
                                                             name=parsed.customer_name, create=False, now=utcnow())
            if found is None and not mapping.create_customers:
                errors.append(RowError(line=parsed.line, column=mapping.columns.get("customer_code"),
                                       field="customer_code", code=problem or "import.customer_unknown",
                                       params={"value": parsed.customer_code[:40]}))
        values = {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
                  for k, v in parsed.values.items()}
        if parsed.status:
            values["status"] = parsed.status
        if parsed.customer_code:
            values["customer_code"] = parsed.customer_code
        out.append(InboundRecordResult(position=parsed.line, external_id=str(parsed.values.get("external_id") or "")
                                       or None, outcome="failed" if errors else "valid", values=values,
                                       errors=_error_dicts(errors, mapping)))
    session.rollback()
    return out


def _apply_mapped(session: Session, source: InboundSource, document: Any, now: datetime,
                  delivery: InboundDelivery) -> MappedInboundResult:
    """Each record in a transaction of its own, as a connector applies them: one bad record fails alone."""
    actor = auth_service.load_actor(session, source.acts_as_id, via="webhook")
    if actor is None:
        raise GendanError("auth.forbidden")
    mapping, rows = parsed_records(session, source, document)
    source_id = source.id
    results = []
    for _record, parsed in rows:
        external_id = str(parsed.values.get("external_id") or "")[:120] or None
        errors = list(parsed.errors)
        order, outcome = None, "failed"
        if not errors:
            try:
                order, outcome, errors = _write_record(session, actor, mapping, parsed, now)
            except GendanError as exc:
                session.rollback()
                errors = import_service._errors_from(exc, parsed, mapping)
            except SQLAlchemyError as exc:  # one broken record must not stop the others
                session.rollback()
                errors = [RowError(line=parsed.line, column=None, field="_", code="import.row_internal",
                                   params={"error": type(exc).__name__})]
        results.append(InboundRecordResult(position=parsed.line, external_id=external_id,
                                           outcome="failed" if errors else outcome,
                                           order_id=order.id if order and not errors else None,
                                           number=order.number if order and not errors else None,
                                           errors=_error_dicts(errors, mapping)))
    counts = {o: sum(r.outcome == o for r in results) for o in ("created", "updated", "unchanged", "failed")}
    delivery.source_id = source_id
    delivery.is_accepted = counts["failed"] < len(results)
    delivery.outcome = "records"
    delivery.code = None if not counts["failed"] else "inbound.records_failed"
    delivery.params = counts
    delivery.external_id = results[0].external_id if len(results) == 1 else None
    session.add(delivery)
    session.commit()
    return MappedInboundResult(delivery_id=delivery.id, records=results)


def _write_record(session: Session, actor: Actor, mapping: ImportMapping, parsed: ParsedRow, now: datetime
                  ) -> tuple[Order | None, str, list[RowError]]:
    """Create or update one record's order (committed): (order, outcome, []) or (None, "failed", errors)."""
    customer_id, problem = import_service._customer_for(session, actor, mapping, parsed, now)
    if problem:
        session.rollback()
        return None, "failed", [problem]
    values = {**parsed.values, "customer_id": customer_id, "source": mapping.source}
    try:
        payload = OrderCreate.model_validate(values)
    except ValidationError as exc:
        session.rollback()
        return None, "failed", import_service._pydantic_errors(exc, parsed, mapping)
    existing = import_service._existing_order(session, payload)
    if existing is None:
        token = import_service._pending_status.set(parsed.status)
        try:
            order, is_new = orders_service.create_order(session, actor=actor, payload=payload,
                                                        now=parsed.created_at or now)
        finally:
            import_service._pending_status.reset(token)
        session.commit()
        return order, "created" if is_new else "unchanged", []
    changes = import_service.changes_for(existing, payload, set(parsed.values) | {"customer_id"}, parsed.status)
    if changes.get("stage") is not None and import_service._flow_running(session, existing.id):
        changes.pop("stage")
    if not changes:
        session.commit()
        return existing, "unchanged", []
    try:
        update = OrderUpdate.model_validate({"version": existing.version, **changes})
    except ValidationError as exc:
        session.rollback()
        return None, "failed", import_service._pydantic_errors(exc, parsed, mapping)
    order = orders_service.update_order(session, actor=actor, order_id=existing.id, payload=update, now=now)
    session.commit()
    return order, "updated", []


def _mapped_of(settings: InboundFormat) -> dict[str, Any] | None:
    if settings.body_format != "mapped":
        return None
    mapping = settings.mapping.model_dump(mode="json") if settings.mapping else {"columns": {}}
    return {"records_path": settings.records_path, "mapping": mapping}


def set_format(session: Session, *, actor: Actor, source_id: int, payload: InboundFormat,
               now: datetime | None = None) -> InboundSourceRead:
    """Save a source's body format, mapping and signature scheme (audited; a given secret replaces it)."""
    _require_admin(actor)
    source = session.get(InboundSource, source_id)
    if source is None:
        raise GendanError("inbound.source_not_found", {"id": source_id})
    if payload.body_format == "mapped" and not (payload.mapping and payload.mapping.columns.get("external_id")):
        raise GendanError("inbound.mapping_invalid")
    if payload.mapping and payload.mapping.timezone:
        _zone(payload.mapping.timezone)
    if payload.records_path:
        try:
            jsonpath.parse(payload.records_path)
        except jsonpath.PathError as exc:
            raise GendanError("inbound.mapping_invalid") from exc
    sig = payload.signature
    if sig.scheme in ("hmac_sha256_hex", "hmac_sha256_base64", "static_token") and not sig.header:
        raise GendanError("validation.failed", {"count": 1},
                          fields={"signature.header": ("field.missing", {"field": "signature.header"})})
    before = audit.snapshot(source, ("body_format", "mapped", "signature"))
    source.body_format = payload.body_format
    source.mapped = _mapped_of(payload)
    source.signature = None if sig.scheme == "gendan" else sig.model_dump(mode="json")
    after = audit.snapshot(source, ("body_format", "mapped", "signature"))
    if payload.secret:
        before["secret"], source.secret = source.secret, payload.secret
        after["secret"] = source.secret
    audit.record(session, actor, "inbound_source", source.id, "update", before, after, now or utcnow())
    session.commit()
    return InboundSourceRead.model_validate(source)
