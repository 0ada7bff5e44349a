"""Order use cases: create, update, read, list, history. One transaction each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, cast, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import undefer_group
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.bulk_insert import insert_rows
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.foresight.models import ForesightScore
from backend.installation.service import get_installation
from backend.orders import access
from backend.orders.keyset import NULL_DATE, decode_cursor, encode_cursor, seek_clause
from backend.orders.models import PREDICTION_GROUP, Order, OrderEvent, load_predictions
from backend.orders.schemas import (
    OrderCreate,
    OrderEventRead,
    OrderFilter,
    OrderPage,
    OrderRead,
    OrderUpdate,
)
from backend.people.models import User
from backend.people.org import team_user_ids
from backend.pipeline import OrderChange, _jsonable, snapshot
from backend.pipeline import of as pipeline_of

# Every write goes through the order-change pipeline (backend/pipeline.py): checks before the row
# is written, then the stages (event, flows, rules, customer messages, live push) after it.


def record_event(session: Session, order: Order, *, type: str, actor: Actor | None, now: datetime,
                 before: dict | None = None, after: dict | None = None, note: str | None = None,
                 actor_label: str | None = None) -> OrderEvent:
    event = OrderEvent(
        order_id=order.id, type=type, at=now, before=before, after=after, note=note,
        actor_id=actor.user_id if actor and actor.user_id else None,
        actor_label=actor_label or (actor.display_name if actor else None),
    )
    session.add(event)
    return event


def _next_number(session: Session, now: datetime) -> str:
    # the date people here read on the page (00:30 in Shanghai is still yesterday in UTC)
    prefix = f"SO{get_installation(session).today(now):%Y%m%d}-"
    last = session.exec(
        select(Order.number).where(Order.number.like(prefix + "%"), _in_series(prefix))
        .order_by(Order.number.desc()).limit(1)
    ).scalars().first()
    seq = int(last.rsplit("-", 1)[1]) + 1 if last and last.rsplit("-", 1)[1].isdigit() else 1
    return f"{prefix}{seq:0{SERIES_DIGITS}d}"


def _in_series(prefix: str):
    """Only numbers of the automatic series' shape (prefix + 5 digits) count for its maximum: a
    number typed by hand or sent by an API client under the same day ("SO20261207-9101",
    "SO20261207-A1") sorts after the series as text and would make it hand out a number in use."""
    return func.length(Order.number) == len(prefix) + SERIES_DIGITS


SERIES_DIGITS = 5


def next_numbers(session: Session, nows: list[datetime]) -> list[str]:
    """`_next_number` for many new orders created in turn at `nows` (the bulk import): one query
    per 200 distinct days, the same numbers one-by-one creation would give."""
    today = get_installation(session).today
    prefixes = [f"SO{today(now):%Y%m%d}-" for now in nows]
    last: dict[str, int] = dict.fromkeys(prefixes, 0)
    head = func.substr(Order.number, 1, len(prefixes[0])) if prefixes else None
    distinct = sorted(last)
    if len(distinct) <= 20:
        # LIKE cannot use the number index (SQLite; PostgreSQL unless the collation is "C"), so the
        # grouped query reads every order each batch, a cost growing with the table; a range per
        # day is one index probe with the same maximum (SQLite's BINARY collation and PostgreSQL's
        # C/C.UTF-8 order by bytes, "-" < "."). The LIKE keeps the answer exact under any other
        # collation; should such a collation leave a number out of the range, the insert's unique
        # number index refuses the duplicate and the batch is redone row by row.
        for prefix in distinct:
            found = session.execute(select(func.max(Order.number)).where(
                Order.number >= prefix, Order.number < prefix[:-1] + ".", Order.number.like(prefix + "%"),
                _in_series(prefix))).scalar()
            tail = found.rsplit("-", 1)[1] if found else ""
            if tail.isdigit():
                last[prefix] = int(tail)
        distinct = []
    for i in range(0, len(distinct), 200):
        chunk = distinct[i:i + 200]
        for prefix, found in session.execute(
                select(head, func.max(Order.number)).where(or_(*[Order.number.like(p + "%") for p in chunk]), _in_series(chunk[0]))
                .group_by(head)).all():
            tail = found.rsplit("-", 1)[1] if found else ""
            if prefix in last and tail.isdigit():
                last[prefix] = int(tail)
    out = []
    for prefix in prefixes:
        last[prefix] += 1
        out.append(f"{prefix}{last[prefix]:0{SERIES_DIGITS}d}")
    return out


def _check_refs(session: Session, *, customer_id: int | None, owner_id: int | None) -> None:
    fields = {}
    if customer_id is not None and session.get(Customer, customer_id) is None:
        fields["customer_id"] = ("customer.not_found", {"id": customer_id})
    if owner_id is not None:
        owner = session.get(User, owner_id)
        if owner is None or not owner.is_active:
            fields["owner_id"] = ("user.not_found", {"id": owner_id})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)


def _invalid(path: str, code: str, **params: Any) -> GendanError:
    return GendanError("validation.failed", {"count": 1}, status=422, fields={path: (code, {"field": path, **params})})


def _check_owner_allowed(session: Session, actor: Actor, owner_id: int) -> None:
    """Sales give orders to themselves or their team (else they could not see them afterwards)."""
    if actor.is_admin or owner_id == actor.user_id:
        return
    if owner_id not in team_user_ids(session, actor.user_id):
        raise _invalid("owner_id", "order.owner_not_allowed")


def _check_dates(created_at: datetime, *, payment_due: date | None, planned_delivery: date | None) -> None:
    """Every date before the order's creation is reported, not just the first."""
    created = created_at.date()
    fields = {path: ("order.date_before_created", {"field": path, "created": created.isoformat()})
              for path, value in (("planned_delivery", planned_delivery), ("payment_due", payment_due))
              if value is not None and value < created}
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)


# Core values an idempotent retry must repeat; designed data, tags and stage may be reshaped by
# hooks at creation (form formulas, flow start), so they do not count as a different request.
# a retry must send what the first create sent: a changed date, stage, tag or designed field is a conflict
REPLAY_FIELDS = ("customer_id", "amount", "currency", "stage", "planned_delivery", "payment_due", "tags", "data")


def sent_values_match(stored: Any, sent: Any) -> bool:
    """Whether stored designed data already holds what was sent. Stored data also holds computed fields
    (in rows too) and plain numbers where a body had Decimal("2.50") or "2.50"."""
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(k in stored and sent_values_match(stored[k], v) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(stored, list) and len(stored) == len(sent) and all(
            sent_values_match(a, b) for a, b in zip(stored, sent, strict=True))
    numbers = (int, float, Decimal)
    if isinstance(sent, numbers) and isinstance(stored, numbers) and bool not in (type(sent), type(stored)):
        return Decimal(str(stored)) == Decimal(str(sent))
    return stored == sent


def _replay(session: Session, actor: Actor, payload: OrderCreate, existing: Order) -> OrderRead:
    """A retry of a create with the same (source, external_id): the original order, or 409 when the
    request carries different values (a second order reusing the id, not a retry)."""
    created = session.exec(
        select(OrderEvent.after).where(OrderEvent.order_id == existing.id, OrderEvent.type == "created")
        .order_by(OrderEvent.id).limit(1)
    ).scalars().first() or snapshot(existing)
    sent = payload.model_dump(include=set(REPLAY_FIELDS) | {"owner_id", "number"}, exclude_unset=True)
    if sent.get("currency") is None:  # not given: whatever default the original got
        sent.pop("currency", None)
    sent.setdefault("customer_id", payload.customer_id)
    sent.setdefault("amount", payload.amount)
    original = {**created, "number": existing.number}
    differs = []
    for key, value in sent.items():
        if key == "amount":
            same = Decimal(str(original.get(key))) == Decimal(str(value))
        elif key == "data":
            same = sent_values_match(original.get(key) or {}, value)
        else:
            same = original.get(key) == _jsonable(value)
        if not same:
            differs.append(key)
    visible = session.exec(
        select(Order.id).where(Order.id == existing.id, access.visible_orders_clause(session, actor))
    ).scalars().first()
    if differs or visible is None:
        raise GendanError("order.external_id_conflict",
                          {"source": existing.source, "external_id": existing.external_id,
                           "id": existing.id if visible else "-", "fields": ", ".join(differs)})
    return to_read(session, existing)


def _find_by_external_id(session: Session, source: str, external_id: str) -> Order | None:
    return session.exec(
        select(Order).where(Order.source == source, Order.external_id == external_id)
    ).scalars().first()


def can_create_orders(actor: Actor) -> bool:
    """Admins and sales create orders (pages show "New order" only to them)."""
    return actor.can_write and actor.has_role("admin", "sales")


def create_order(session: Session, *, actor: Actor, payload: OrderCreate, now: datetime,
                 via: str = "api") -> tuple[OrderRead, bool]:
    """Create an order; with a known (source, external_id) return the existing one (idempotent).

    Returns (order, created). Admins and sales create; a concurrent create with the same
    (source, external_id) returns the winner's order; an auto-numbered create that collides with
    a concurrent one takes the next number.
    """
    if not can_create_orders(actor):
        raise GendanError("auth.forbidden")
    return _on_fresh_snapshot(session, lambda: _create_once(session, actor=actor, payload=payload, now=now, via=via))


def _on_fresh_snapshot(session: Session, use_case: Callable[[], Any]) -> Any:
    """Run a write use case; on SQLite, run it again when a concurrent writer got there first.

    SQLite cannot write on a read snapshot that another connection's commit made stale ("database
    is locked"). The retry takes the write lock first (a no-op UPDATE waits in the busy handler
    until the other writer commits), so its reads see that commit: the loser of a create race finds
    the winner's order, the loser of an update race gets the version conflict. PostgreSQL needs no
    retry: it waits on the row lock or the unique index instead.
    """
    for attempt in range(3):
        try:
            return use_case()
        except OperationalError as exc:
            if attempt == 2 or session.get_bind().dialect.name != "sqlite" or "locked" not in str(exc):
                raise
            session.rollback()
            session.execute(update(Order).where(Order.id == -1).values(version=Order.version))
    raise AssertionError("unreachable")


def _create_once(session: Session, *, actor: Actor, payload: OrderCreate, now: datetime,
                 via: str) -> tuple[OrderRead, bool]:
    if payload.external_id:
        existing = _find_by_external_id(session, payload.source, payload.external_id)
        if existing is not None:
            return _replay(session, actor, payload, existing), False
    owner_id = payload.owner_id or actor.user_id
    _check_refs(session, customer_id=payload.customer_id, owner_id=owner_id)
    _check_owner_allowed(session, actor, owner_id)
    _check_dates(now, payment_due=payload.payment_due, planned_delivery=payload.planned_delivery)
    order = Order(
        number=payload.number or _next_number(session, now),
        customer_id=payload.customer_id, owner_id=owner_id, amount=payload.amount,
        currency=payload.currency or get_installation(session).default_currency,
        stage=payload.stage, status="open", stage_entered_at=now,
        planned_delivery=payload.planned_delivery, payment_due=payload.payment_due,
        source=payload.source, external_id=payload.external_id, data=dict(payload.data),
        tags=list(dict.fromkeys(payload.tags)), risk_flags=[], version=1, created_at=now, updated_at=now,
    )
    line = pipeline_of(session)
    line.check(session, OrderChange.of(order, before=None, actor=actor, via=via, now=now))
    for attempt in range(5):
        try:
            with session.begin_nested():  # a failed insert undoes only itself, not the caller's work
                session.add(order)
                session.flush()
            break
        except IntegrityError as exc:
            if payload.external_id:  # lost a race with the same (source, external_id): the winner's order
                winner = _find_by_external_id(session, payload.source, payload.external_id)
                if winner is not None:
                    result = _replay(session, actor, payload, winner)
                    session.commit()
                    return result, False
            if payload.number or attempt == 4:
                raise GendanError("order.number_taken", {"number": order.number}) from exc
            order = Order(**{**_columns(order), "id": None, "number": _next_number(session, now)})
    line.publish(session, OrderChange.of(order, before=None, actor=actor, via=via, now=now))
    session.commit()
    return to_read(session, order), True


def record_change(session: Session, change: OrderChange) -> None:
    """Record-event stage of the order pipeline: who, when, before and after of the changed columns."""
    if change.is_new:
        record_event(session, change.order, type="created", actor=change.actor, now=change.now, after=change.after)
        return
    before, after = _before_after(change)
    record_event(session, change.order, type=change.event_type, actor=change.actor, now=change.now,
                 before=before, after=after, note=change.note)


def _before_after(change: OrderChange) -> tuple[dict[str, Any], dict[str, Any]]:
    """The before and after a changed order's event records."""
    previous = change.before or {}
    before = {c: previous.get(c) for c in change.columns}
    after = {c: change.after[c] for c in change.columns}
    if change.via.startswith("effect:") and "data" in after:
        # an effect sets designed fields one by one: its record names each (`data.<key>`), with
        # None before when the order never had it, as the timeline shows a field set by a task
        old, new = before.pop("data") or {}, after.pop("data") or {}
        for path in sorted(f for f in change.changed_fields if f.startswith("data.")):
            before[path], after[path] = old.get(path[5:]), new.get(path[5:])
    return before, after


def record_changes(session: Session, changes: list[OrderChange]) -> None:
    """The record-event stage for many changes (the bulk import's new orders, a chunk of firings
    that changed orders): their events in one multi-row insert, the rows `record_change` writes
    one by one (`created` events first, as the import's changes are all new)."""
    rows = []
    for c in sorted(changes, key=lambda c: not c.is_new):
        before, after = (None, c.after) if c.is_new else _before_after(c)
        rows.append({"order_id": c.order.id, "type": "created" if c.is_new else c.event_type, "at": c.now,
                     "before": before, "after": after, "note": None if c.is_new else c.note,
                     "actor_id": c.actor.user_id if c.actor and c.actor.user_id else None,
                     "actor_label": c.actor.display_name if c.actor else None})
    if rows:
        insert_rows(session, OrderEvent.__table__, rows, background=True)


def _columns(order: Order) -> dict[str, Any]:
    return {c.key: getattr(order, c.key) for c in Order.__table__.columns}


NOT_NULLABLE = ("customer_id", "owner_id", "amount", "currency", "stage", "status", "data", "tags")


def update_order(session: Session, *, actor: Actor, order_id: int, payload: OrderUpdate, now: datetime,
                 via: str = "api", commit: bool = True) -> OrderRead:
    """Change an order the actor can see, if nobody changed it since `payload.version`.

    The row, its version bump and the order_event (who, when, before, after) commit together.
    With `commit=False` (the bulk import, which commits a whole batch and took the write lock
    first) the change is flushed only and not retried.
    """
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    changes = payload.model_dump(exclude_unset=True, exclude={"version"})
    nulls = {k: ("field.not_nullable", {"field": k}) for k in NOT_NULLABLE if k in changes and changes[k] is None}
    if nulls:
        raise GendanError("validation.failed", {"count": len(nulls)}, status=422, fields=nulls)
    if not commit:
        return _update_once(session, actor=actor, order_id=order_id, payload=payload, changes=dict(changes),
                            now=now, via=via, commit=False)
    return _on_fresh_snapshot(session, lambda: _update_once(session, actor=actor, order_id=order_id,
                                                            payload=payload, changes=dict(changes), now=now,
                                                            via=via))


def _update_once(session: Session, *, actor: Actor, order_id: int, payload: OrderUpdate, changes: dict[str, Any],
                 now: datetime, via: str, commit: bool = True) -> OrderRead:
    order = access.get_visible_order(session, actor, order_id, for_update=True)
    if order.version != payload.version:
        raise GendanError("order.version_conflict", {"current_version": order.version, "sent_version": payload.version})
    _check_refs(session, customer_id=changes.get("customer_id"), owner_id=changes.get("owner_id"))
    if "owner_id" in changes and changes["owner_id"] != order.owner_id:
        _check_owner_allowed(session, actor, changes["owner_id"])
    _check_dates(order.created_at, payment_due=changes.get("payment_due"),
                 planned_delivery=changes.get("planned_delivery"))
    if "data" in changes:
        changes["data"] = {**order.data, **changes["data"]}
    if "tags" in changes:
        changes["tags"] = list(dict.fromkeys(changes["tags"]))
    changed = {k: v for k, v in changes.items() if getattr(order, k) != v}
    if not changed:
        return to_read(session, order)
    before = snapshot(order)
    for key, value in changed.items():
        setattr(order, key, value)
    if "stage" in changed:
        order.stage_entered_at = now
    if "status" in changed:
        order.closed_at = now if order.status != "open" else None
    order.version += 1
    order.updated_at = now
    line = pipeline_of(session)
    change = line.check(session, OrderChange.of(order, before=before, actor=actor, via=via, now=now))
    session.flush()
    line.publish(session, change)
    if commit:
        session.commit()
    return to_read(session, order)


def get_order(session: Session, *, actor: Actor, order_id: int) -> OrderRead:
    return to_read(session, access.get_visible_order(session, actor, order_id))


def to_read(session: Session, order: Order) -> OrderRead:
    read = OrderRead.model_validate(order)
    customer = session.get(Customer, order.customer_id)
    owner = session.get(User, order.owner_id)
    read.customer_name = customer.name if customer else None
    read.owner_name = owner.display_name if owner else None
    return read


NO_PROBABILITY = -1.0
SORT_COLUMNS = {
    "created_at": Order.created_at,
    "updated_at": Order.updated_at,
    "amount": Order.amount,
    "number": Order.number,
    "stage_entered_at": Order.stage_entered_at,
    "planned_delivery": func.coalesce(Order.planned_delivery, NULL_DATE),
    "priority_score": Order.priority_score,
    "churn_signals": Order.churn_signals,
    # riskiest first: unscored orders last (descending), as -1 (read by _risk_rows, not through this)
    "delay_probability": func.coalesce(Order.delay_probability, NO_PROBABILITY),
}
PREDICTION = ForesightScore.__table__


def _like(text: str, *, quote: str = "") -> str:
    """A LIKE pattern matching `text` literally (so '%' or '_' typed in the search box match themselves)."""
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{quote}{escaped}{quote}%"


def _start_of(day: date, zone) -> datetime:
    """Midnight of `day` where the installation is (a "created on" filter means its wall calendar)."""
    return datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)


def _check_ranges(f: OrderFilter) -> None:
    fields = {}
    for low, high in (("created_from", "created_to"), ("delivery_from", "delivery_to"), ("amount_min", "amount_max")):
        lo, hi = getattr(f, low), getattr(f, high)
        if lo is not None and hi is not None and hi < lo:
            fields[high] = ("field.range_inverted", {"field": high, "other": str(lo)})
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, status=422, fields=fields)


CUSTOMER_IDS_INLINE = 200  # free text: up to this many matching customers are passed as a list


SEARCHED_KEYS = ("product", "product_en", "customer_po")  # the demo form's words, searched even unpublished


def searchable_data_keys(session: Session) -> list[str]:
    """Designed text fields the list search reads (product, customer PO, ...): the published order
    form's text fields, at most 12 (each is a scan of `data`; a trigram index would make it cheap)."""
    from backend.forms import service as forms_service
    from engine.forms import FieldType

    defn = forms_service.get_published(session)
    keys = [f.key for f in defn.data_fields() if f.type in (FieldType.TEXT, FieldType.LONG_TEXT)] if defn else []
    return list(dict.fromkeys([*keys, *SEARCHED_KEYS]))[:12]


def installation_today(session: Session) -> date:
    from backend.clock import utcnow

    # the dashboard counts overdue against the same date (stats.count_overdue)
    return get_installation(session).today(utcnow())


def _filtered(session: Session, actor: Actor, f: OrderFilter):
    _check_ranges(f)
    clauses = [access.visible_orders_clause(session, actor)]
    if f.q and f.q.strip():
        like = _like(f.q)
        # text without upper/lower case (Chinese, digits) matches the same with LIKE, which skips
        # case folding: half the cost of scanning customer names (bench/orders_list.py)
        caseless = f.q.lower() == f.q.upper()
        customer_query = select(Customer.id).where(
            Customer.name.like(like, escape="\\") if caseless else Customer.name.ilike(like, escape="\\"))
        # The matching customers' ids as a list, so the planner sees how many orders to expect: few
        # -> OR of index scans (trigram on PostgreSQL), many -> walk the creation order. IN (subquery)
        # hid the count and read all 1M orders when nothing matched (bench/orders_list.py: 4.2 s).
        ids = session.exec(customer_query.limit(CUSTOMER_IDS_INLINE + 1)).scalars().all()
        customer_match = (Order.customer_id.in_(ids) if len(ids) <= CUSTOMER_IDS_INLINE
                          else Order.customer_id.in_(customer_query))
        clauses.append(or_(Order.number.ilike(like, escape="\\"), customer_match,
                           Order.external_id.ilike(like, escape="\\"),
                           *(Order.data[key].as_string().ilike(like, escape="\\")
                             for key in searchable_data_keys(session))))
    if f.stage:
        clauses.append(Order.stage.in_(f.stage))
    if f.status:
        clauses.append(Order.status.in_(f.status))
    if f.owner_id is not None:
        clauses.append(Order.owner_id == f.owner_id)
    if f.customer_id is not None:
        clauses.append(Order.customer_id == f.customer_id)
    if f.created_from:
        clauses.append(Order.created_at >= _start_of(f.created_from, get_installation(session).zone))
    if f.created_to:  # inclusive: the whole last day
        clauses.append(Order.created_at < _start_of(f.created_to + timedelta(days=1), get_installation(session).zone))
    if f.delivery_from:
        clauses.append(Order.planned_delivery >= f.delivery_from)
    if f.delivery_to:
        clauses.append(Order.planned_delivery <= f.delivery_to)
    if f.amount_min is not None:
        clauses.append(Order.amount >= f.amount_min)
    if f.amount_max is not None:
        clauses.append(Order.amount <= f.amount_max)
    if f.priority_min is not None:
        clauses.append(Order.priority_score >= f.priority_min)
    if f.churn_min is not None:
        clauses.append(Order.churn_signals >= f.churn_min)
    if f.overdue or f.risk:  # the dashboard's lists, whole ("view all")
        from backend.orders import stats

        if f.overdue:
            clauses.append(stats.overdue_clause(installation_today(session)))
        if f.risk:
            clauses.append((Order.status == "open") & stats.risk_clause())
    if f.delay_min is not None:
        # a semi-join the foresight_score index serves (the prediction is not on sales_order)
        clauses.append(Order.id.in_(select(PREDICTION.c.order_id).where(PREDICTION.c.delay_probability >= f.delay_min)))
    if f.tag:
        # tags are a short JSON list; filtering in Python after the page query would break paging,
        # so match the JSON text (tags are restricted to simple words)
        clauses.append(cast(Order.tags, Text).like(_like(f.tag, quote='"'), escape="\\"))
    return clauses


TOTAL_CAP = 10_000


def list_orders(session: Session, *, actor: Actor, filters: OrderFilter) -> OrderPage:
    """One page of the orders the actor can see, filtered and sorted, continued by `next_cursor`."""
    clauses = _filtered(session, actor, filters)
    column = SORT_COLUMNS[filters.sort]
    descending = filters.direction == "desc"
    # the page shows each order's risk: read in the same statement (deferred elsewhere)
    stmt = select(Order).where(*clauses).options(undefer_group(PREDICTION_GROUP))
    if filters.sort == "delay_probability":
        cursor = decode_cursor(filters.cursor, sort=filters.sort, direction=filters.direction) \
            if filters.cursor else None
        rows = _risk_rows(session, stmt, cursor, descending, filters.limit + 1)
    else:
        if filters.cursor:
            value, row_id = decode_cursor(filters.cursor, sort=filters.sort, direction=filters.direction)
            stmt = stmt.where(seek_clause(column, Order.id, value, row_id, descending))
        order_by = (column.desc(), Order.id.desc()) if descending else (column.asc(), Order.id.asc())
        rows = session.exec(stmt.order_by(*order_by).limit(filters.limit + 1)).scalars().all()
    has_more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        value = getattr(last, filters.sort)
        if filters.sort == "planned_delivery" and value is None:
            value = NULL_DATE
        if filters.sort == "delay_probability":
            value = Decimal(repr(float(value if value is not None else NO_PROBABILITY)))
        next_cursor = encode_cursor(value, last.id, sort=filters.sort, direction=filters.direction)
    total, capped = None, False
    if filters.with_total:
        # counting a million matches costs more than the page itself; past TOTAL_CAP the list
        # says "more than 10,000", which is all a person reads from such a number
        limited = select(Order.id).where(*clauses).limit(TOTAL_CAP + 1).subquery()
        total = session.exec(select(func.count()).select_from(limited)).scalar_one()
        capped = total > TOTAL_CAP
        total = min(total, TOTAL_CAP)
    return OrderPage(items=_reads(session, rows), next_cursor=next_cursor, total=total, total_capped=capped)


def _risk_rows(session: Session, stmt: Any, cursor: tuple[Any, int] | None, descending: bool,
               limit: int) -> list[Order]:
    """Sorted by the stored delay probability, unscored orders counting as -1, in two keyset
    segments: the scored orders through foresight_score's (delay_probability, order_id) index
    (riskiest first walks it backwards and stops after a page), and the unscored ones by id."""
    p = PREDICTION.c
    scored = stmt.join(PREDICTION, p.order_id == Order.id).where(p.delay_probability.is_not(None))
    unscored = stmt.where(~Order.id.in_(select(p.order_id).where(p.delay_probability.is_not(None))))
    value, row_id = (float(cursor[0]), cursor[1]) if cursor is not None else (None, None)
    in_unscored = value is not None and value < 0

    def scored_rows(n: int) -> list[Order]:
        query = scored
        if value is not None and not in_unscored:
            query = query.where(seek_clause(p.delay_probability, p.order_id, value, row_id, descending))
        order_by = (p.delay_probability.desc(), p.order_id.desc()) if descending \
            else (p.delay_probability.asc(), p.order_id.asc())
        return list(session.exec(query.order_by(*order_by).limit(n)).scalars().all())

    def unscored_rows(n: int) -> list[Order]:
        query = unscored
        if in_unscored:
            query = query.where(Order.id < row_id if descending else Order.id > row_id)
        return list(session.exec(query.order_by(Order.id.desc() if descending else Order.id.asc())
                                 .limit(n)).scalars().all())

    if descending:  # scored, then unscored
        rows = [] if in_unscored else scored_rows(limit)
        return rows + (unscored_rows(limit - len(rows)) if len(rows) < limit else [])
    rows = unscored_rows(limit) if value is None or in_unscored else []
    if len(rows) < limit:
        if in_unscored or value is None:
            value, row_id = None, None  # the scored segment from its start
        rows += scored_rows(limit - len(rows))
    return rows


def _reads(session: Session, rows: list[Order]) -> list[OrderRead]:
    """Bulk version of to_read: two queries for the names, not two per row."""
    customer_ids = {o.customer_id for o in rows}
    owner_ids = {o.owner_id for o in rows}
    customers = dict(session.exec(select(Customer.id, Customer.name).where(Customer.id.in_(customer_ids))).all()) if rows else {}
    owners = dict(session.exec(select(User.id, User.display_name).where(User.id.in_(owner_ids))).all()) if rows else {}
    load_predictions(session, rows)  # deferred on Order: one query for the page
    out = []
    for o in rows:
        read = OrderRead.model_validate(o)
        read.customer_name = customers.get(o.customer_id)
        read.owner_name = owners.get(o.owner_id)
        out.append(read)
    return out


def list_events(session: Session, *, actor: Actor, order_id: int) -> list[OrderEventRead]:
    order = access.get_visible_order(session, actor, order_id)
    events = session.exec(
        select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.at, OrderEvent.id)
    ).scalars().all()
    user_ids = {e.actor_id for e in events if e.actor_id}
    names = dict(session.exec(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    out = []
    for e in events:
        read = OrderEventRead.model_validate(e)
        read.actor_name = names.get(e.actor_id) or e.actor_label
        out.append(read)
    return out
