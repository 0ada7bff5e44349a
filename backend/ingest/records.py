"""`POST /api/v1/orders/bulk`: up to MAX_RECORDS orders upserted by (source, external_id) on the
import's set-based path (backend/ingest/bulk.py:apply_rows), with a result per record.

Each record becomes the ParsedRow an import row would: its scalar fields pass through the import's
cell parsing (amount, dates, stage), designed fields are converted by the published form's types,
customers are found by id, code or name (created with `create_customers`). Records go in chunks of
CHUNK, one transaction each. A record that is not valid JSON, not an object or not a valid order
fails alone; a chunk the set-based path declines (a unique designed field, a number in the
automatic series, an unexpected database error) is done record by record, each in its own
transaction, with the same outcomes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from backend import gc_pause
from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.ids import ID_MAX, id_problem
from backend.ingest import bulk, via
from backend.ingest import service as ingest
from backend.ingest.rows import DataField, ParsedRow, convert_cell, parse_row
from backend.ingest.schemas import ImportMapping, RowError
from backend.installation.service import get_installation
from backend.orders import access
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderCreate, OrderUpdate

MAX_RECORDS = 10_000
VIA = "api: bulk"  # the audit "via" of the customers a bulk request creates (backend/ingest/via.py)
VIA_KEY = "api key: {}"  # ... when an API key sent it: the key's name
CHUNK = 5000  # records per transaction (a declined chunk goes record by record: a request of MAX_RECORDS costs the same either way)
MAX_LINE_BYTES = 256 * 1024  # one NDJSON line
DEFAULT_SOURCE = "api"
_SCALARS = ("external_id", "number", "currency", "stage", "planned_delivery", "payment_due", "created")
_SOURCE = re.compile(r"[a-z0-9_\-]+")  # ASCII lower-case letters, digits, _ and -
_CELLS = (*_SCALARS, "amount", "customer_code", "customer_name")  # the values parse_row reads as cells
_FIELDS = {*_SCALARS, "amount", "customer_id", "customer_code", "customer_name", "status", "data", "tags", "source"}
_MAPPING = ImportMapping.model_construct(
    columns={t: t for t in (*_SCALARS, "amount", "customer_code")} | {"customer": "customer_name"},
    defaults={}, stage_map={}, status_map={}, data_types={}, create_customers=False, source=DEFAULT_SOURCE,
    timezone="")


class BulkError(BaseModel):
    field: str
    message: str


class BulkRecordResult(BaseModel):
    index: int  # the record's place in the request, from 0
    external_id: str | None
    outcome: str  # created | updated | unchanged | failed
    order_id: int | None = None
    number: str | None = None
    errors: list[BulkError] = []


class BulkResult(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    results: list[BulkRecordResult] = []


@dataclass
class _Tally:
    """What apply_rows counts on an import job, for one chunk of records."""

    id: int = 0
    per_record: bool = True
    created_count: int = 0
    existing_count: int = 0
    updated_count: int = 0
    unchanged_count: int = 0
    failed_count: int = 0


@dataclass
class _Record:
    index: int
    source: str
    external_id: str | None
    parsed: ParsedRow | None = None
    customer_id: int | None = None
    errors: list[RowError] = field(default_factory=list)


def _error(index: int, field_: str, code: str, **params: Any) -> RowError:
    return RowError(line=index, column=None, field=field_, code=code, params=params)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError


def parse_json_body(body: bytes) -> list[Any]:
    """A JSON array of records; refused whole (in words) when it is not one."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise GendanError("bulk.bad_json", {"error": type(exc).__name__}) from None
    if not isinstance(value, list):
        raise GendanError("bulk.not_a_list")
    if len(value) > MAX_RECORDS:
        raise GendanError("bulk.too_many", {"max": MAX_RECORDS, "count": len(value)})
    return value


def parse_ndjson_line(line: bytes) -> Any:
    """One NDJSON line as a value, or a _BadLine standing for the record."""
    if len(line) > MAX_LINE_BYTES:
        return _BadLine("bulk.line_too_long", {"max": MAX_LINE_BYTES})
    try:
        return json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return _BadLine("bulk.bad_line", {"error": type(exc).__name__})


@dataclass
class _BadLine:
    code: str
    params: dict[str, Any]


def _record(index: int, value: Any, tz: ZoneInfo, fields: dict[str, DataField]) -> _Record:
    if isinstance(value, _BadLine):
        return _Record(index, DEFAULT_SOURCE, None, errors=[_error(index, "_", value.code, **value.params)])
    if not isinstance(value, dict):
        return _Record(index, DEFAULT_SOURCE, None, errors=[_error(index, "_", "bulk.not_an_object")])
    external_id = value.get("external_id")
    external_id = external_id[:120] if isinstance(external_id, str) and external_id else None
    source = value.get("source", DEFAULT_SOURCE)
    rec = _Record(index, source if isinstance(source, str) else DEFAULT_SOURCE, external_id)
    errors = rec.errors
    for key in value:
        if key not in _FIELDS:
            errors.append(_error(index, str(key)[:60], "field.extra_forbidden"))
    if external_id is None:
        errors.append(_error(index, "external_id", "import.value_missing"))
    if not isinstance(source, str) or len(source) > 40 or not _SOURCE.fullmatch(source):
        errors.append(_error(index, "source", "field.string_pattern_mismatch", pattern=r"^[a-z0-9_\-]+$"))
    cells: dict[str, str] = {}
    get = value.get
    for key in _CELLS:
        item = get(key)
        if item is None or type(item) is str:  # most of a record's values: no conversion
            cells[key] = item or ""
            continue
        try:
            cells[key] = _cell(item)
        except ValueError:
            errors.append(_error(index, key, "field.string_type"))
    customer_id = value.get("customer_id")
    if customer_id is not None:
        problem = id_problem(customer_id)
        if problem is not None:
            errors.append(_error(index, "customer_id", problem, max=ID_MAX))
            customer_id = None
        else:
            cells.setdefault("customer_name", "")
            cells["customer_name"] = cells["customer_name"] or f"#{customer_id}"  # parse_row wants a customer
    parsed = parse_row(index, cells, _MAPPING, tz, fields)
    status = value.get("status")
    if status is not None:
        if status not in ("open", "completed", "cancelled"):
            errors.append(_error(index, "status", "field.literal_error", expected="open, completed, cancelled"))
        else:
            parsed.status = status
    tags = value.get("tags")
    if tags is not None:
        parsed.values["tags"] = tags  # OrderCreate checks them
    data = value.get("data")
    if data is not None:
        if not isinstance(data, dict):
            errors.append(_error(index, "data", "field.dict_type"))
        else:
            out = {}
            for key, item in data.items():
                spec = fields.get(key)
                if spec is not None and isinstance(item, (str, int, float)) and not isinstance(item, bool):
                    try:
                        out[key] = convert_cell(str(item), spec, tz)
                    except Exception as exc:  # noqa: BLE001 - the cell's own error code when it has one
                        errors.append(_error(index, f"data.{key}"[:60], getattr(exc, "code", "field.value_error"),
                                             **getattr(exc, "params", {})))
                    continue
                out[key] = item
            parsed.values["data"] = out
    errors.extend(parsed.errors)
    parsed.errors = list(errors)
    rec.parsed, rec.customer_id = parsed, customer_id
    return rec


@gc_pause.paused()
def apply(session: Session, *, actor: Actor, values: list[Any], create_customers: bool, now: datetime) -> BulkResult:
    """Upsert the records; each chunk of CHUNK commits on its own."""
    if len(values) > MAX_RECORDS:
        raise GendanError("bulk.too_many", {"max": MAX_RECORDS, "count": len(values)})
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    tz = get_installation(session).zone
    fields = ingest.data_fields(session)
    known = _known_customers(session, values)  # before any chunk is written, as for every record

    def parse(start: int) -> list[_Record]:
        chunk = [_record(i, values[i], tz, fields) for i in range(start, min(start + CHUNK, len(values)))]
        _check_customers(chunk, known)
        return chunk

    # each next chunk's records are parsed (pure) by the parser thread while this chunk waits for
    # the database, so a request of two chunks parses the second one in the first one's waits
    result = BulkResult()
    starts = list(range(0, len(values), CHUNK))
    ahead = None
    with via.channel(channel_of(actor)):  # the customers it creates say by which key, else "API bulk"
        for n, start in enumerate(starts):
            chunk = ahead.result() if ahead is not None else parse(start)
            ahead = bulk._parser.submit(parse, starts[n + 1]) if n + 1 < len(starts) else None
            outcomes = _chunk(session, actor, chunk, create_customers, now)
            _report(session, chunk, outcomes, result)
    return result


def channel_of(actor: Actor) -> str:
    """The bulk request's channel for its new customers' history: the API key's name when a key
    sent it (several integrations each have their own), else the bulk API (a signed-in token)."""
    name = actor.extra.get("api_key_name") if actor.via == "api_key" else None
    return VIA_KEY.format(name) if name else VIA


def _valid_customer_id(value: Any) -> int | None:
    """A record's `customer_id` when it is one `_record` keeps (else None: an id past the id
    column's range is never asked for, the database would refuse the whole statement; its record
    alone fails, with `field.id_out_of_range`)."""
    customer_id = value.get("customer_id") if isinstance(value, dict) else None
    return customer_id if id_problem(customer_id) is None else None


def _known_customers(session: Session, values: list[Any]) -> set[int]:
    """The customer ids the records name that exist (read once, before anything is written)."""
    ids = sorted({c for c in map(_valid_customer_id, values) if c is not None})
    known: set[int] = set()
    for i in range(0, len(ids), 500):
        known.update(session.execute(select(Customer.id).where(Customer.id.in_(ids[i:i + 500]))).scalars())
    return known


def _check_customers(records: list[_Record], known: set[int]) -> None:
    for r in records:
        if r.customer_id is not None and r.customer_id not in known:
            r.parsed.errors.append(_error(r.index, "customer_id", "customer.not_found", id=r.customer_id))


def _chunk(session: Session, actor: Actor, chunk: list[_Record], create_customers: bool,
           now: datetime) -> dict[int, str]:
    """{index: outcome} of the chunk's records, committed; errors are left on the records."""
    try:
        outcomes = _set_based(session, actor, chunk, create_customers, now)
        session.commit()
        return outcomes
    except (bulk.Fallback, SQLAlchemyError, GendanError) as exc:
        session.rollback()
        ingest.log.info("bulk API: %s records one by one (%s)", len(chunk), exc)
    outcomes = {}
    for record in chunk:
        if record.parsed is None or record.parsed.errors:
            continue
        try:
            outcomes[record.index] = _one(session, actor, record, create_customers, now)
            session.commit()
        except ValidationError as exc:
            session.rollback()
            record.parsed.errors = ingest._pydantic_errors(exc, record.parsed, _MAPPING)
        except GendanError as exc:
            session.rollback()
            record.parsed.errors = ingest._errors_from(exc, record.parsed, _MAPPING)
        except SQLAlchemyError as exc:
            session.rollback()
            ingest.log.exception("bulk API record %s: unexpected database error", record.index)
            record.parsed.errors = [_error(record.index, "_", "bulk.record_not_saved", error=type(exc).__name__)]
    return outcomes


def _one(session: Session, actor: Actor, record: _Record, create_customers: bool, now: datetime) -> str:
    """One record through the order services (the import's row-by-row path), not committed."""
    p = record.parsed
    customer_id = record.customer_id
    if customer_id is None:
        customer_id, code = ingest.resolve_customer(session, code=p.customer_code, name=p.customer_name,
                                                    create=create_customers, now=now, actor=actor)
        if code is not None:
            raise GendanError(code, {"value": p.customer_code or p.customer_name},
                              fields={"customer": (code, {"value": p.customer_code or p.customer_name})})
    payload = OrderCreate.model_validate({**p.values, "customer_id": customer_id, "source": record.source})
    existing = ingest._existing_order(session, payload)
    if existing is None:
        token = ingest._pending_status.set(p.status)
        try:
            orders_service.create_order(session, actor=actor, payload=payload, now=p.created_at or now, via="import")
        finally:
            ingest._pending_status.reset(token)
        return "created"
    access.get_visible_order(session, actor, existing.id)
    changes = ingest.changes_for(existing, payload, set(p.values) | {"customer_id"}, p.status)
    if changes.get("stage") is not None and ingest._flow_running(session, existing.id):
        changes.pop("stage")
    if not changes:
        return "unchanged"
    orders_service.update_order(session, actor=actor, order_id=existing.id, now=now, via="import",
                                payload=OrderUpdate.model_validate({"version": existing.version, **changes}))
    return "updated"


def _set_based(session: Session, actor: Actor, chunk: list[_Record], create_customers: bool,
               now: datetime) -> dict[int, str]:
    if bulk._form_has_unique_fields(session):
        raise bulk.Fallback("a designed field is unique")
    outcomes: dict[int, str] = {}
    by_source: dict[str, list[_Record]] = {}
    for record in chunk:
        if record.parsed is not None:
            by_source.setdefault(record.source, []).append(record)
    for source, records in by_source.items():
        mapping = _MAPPING.model_copy(update={"source": source, "create_customers": create_customers})
        items = [bulk._Row(parsed=r.parsed, cells=[], errors=list(r.parsed.errors), customer_id=r.customer_id)
                 for r in records]
        out = bulk.apply_rows(session, _Tally(), actor, mapping, items, now)
        for record, item in zip(records, items, strict=True):
            record.parsed.errors = item.errors
        outcomes.update({row["line"]: row["outcome"] for row in out.results})
    return outcomes


def _report(session: Session, chunk: list[_Record], outcomes: dict[int, str], result: BulkResult) -> None:
    keys = {(r.source, r.external_id) for r in chunk if outcomes.get(r.index, "failed") != "failed"}
    orders: dict[tuple[str, str], tuple[int, str]] = {}
    by_source: dict[str, list[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, []).append(external_id)
    with bulk.custom_plans(session):
        for source, ids in by_source.items():
            for clause in bulk._in(session, Order.external_id, ids):
                for o_id, number, ext in session.execute(select(Order.id, Order.number, Order.external_id).where(
                        Order.source == source, clause)).all():
                    orders[(source, ext)] = (o_id, number)
    for record in chunk:
        outcome = outcomes.get(record.index, "failed")
        errors = record.parsed.errors if record.parsed is not None else record.errors
        if outcome != "failed" and errors:
            outcome = "failed"
        if outcome == "failed" and not errors:
            errors = [_error(record.index, "_", "bulk.record_not_saved", error="")]
        found = orders.get((record.source, record.external_id)) if outcome != "failed" else None
        setattr(result, outcome, getattr(result, outcome) + 1)
        result.results.append(BulkRecordResult(
            index=record.index, external_id=record.external_id, outcome=outcome,
            order_id=found[0] if found else None, number=found[1] if found else None,
            errors=[BulkError(field=e.field, message=ingest.describe(e)) for e in errors] if outcome == "failed" else []))


def json_default(value: Any) -> Any:  # pragma: no cover - records carry only JSON values
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError
