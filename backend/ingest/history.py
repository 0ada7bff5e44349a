"""History replay, written: an import batch whose mapping declares `history` (backend/ingest/schemas.py:
HistoryPoint) lands each order in its final stage with its real times, and its past as events.

The planning is pure (engine/ingest/history.py: which changes, in which order, which final stage,
which row errors); this module reads the cells, resolves customers (the bulk path's helpers), and
writes set-based in one transaction per batch, with the job's cursor and counters:

- new orders: written with COPY on PostgreSQL, one executemany elsewhere (backend/ingest/copyrows.py;
  no ORM objects unless a published form must validate them), `created_at` = the first point's time, `stage_entered_at` = when the final stage was
  entered, `updated_at` = the last known time, closed orders' `closed_at` the same;
- their events: the `created` event at the creation time (the order as it was then: first stage,
  open), then one event of type `history` per past change, at its own time, before/after
  stage (and status), all in one COPY / executemany;
- nothing else runs: the order pipeline's stages (flows, rules, customer messages, live push)
  are not called, so a replayed past sends no message, writes no outbox row, fires no rule and
  starts no flow. A replayed order has no flow instance, open or closed (the past did not run
  through Gendan's flow; a person can start one on an open order);
- an order that exists already (same source and external id): when the record's final stage was
  entered later than the order's `stage_entered_at` (a newer export of the same orders), the
  newer changes are appended as history and the order moves on (`updated`), unless a flow holds
  its stage; otherwise nothing is written (`unchanged`), so importing the same file twice changes
  nothing.

A record whose history cannot be replayed (timestamps going backwards, a time in the future, no
creation time, a bad date) fails its row alone, with the error in the reader's language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, select, text, update
from sqlmodel import Session

from backend import gc_pause
from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.forms import service as forms_service
from backend.ingest import bulk
from backend.ingest import service as ingest
from backend.ingest.copyrows import insert_rows
from backend.ingest.models import ImportJob, ImportRowError, ImportRowResult
from backend.ingest.rows import CellError, DataField, ParsedRow, parse_instant, parse_row
from backend.ingest.schemas import ImportMapping, RowError
from backend.installation.service import get_installation
from backend.orders import service as orders_service
from backend.orders.models import Order, OrderEvent
from backend.pipeline import OrderChange
from engine.ingest.history import HistoryError, HistoryPlan, Point, plan_history
from engine.reports.reached import first_delivered, stages_mask

EVENT_TYPE = "history"
MAX_EXTENDS = 3  # mapping files that extend one another, at most this deep


def read_mapping_file(path: Path, _depth: int = 0) -> ImportMapping:
    """A mapping file; `"extends": "other.json"` (relative to it) starts from that file's mapping and
    replaces its top-level keys with this file's (tests/data/olist/mapping_history.json)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    base = raw.pop("extends", None)
    if base is not None:
        if _depth >= MAX_EXTENDS or not isinstance(base, str) or "/" in base or "\\" in base:
            raise ValueError(f"{path}: 'extends' names a file next to it, at most {MAX_EXTENDS} deep")
        raw = {**read_mapping_file(path.parent / base, _depth + 1).model_dump(exclude_defaults=True), **raw}
    return ImportMapping.model_validate(raw)


def check_history(mapping: ImportMapping, headers: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Mapping problems of the history points (merged into check_mapping's field errors)."""
    return {f"history.{i}": ("import.column_unknown", {"column": p.column})
            for i, p in enumerate(mapping.history) if p.column not in headers}


def _data_sources(mapping: ImportMapping) -> list[tuple[str, str]]:
    """(column, data key) of the `data.*` targets read from a history column (once per batch)."""
    wanted = {p.column for p in mapping.history}
    return [(column, target[5:]) for target, column in mapping.columns.items()
            if target.startswith("data.") and column in wanted]


def _read_already(parsed: ParsedRow, mapping: ImportMapping, sources: list[tuple[str, str]]) -> dict[str, datetime]:
    """column -> the instant parse_row already read from it (`created`, date-time `data.*`), so the
    history does not parse the same cells again (the same reading: parse_instant in the job's zone)."""
    out = {}
    if parsed.created_at is not None and mapping.columns.get("created"):
        out[mapping.columns["created"]] = parsed.created_at
    data = parsed.values.get("data") or {}
    for column, key in sources:
        value = data.get(key)
        if isinstance(value, str) and value.endswith("Z") and "T" in value:
            try:
                out.setdefault(column, datetime.fromisoformat(value[:-1] + "+00:00"))
            except ValueError:
                continue
    return out


def points_of(cells: dict[str, str], mapping: ImportMapping, tz: ZoneInfo, line: int,
              known: dict[str, datetime] | None = None) -> tuple[list[Point], list[RowError]]:
    """The record's history points, read in the job's time zone (as `created`); `known` holds
    instants already read from some columns."""
    points, errors = [], []
    known = known or {}
    for declared in mapping.history:
        text = (cells.get(declared.column) or "").strip()
        at = known.get(declared.column) if text else None
        if text and at is None:
            try:
                at = parse_instant(text, tz)
            except CellError as exc:
                errors.append(RowError(line=line, column=declared.column, field="history", code=exc.code,
                                       params=exc.params))
        points.append(Point(stage=declared.stage, column=declared.column, at=at, text=text))
    return points, errors


@dataclass(eq=False)
class _Item(bulk._Row):
    plan: HistoryPlan | None = None


@gc_pause.paused()
def import_batch(session: Session, job_id: int, actor: Actor, mapping: ImportMapping, tz: ZoneInfo,
                 fields: dict[str, DataField], headers: list[str], rows: list[list[str]], start: int, stop: int,
                 now: datetime) -> None:
    """Rows start .. stop of the job, replayed set-based and committed with the job's progress.
    A database error rolls the whole batch back and is raised (the worker tries the batch again)."""
    try:
        session.execute(update(ImportJob).where(ImportJob.id == job_id).values(next_row=ImportJob.next_row))
        if session.get_bind().dialect.name == "postgresql":
            # the batch carries the job's cursor: a commit lost in a crash is a batch done again
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        items, sources = [], _data_sources(mapping)
        for index in range(start, stop):
            cells = dict(zip(headers, rows[index], strict=False))
            parsed = parse_row(index + 2, cells, mapping, tz, fields)
            item = _Item(parsed=parsed, cells=rows[index], errors=list(parsed.errors))
            points, errors = points_of(cells, mapping, tz, parsed.line, _read_already(parsed, mapping, sources))
            blamed = {e.column for e in item.errors}
            item.errors += [e for e in errors if e.column not in blamed]  # a bad cell is reported once
            if not item.errors:
                try:
                    item.plan = plan_history(points, final_stage=parsed.values.get("stage"),
                                             status=parsed.status or "open", now=now)
                except HistoryError as exc:
                    item.errors.append(RowError(line=parsed.line, column=exc.column, field="history", code=exc.code,
                                                params=exc.params))
            items.append(item)
        job = session.get(ImportJob, job_id)
        out = bulk._Out()
        with forms_service.batch_cache(session):
            for segment in _segments(items, job_id):
                _segment(session, job, actor, mapping, segment, now, out)
        for item in items:
            if item.errors:
                bulk._failed(job, item, out)
        insert_rows(session, ImportRowResult.__table__, sorted(out.results, key=lambda r: r["line"]))
        insert_rows(session, ImportRowError.__table__, sorted(out.errors, key=lambda r: r["line"]))
        job.next_row = stop
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _segments(items: list[_Item], job_id: int) -> list[list[_Item]]:
    """Runs of rows naming no order an earlier row of the run names (a repeated row then finds
    the order its first row created)."""
    out: list[list[_Item]] = [[]]
    seen: set[str] = set()
    for item in items:
        if not item.errors:
            key = bulk._external_id(job_id, item.parsed)
            if key in seen:
                out.append([])
                seen = set()
            seen.add(key)
        out[-1].append(item)
    return [s for s in out if s]


def _segment(session: Session, job: ImportJob, actor: Actor, mapping: ImportMapping, items: list[_Item],
             now: datetime, out: bulk._Out) -> None:
    live = [i for i in items if not i.errors]
    if not live:
        return
    live = bulk.resolve_customers(session, job, mapping, live, now)
    existing = _existing(session, mapping.source, [i.payload.external_id for i in live])
    new = [i for i in live if i.payload.external_id not in existing]
    _create(session, job, actor, mapping, new, out)
    moved: list[dict[str, Any]] = []
    for item in live:
        if item.payload.external_id in existing:
            moved += _move_on(session, job, actor, item, existing[item.payload.external_id], now, out)
    insert_rows(session, OrderEvent.__table__, moved)


@dataclass
class _Known:
    id: int
    stage: str
    status: str
    stage_entered_at: datetime
    version: int


def _existing(session: Session, source: str, external_ids: list[str]) -> dict[str, _Known]:
    out: dict[str, _Known] = {}
    for chunk in bulk._chunks(sorted(set(external_ids))):
        for o_id, ext, stage, status, entered, version in session.execute(
                select(Order.id, Order.external_id, Order.stage, Order.status, Order.stage_entered_at, Order.version)
                .where(Order.source == source, Order.external_id.in_(chunk))).all():
            out[ext] = _Known(o_id, stage, status, entered, version)
    return out


def _create(session: Session, job: ImportJob, actor: Actor, mapping: ImportMapping, items: list[_Item],
            out: bulk._Out) -> None:
    if not items:
        return
    if not orders_service.can_create_orders(actor):
        for item in items:
            item.errors = [RowError(line=item.parsed.line, column=None, field="_", code="auth.forbidden")]
        return
    currency = get_installation(session).default_currency
    has_form = forms_service.get_published(session) is not None
    ready: list[tuple[_Item, dict[str, Any]]] = []
    for item in items:
        p, payload, plan = item.parsed, item.payload, item.plan
        try:
            orders_service._check_dates(plan.created_at, payment_due=payload.payment_due,
                                        planned_delivery=payload.planned_delivery)
        except GendanError as exc:
            item.errors = ingest._errors_from(exc, p, mapping)
            continue
        row = {
            "number": payload.number, "customer_id": item.customer_id or 0,
            "owner_id": payload.owner_id or actor.user_id, "amount": payload.amount,
            "currency": payload.currency or currency, "stage": plan.stage, "status": plan.status,
            "stage_entered_at": plan.stage_entered_at, "planned_delivery": payload.planned_delivery,
            "payment_due": payload.payment_due, "source": payload.source, "external_id": payload.external_id,
            "data": dict(payload.data), "form_key": None, "form_version": None,
            "tags": list(dict.fromkeys(payload.tags)), "risk_flags": [], "urge_count": 0,
            "last_customer_contact_at": None, "version": 1, "created_at": plan.created_at,
            "updated_at": plan.last_at, "closed_at": plan.closed_at, **_reached(plan),
        }
        if has_form:  # the designed form validates (and completes) the data, as for any new order
            try:
                row = _validated(session, row, actor, plan.created_at)
            except GendanError as exc:
                item.errors = ingest._errors_from(exc, p, mapping)
                continue
        ready.append((item, row))
    bulk.insert_customers(session, actor, list({id(i.customer): i.customer for i, _ in ready
                                                if i.customer is not None}.values()))
    numbers = iter(orders_service.next_numbers(session, [r["created_at"] for _, r in ready if r["number"] is None]))
    for item, row in ready:
        if item.customer is not None:
            row["customer_id"] = item.customer.id
        if row["number"] is None:
            row["number"] = next(numbers)
    if not ready:
        return
    ids = insert_rows(session, Order.__table__, [r for _, r in ready], ids=True)
    who = {"actor_id": actor.user_id or None, "actor_label": actor.display_name}
    events = []
    for (item, row), order_id in zip(ready, ids, strict=True):
        plan = item.plan
        events.append({"order_id": order_id, "type": "created", "at": plan.created_at, "before": None,
                       "after": _created_after(row, plan), "note": None, **who})
        events += [{"order_id": order_id, "type": EVENT_TYPE, "at": t.at, "before": t.before, "after": t.after,
                    "note": None, **who} for t in plan.transitions]
        job.created_count += 1
        out.result(job.id, item.parsed.line, "created", external_id=row["external_id"], order_id=order_id)
    insert_rows(session, OrderEvent.__table__, events)


def _reached(plan: HistoryPlan, transitions: tuple | list | None = None) -> dict[str, Any]:
    """`delivered_at` and `stages_entered` of a replayed order (engine/reports/reached.py): from its
    creation and every stage change of the plan (or of `transitions` only, for an order moving on)."""
    moves = [(t.at, t.after.get("stage")) for t in (plan.transitions if transitions is None else transitions)]
    if transitions is None:
        moves.insert(0, (plan.created_at, plan.first_stage))
    return {"delivered_at": first_delivered(moves), "stages_entered": stages_mask(stage for _, stage in moves)}


def _validated(session: Session, row: dict[str, Any], actor: Actor, at: datetime) -> dict[str, Any]:
    order = Order(**row)
    forms_service.validate_order_form(session, OrderChange.of(order, before=None, actor=actor, via="import", now=at))
    return {**row, "data": order.data, "form_key": order.form_key, "form_version": order.form_version}


def _created_after(row: dict[str, Any], plan: HistoryPlan) -> dict[str, Any]:
    """The `created` event's order: as it was when created (first stage, open), as record_change writes it."""
    return {"customer_id": row["customer_id"], "owner_id": row["owner_id"], "amount": str(row["amount"]),
            "currency": row["currency"], "stage": plan.first_stage, "status": "open",
            "planned_delivery": row["planned_delivery"].isoformat() if row["planned_delivery"] else None,
            "payment_due": row["payment_due"].isoformat() if row["payment_due"] else None,
            "data": row["data"], "tags": row["tags"], "risk_flags": []}


def _move_on(session: Session, job: ImportJob, actor: Actor, item: _Item, known: _Known, now: datetime,
             out: bulk._Out) -> list[dict[str, Any]]:
    """An order already there: move it on to what the record knows beyond it (see the module
    docstring); returns the history events to append."""
    plan = item.plan
    newer = [t for t in plan.transitions if t.at > known.stage_entered_at]
    moves = plan.stage_entered_at > known.stage_entered_at and bool(newer)
    if moves and plan.stage != known.stage and ingest._flow_running(session, known.id):
        moves = False  # the flow holds the stage
    ext = item.payload.external_id
    job.existing_count += 1
    if not moves:
        job.unchanged_count += 1
        out.result(job.id, item.parsed.line, "unchanged", external_id=ext, order_id=known.id)
        return []
    reached = _reached(plan, newer)
    values = {"stage": plan.stage, "stage_entered_at": plan.stage_entered_at, "status": plan.status,
              "closed_at": plan.closed_at, "updated_at": max(plan.last_at, now), "version": known.version + 1,
              "stages_entered": Order.stages_entered.op("|")(reached["stages_entered"]),
              "delivered_at": func.coalesce(Order.delivered_at,
                                            literal(reached["delivered_at"], Order.__table__.c.delivered_at.type))}
    session.execute(update(Order).where(Order.id == known.id).values(**values))
    who = {"actor_id": actor.user_id or None, "actor_label": actor.display_name}
    first = newer[0]  # its "before" is the order as it is now
    before = {k: {"stage": known.stage, "status": known.status}[k] for k in first.before}
    newer[0] = type(first)(first.at, before, first.after)
    changed = sorted({k for t in newer for k in t.after} | {"stage_entered_at"})
    job.updated_count += 1
    out.result(job.id, item.parsed.line, "updated", external_id=ext, order_id=known.id, changed=changed)
    return [{"order_id": known.id, "type": EVENT_TYPE, "at": t.at, "before": t.before, "after": t.after,
             "note": None, **who} for t in newer]
