"""The set-based path of an import batch: the same outcomes as importing its rows one by one
(backend/ingest/service.py:_import_row), at a fraction of the statements and commits.

One transaction per batch, carrying the job's cursor (`next_row`) and counters with its rows, so
a worker killed mid-batch leaves nothing of it and the batch is done again whole. In that
transaction:

1. every row is parsed and validated in Python (cells, customer, OrderCreate, dates), the
   customers the batch names are read in two queries (by code, by name) and resolved in memory
   exactly as `resolve_customer` does, new ones created (one multi-row insert) only for rows that
   pass;
2. the orders the batch names are read in two queries (by source + external id, by number);
3. new orders pass the pipeline's checks (form validation, closed status from the file): one
   pass over their plain values (`checked_new`) when the checks are the standard ones and no form
   is published, else `Pipeline.check` one by one; they get their numbers (one query per day),
   are inserted with one statement (backend/bulk_insert.py: COPY on PostgreSQL, built without the
   model's constructor, attached to the session after), then the pipeline's stages run over all of them (`Pipeline.publish_many`): events recorded, the default
   flow started for open draft orders only, event rules only when an enabled event rule exists,
   customer "received" messages with the chosen milestones read once;
4. existing orders that change go through `update_order` (flushed, not committed) in a savepoint
   each, so a refused change fails its row alone; unchanged ones write only their result row.

A row that names an order or customer another row of the same batch creates starts a new
segment (steps 1-4 again), so it sees that row's work as the one-by-one path would. What the bulk
path cannot decide alone (a form with unique fields, file numbers in the automatic SO series) or
an unexpected database error makes it roll back and return False: the caller then imports that
batch row by row.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import any_, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import InvalidRequestError, SQLAlchemyError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.state import InstanceState
from sqlmodel import Session

from backend import gc_pause
from backend.audit import service as audit
from backend.audit.models import AuditEvent
from backend.auth.actor import Actor
from backend.bulk_insert import insert_rows
from backend.customers.models import Customer
from backend.customers.service import AUDITED as CUSTOMER_AUDITED
from backend.errors import GendanError
from backend.forms import service as forms_service
from backend.ingest import service as ingest
from backend.ingest import via
from backend.ingest.models import ImportJob, ImportRowError, ImportRowResult
from backend.ingest.rows import DataField, ParsedRow, parse_row
from backend.ingest.schemas import ImportMapping, RowError
from backend.installation.service import get_installation
from backend.orders import access
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderCreate, OrderUpdate
from backend.pipeline import OrderChange
from backend.pipeline import of as pipeline_of
from engine.reports.reached import delivered_at_after, stage_bit

_AUTO_NUMBER = re.compile(r"^SO\d{8}-")
QUERY_CHUNK = 500  # values per IN (...) list


@dataclass(eq=False)
class _NewCustomer:
    """A customer the batch creates (inserted with the others in one statement, then `id` is set)."""

    name: str
    code: str | None
    created_at: datetime
    id: int | None = None


@functools.cache
def _customer_defaults() -> dict[str, Any]:
    return {k: f.get_default(call_default_factory=True) for k, f in Customer.model_fields.items()
            if k != "id" and not f.is_required()}


@functools.cache
def _order_defaults() -> dict[str, Any]:
    return {k: f.get_default(call_default_factory=True) for k, f in Order.model_fields.items()
            if k != "id" and not f.is_required()}


_ORDER_COLUMNS = tuple(c.key for c in Order.__table__.columns if c.key != "id")


def light_order(values: dict[str, Any]) -> Order:
    """A new, transient `Order` holding `values` (every column but `id`), built without the
    model's validating constructor (a quarter of a millisecond per order, more than the rest of
    the row's work): the bulk path inserts its row itself, then attaches it as persistent."""
    order = Order._sa_class_manager.new_instance()
    order.__dict__.update(values)
    object.__setattr__(order, "__pydantic_fields_set__", set(values))
    object.__setattr__(order, "__pydantic_extra__", None)
    object.__setattr__(order, "__pydantic_private__", None)
    return order


def _customer_row(customer: _NewCustomer) -> dict[str, Any]:
    """The row `Customer(name=, code=, preferred_channel="none", owner_id=None, created_at=)` writes."""
    return {**_customer_defaults(), "name": customer.name, "code": customer.code, "preferred_channel": "none",
            "owner_id": None, "created_at": customer.created_at}


class Fallback(Exception):
    """The batch needs the row-by-row path (see the module docstring)."""


@dataclass
class _Out:
    """Result and error rows of the batch, inserted at its end with one multi-row insert each."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def result(self, job_id: int, line: int, outcome: str, *, external_id: str | None, order_id: int | None = None,
               changed: list[str] | None = None) -> None:
        self.results.append({"import_job_id": job_id, "line": line, "outcome": outcome, "order_id": order_id,
                             "external_id": external_id, "changed": changed or []})


@dataclass
class _Row:
    parsed: ParsedRow
    cells: list[str]
    errors: list[RowError] = field(default_factory=list)
    payload: OrderCreate | None = None
    customer: _NewCustomer | None = None  # a customer this row creates
    customer_id: int | None = None


@dataclass
class _Customers:
    """The batch's customers in memory: what `resolve_customer` would find, row after row."""

    by_code: dict[str, int | _NewCustomer] = field(default_factory=dict)
    by_name: dict[str, list[tuple[int | _NewCustomer, str | None]]] = field(default_factory=dict)

    def resolve(self, *, code: str | None, name: str | None, create: bool, now: datetime
                ) -> tuple[int | _NewCustomer | None, str | None, bool]:
        """(customer id or the batch's new customer, error code, whether this call made it)."""
        if code and code in self.by_code:
            return self.by_code[code], None, False
        if name:
            found = [c for c, c_code in self.by_name.get(name, []) if not code or c_code is None][:2]
            if len(found) == 1:
                return found[0], None, False
            if len(found) > 1:
                return None, "import.customer_ambiguous", False
        if not create:
            return None, "import.customer_unknown", False
        if code is not None and (len(code) > 40 or not all(c.isalnum() or c in "_-./" for c in code)):
            return None, "import.customer_code_invalid", False
        customer = _NewCustomer(name=(name or code)[:200], code=code, created_at=now)
        self.add(customer, code=code, name=customer.name)
        return customer, None, True

    def add(self, customer: int | _NewCustomer, *, code: str | None, name: str) -> None:
        if code:
            self.by_code.setdefault(code, customer)
        self.by_name.setdefault(name, []).append((customer, code))

    def forget(self, customer: _NewCustomer) -> None:
        if customer.code and self.by_code.get(customer.code) is customer:
            del self.by_code[customer.code]
        self.by_name[customer.name] = [e for e in self.by_name.get(customer.name, []) if e[0] is not customer]


def _chunks(items: list, size: int = QUERY_CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _in(session: Session, column: Any, values: list) -> list:
    """`column IN values` as few clauses as the database takes: one `= ANY(array)` with a single
    parameter on PostgreSQL (a list of thousands of placeholders costs the driver more than the
    query), lists of QUERY_CHUNK elsewhere."""
    if not values:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return [column == any_(bindparam(None, values, type_=ARRAY(column.type)))]
    return [column.in_(chunk) for chunk in _chunks(values)]


@gc_pause.paused()
def import_batch(session: Session, job_id: int, actor: Actor, mapping: ImportMapping, tz: ZoneInfo,
                 fields: dict[str, DataField], headers: list[str], rows: list[list[str]], start: int, stop: int,
                 now: datetime) -> bool:
    """Rows start .. stop of the job, set-based, committed with the job's progress. False (and
    nothing written) when the batch must go row by row."""
    try:
        # the write lock first (see service._import_row): on SQLite a read-then-write transaction
        # fails when another writer committed meanwhile; PostgreSQL only locks the job's row
        session.execute(update(ImportJob).where(ImportJob.id == job_id).values(next_row=ImportJob.next_row))
        cursor_commit(session)
        if _form_has_unique_fields(session):
            raise Fallback("a designed field is unique")
        items = _parsed(job_id, mapping, tz, fields, headers, rows, start, stop)
        job = session.get(ImportJob, job_id)
        out = apply_rows(session, job, actor, mapping, items, now)
        insert_rows(session, ImportRowResult.__table__, sorted(out.results, key=lambda r: r["line"]), background=True)
        insert_rows(session, ImportRowError.__table__, sorted(out.errors, key=lambda r: r["line"]), background=True)
        job.next_row = stop
        session.commit()
        return True
    except (Fallback, SQLAlchemyError, GendanError) as exc:
        session.rollback()
        ingest.log.info("import %s rows %s-%s: row by row (%s)", job_id, start + 2, stop + 1, exc)
        return False


_parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gendan-parse")
_ahead: dict[tuple, Future] = {}  # the next batch's rows being parsed: at most one entry


def _parsed(job_id: int, mapping: ImportMapping, tz: ZoneInfo, fields: dict[str, DataField], headers: list[str],
            rows: list[list[str]], start: int, stop: int) -> list[_Row]:
    """Rows start .. stop parsed (`parse_row`, pure), and the next batch of as many rows handed to
    a parser thread: it runs while this batch waits for the database (the server's COPY, the
    commit, the next batch's reads), so the next batch finds its rows parsed. Taken only when
    everything the parse reads is the same (job, file, rows, mapping, zone, designed fields)."""
    def key(a: int, b: int) -> tuple:
        return (job_id, id(rows), len(rows), a, b, mapping.model_dump_json(), str(tz), repr(sorted(fields.items())))

    def parse(a: int, b: int) -> list[_Row]:
        out = []
        for index in range(a, b):
            parsed = parse_row(index + 2, dict(zip(headers, rows[index], strict=False)), mapping, tz, fields)
            out.append(_Row(parsed=parsed, cells=rows[index], errors=list(parsed.errors)))
        return out

    found = _ahead.pop(key(start, stop), None)
    _ahead.clear()
    if stop < len(rows):
        following = min(len(rows), stop + (stop - start))
        _ahead[key(stop, following)] = _parser.submit(parse, stop, following)
    return found.result() if found is not None else parse(start, stop)


@gc_pause.paused()
def apply_rows(session: Session, job: Any, actor: Actor, mapping: ImportMapping, items: list[_Row],
               now: datetime) -> _Out:
    """Steps 1-4 over parsed rows, flushed, not committed: the import batch's core, also used by
    `POST /api/v1/orders/bulk` (backend/ingest/records.py) with a job-like tally (`id`, the
    `*_count` counters; `per_record=True` makes an actor who may not create or see an order fail
    that row instead of the batch). Raises Fallback when the rows need the row-by-row path."""
    out = _Out()
    with custom_plans(session), forms_service.batch_cache(session):
        for segment in _segments(items, job.id):
            _segment(session, job, actor, mapping, segment, now, out)
    for item in items:
        if item.errors:
            _failed(job, item, out)
    return out


@contextmanager
def custom_plans(session: Session) -> Iterator[None]:
    """Inside, on PostgreSQL, each statement the session sends is planned for its own keys and the
    tables' size now: psycopg prepares a statement run five times (`prepare_threshold`), and the
    server may then keep a generic plan made while the table was small, which scans all of it for
    each of a thousand keys (seconds per batch once it holds 100,000 orders). So the driver prepares
    nothing inside (its statements go unnamed, planned with their values each time).

    Not `SET LOCAL plan_cache_mode = force_custom_plan` (as until issue 13's fifth pass): that
    also made the server plan anew the foreign-key checks of every row a COPY inserts (customer,
    owner, order of each event: SPI plans the server caches for itself), perf on the COPY's backend:
    72 % of its time in the checks, 48 % in GetCachedPlan → the planner, index upkeep 12 %."""
    dbapi = session.connection().connection.dbapi_connection if session.get_bind().dialect.name == "postgresql" \
        else None
    previous = getattr(dbapi, "prepare_threshold", None)
    if previous is None:
        yield
        return
    dbapi.prepare_threshold = None
    try:
        yield
    finally:
        dbapi.prepare_threshold = previous


def cursor_commit(session: Session) -> None:
    """On PostgreSQL, this transaction's commit returns before its WAL reaches the disk
    (`synchronous_commit` off, this transaction only). Only for a transaction that carries its
    own cursor with its rows (an import batch with the job's `next_row`, a connector batch with
    the connector's cursor): a commit lost in a crash takes the cursor back with the rows, so the
    batch is simply done again; a later synchronous commit of anyone flushes it first, so nothing
    committed after it can survive without it. Not for the bulk API, whose answer tells a client
    the records are stored."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _flag(job: Any, name: str, default: Any) -> Any:
    """A tally's setting (`per_record`, `via`; an import job has none): read from the instance's
    own values, as `getattr(job, name, default)` on a model costs an exception per row."""
    return vars(job).get(name, default)


def _form_has_unique_fields(session: Session) -> bool:
    defn = forms_service.get_published(session)
    return defn is not None and any(getattr(f, "unique", False) for f in defn.data_fields())


def _external_id(job_id: int, parsed: ParsedRow) -> str:
    return parsed.values.get("external_id") or f"import-{job_id}-{parsed.line}"


def _segments(items: list[_Row], job_id: int) -> list[list[_Row]]:
    """Runs of rows that name no order an earlier row of the same run names (customers are
    resolved row after row in memory, so they need no cut)."""
    out: list[list[_Row]] = [[]]
    seen: set[tuple[str, str]] = set()
    for item in items:
        p = item.parsed
        if p.errors:
            out[-1].append(item)
            continue
        number = p.values.get("number")
        if number and _AUTO_NUMBER.match(str(number)):
            raise Fallback("a number in the automatic series")
        keys = {("x", _external_id(job_id, p))} | ({("n", str(number))} if number else set())
        if keys & seen:
            out.append([])
            seen = set()
        seen |= keys
        out[-1].append(item)
    return [s for s in out if s]


def resolve_customers(session: Session, job: ImportJob, mapping: ImportMapping, live: list[_Row],
                      now: datetime) -> list[_Row]:
    """Each row's customer (by id, code or name; new ones kept for the batch's insert) and its
    OrderCreate payload; the rows still without errors. Shared by the import batches and history replay."""
    if not live:
        return []
    customers = _load_customers(session, live)
    column = mapping.columns.get("customer_code") or mapping.columns.get("customer")
    for item in live:
        p = item.parsed
        if item.customer_id is not None:  # named by id (API records; checked to exist)
            found, code, made = item.customer_id, None, False
        else:
            found, code, made = customers.resolve(code=p.customer_code, name=p.customer_name,
                                                  create=mapping.create_customers, now=now)
        if code is not None:
            item.errors = [RowError(line=p.line, column=column, field="customer", code=code,
                                    params={"value": p.customer_code or p.customer_name})]
            continue
        values = {**p.values, "customer_id": found if isinstance(found, int) else 0, "source": mapping.source}
        values.setdefault("external_id", f"import-{job.id}-{p.line}")
        try:
            item.payload = OrderCreate.model_validate(values)
        except ValidationError as exc:
            item.errors = ingest._pydantic_errors(exc, p, mapping)
            if made:
                customers.forget(found)  # as the row's rollback forgets the customer it created
            continue
        if isinstance(found, _NewCustomer):
            item.customer = found  # the batch's new customer, maybe shared with an earlier row
        else:
            item.customer_id = found
    return [i for i in live if not i.errors]


def _segment(session: Session, job: ImportJob, actor: Actor, mapping: ImportMapping, items: list[_Row],
             now: datetime, out: _Out) -> None:
    live = [i for i in items if not i.errors]
    if not live:
        return
    live = resolve_customers(session, job, mapping, live, now)
    existing = _load_orders(session, mapping.source, [i.payload for i in live])
    new, old = [], []
    for item in live:
        order = existing.get(("x", item.payload.external_id)) or (
            existing.get(("n", item.payload.number)) if item.payload.number else None)
        (old if order is not None else new).append((item, order))
    _create(session, job, actor, mapping, [i for i, _ in new], now, out)
    for item, order in old:
        _update(session, job, actor, mapping, item, order, now, out)


def _load_customers(session: Session, items: list[_Row]) -> _Customers:
    out = _Customers()
    codes = sorted({i.parsed.customer_code for i in items if i.parsed.customer_code})
    names = sorted({i.parsed.customer_name for i in items if i.parsed.customer_name})
    rows: dict[int, tuple[str | None, str]] = {}
    for clause in _in(session, Customer.code, codes) + _in(session, Customer.name, names):
        rows.update({c_id: (code, name) for c_id, code, name in session.execute(
            select(Customer.id, Customer.code, Customer.name).where(clause)).all()})
    for c_id in sorted(rows):  # by id, as resolve_customer orders its name matches
        code, name = rows[c_id]
        out.add(c_id, code=code, name=name)
    return out


def _load_orders(session: Session, source: str, payloads: list[OrderCreate]) -> dict[tuple[str, str], Order]:
    out: dict[tuple[str, str], Order] = {}
    ids = sorted({p.external_id for p in payloads})
    numbers = sorted({p.number for p in payloads if p.number})
    for clause in _in(session, Order.external_id, ids):
        for order in session.exec(select(Order).where(Order.source == source, clause)).scalars():
            out.setdefault(("x", order.external_id), order)
    for clause in _in(session, Order.number, numbers):
        for order in session.exec(select(Order).where(clause)).scalars():
            out.setdefault(("n", order.number), order)
    return out


def _create(session: Session, job: ImportJob, actor: Actor, mapping: ImportMapping, items: list[_Row],
            now: datetime, out: _Out) -> None:
    """New orders: checks one by one, one insert for the customers and one for the orders, then
    the pipeline's stages over all of them."""
    if not items:
        return
    if not orders_service.can_create_orders(actor):
        if not _flag(job, "per_record", False):
            raise Fallback("the job's owner cannot create orders")
        for item in items:
            item.errors = [RowError(line=item.parsed.line, column=None, field="_", code="auth.forbidden")]
        return
    line = pipeline_of(session)
    currency = get_installation(session).default_currency  # as create_order when none is given
    via = _flag(job, "via", "import")
    ready: list[tuple[_Row, Order, OrderChange | None]] = []
    standard = _standard_checks(session, line)
    defaults = _order_defaults()
    user_id = actor.user_id
    for item in items:
        p, payload = item.parsed, item.payload
        at = p.created_at or now
        try:
            orders_service._check_dates(at, payment_due=payload.payment_due, planned_delivery=payload.planned_delivery)
        except GendanError as exc:
            item.errors = ingest._errors_from(exc, p, mapping)
            continue
        values = {
            **defaults, "number": payload.number, "customer_id": item.customer_id or 0,
            "owner_id": payload.owner_id or user_id, "amount": payload.amount, "currency": payload.currency or currency,
            "stage": payload.stage, "status": "open", "stage_entered_at": at,
            "planned_delivery": payload.planned_delivery, "payment_due": payload.payment_due,
            "source": payload.source, "external_id": payload.external_id, "data": dict(payload.data),
            "tags": list(dict.fromkeys(payload.tags)), "risk_flags": [], "version": 1, "created_at": at,
            "updated_at": at}
        if standard and not _CHECKED_DATA.intersection(values["data"]):
            checked_new(values, p.status, at)  # the standard checks' outcome for this order, without the ORM
            ready.append((item, light_order(values), None))  # its change made once its customer id is known
            continue
        order = light_order(values)
        token = ingest._pending_status.set(p.status)
        try:
            change = line.check(session, OrderChange.of(order, before=None, actor=actor, via=via, now=at))
        except GendanError as exc:
            item.errors = ingest._errors_from(exc, p, mapping)
            continue
        finally:
            ingest._pending_status.reset(token)
        ready.append((item, order, change))
    # a new customer whose every row failed is not created (as a failed row's customer is rolled back)
    wanted = {id(i.customer): i.customer for i, _, _ in ready if i.customer is not None}
    insert_customers(session, actor, list(wanted.values()))
    numbers = iter(orders_service.next_numbers(session, [o.__dict__["created_at"] for _, o, _ in ready
                                                         if o.number is None]))
    for item, order, _ in ready:
        if item.customer is not None:
            order.__dict__["customer_id"] = item.customer.id
        if order.number is None:
            order.__dict__["number"] = next(numbers)
        out.result(job.id, item.parsed.line, "created", external_id=order.external_id)
    job.created_count += len(ready)  # once: a job's attribute set costs an ORM event per call
    orders = [o for _, o, _ in ready]
    ids = insert_rows(session, Order.__table__, [o.__dict__ for o in orders], ids=True, background=True,
                      columns=_ORDER_COLUMNS)
    for order, order_id in zip(orders, ids, strict=True):
        order.__dict__["id"] = order_id
    _attach(session, orders)
    # the checked change, with the customer the batch created (the only tracked value set since);
    # for an order checked by `checked_new`, the change `Pipeline.check` would have returned
    changes = [OrderChange.of(o, before=None, actor=actor, via=via, now=o.__dict__["created_at"]) if c is None
               else c.but(after={**c.after, "customer_id": o.customer_id}) for _, o, c in ready]
    line.publish_many(session, changes)


# designed fields the standard checks read on a new order (backend/logistics/service.py): an order
# whose data names one goes through `Pipeline.check` itself
_CHECKED_DATA = frozenset({"carrier", "tracking_no", "signed_on"})


@functools.cache
def _standard_check_runs() -> tuple:
    """The check stages of the standard pipeline (backend/pipeline_assembly.py), in order."""
    from backend.flows import service_instance as flows_instances
    from backend.logistics import service as logistics_service
    from backend.orders import reached as orders_reached

    return (forms_service.validate_order_form, ingest.apply_pending_status, flows_instances.refuse_stage_while_running,
            logistics_service.stamp_shipped_at, logistics_service.stamp_signed_at, orders_reached.stamp_reached)


def _standard_checks(session: Session, line: Any) -> bool:
    """Whether `checked_new` may stand for `line.check` on this batch's new orders: the pipeline's
    checks are the standard ones and no order form is published (so `validate_order_form` leaves a
    new order as it is). Anything else (a test's own pipeline, a designed form) checks each order."""
    return (tuple(stage.run for stage in line.checks) == _standard_check_runs()
            and forms_service._published_row(session, forms_service.DEFAULT_FORM_KEY) is None)


def checked_new(values: dict[str, Any], status: str | None, at: datetime) -> None:
    """The standard checks' outcome on a new order's `values` (all its columns, `status` "open"),
    created at `at`, whose row's status is `status` and whose data names none of _CHECKED_DATA,
    when no form is published: what `Pipeline.check` leaves on the order, one dict, no ORM object
    (a fifth of the batch's Python). The form check leaves it (no form), the flow check passes
    (new), shipped_at and signed_at stay unset (their fields absent); only these differ:"""
    if status and status != "open":  # ingest.apply_pending_status
        values["status"] = status
        values["closed_at"] = at
    # orders.reached.stamp_reached: the new order entered its stage
    values["stages_entered"] = (values["stages_entered"] or 0) | stage_bit(values["stage"])
    values["delivered_at"] = delivered_at_after(signed_at=values["signed_at"], delivered_at=values["delivered_at"],
                                                stage=values["stage"], entered=True, now=at)


def _attach(session: Session, orders: list[Order]) -> None:
    """The inserted orders into the session as persistent objects, as `make_transient_to_detached`
    then `session.add` make them, without `add`'s save-update cascade: `Order` has no relationships,
    yet the cascade walks its 35 mapped attributes per order (a fifth of the batch's ORM cost)."""
    if Order.__mapper__.relationships:  # pragma: no cover - a relationship added later cascades again
        for order in orders:
            make_transient_to_detached(order)
        session.add_all(orders)
        return
    # `make_transient_to_detached` for all of them at once: the identity key from the id, all
    # values committed in one call, the never-loaded attributes (the column properties) expired
    states = [order._sa_instance_state for order in orders]
    if any(state.session_id or state.key or state._deleted for state in states):  # pragma: no cover
        raise InvalidRequestError("Given object must be transient")
    identity_class, keys = Order.__mapper__._identity_class, frozenset(Order._sa_class_manager)
    for state in states:
        state.key = (identity_class, (state.dict["id"],), state.identity_token)
    InstanceState._commit_all_states([(state, state.dict) for state in states])
    for state in states:
        state._expire_attributes(state.dict, keys.difference(state.dict))
        state._orphaned_outside_of_session = False
        session._save_or_update_impl(state)


def insert_customers(session: Session, actor: Actor, customers: list[_NewCustomer]) -> None:
    """The batch's new customers not inserted yet: one insert for them, one for their audit
    "create" rows by `actor` (what `resolve_customer` records for each, row by row)."""
    customers = [c for c in customers if c.id is None]
    if not customers:
        return
    rows = [_customer_row(c) for c in customers]
    ids = insert_rows(session, Customer.__table__, rows, ids=True, background=True)
    for customer, customer_id in zip(customers, ids, strict=True):
        customer.id = customer_id
    insert_rows(session, AuditEvent.__table__, [
        row for c, values in zip(customers, rows, strict=True)
        for row in audit.create_rows(actor, "customer", [(c.id, via.stamped({k: values[k] for k in CUSTOMER_AUDITED}))],
                                     c.created_at)], background=True)


def _update(session: Session, job: ImportJob, actor: Actor, mapping: ImportMapping, item: _Row, order: Order,
            now: datetime, out: _Out) -> None:
    p = item.parsed
    if _flag(job, "per_record", False) and not actor.has_role("admin"):  # admins see every order
        try:
            access.get_visible_order(session, actor, order.id)
        except GendanError as exc:
            item.errors = ingest._errors_from(exc, p, mapping)
            return
    if item.customer is not None:  # a new customer named by an existing order's row
        insert_customers(session, actor, [item.customer])
        item.payload = item.payload.model_copy(update={"customer_id": item.customer.id})
    payload = item.payload
    sent = set(p.values) | {"customer_id"}
    changes = ingest.changes_for(order, payload, sent, p.status)
    if changes.get("stage") is not None and ingest._flow_running(session, order.id):
        changes.pop("stage")
    outcome = "updated" if changes else "unchanged"
    names = sorted(ingest._changed_names(order, changes))
    if changes:
        try:
            update_payload = OrderUpdate.model_validate({"version": order.version, **changes})
        except ValidationError as exc:
            item.errors = ingest._pydantic_errors(exc, p, mapping)
            return
        try:
            with session.begin_nested():
                orders_service.update_order(session, actor=actor, order_id=order.id, payload=update_payload, now=now,
                                            via=_flag(job, "via", "import"), commit=False)
        except GendanError as exc:
            item.errors = ingest._errors_from(exc, p, mapping)
            return
    job.existing_count += 1
    if outcome == "updated":
        job.updated_count += 1
    else:
        job.unchanged_count += 1
    out.result(job.id, p.line, outcome, order_id=order.id, external_id=order.external_id, changed=names)


def _failed(job: ImportJob, item: _Row, out: _Out) -> None:
    job.failed_count += 1
    out.errors.append({"import_job_id": job.id, "line": item.parsed.line, "cells": ingest._no_nul(list(item.cells)),
                       "errors": [ingest._no_nul(e.model_dump(mode="json")) for e in item.errors]})
    external_id = ingest._no_nul(str(item.parsed.values.get("external_id") or ""))[:120] or None
    out.result(job.id, item.parsed.line, "failed", external_id=external_id)
