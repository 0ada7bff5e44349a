"""Report use cases: store and publish definitions, run a report for a person, list the orders
behind a cell, export to Excel.

Every run applies `backend.orders.access.visible_orders_clause`: a sales rep's report counts only
the orders they may see, whoever designed the report. Runs are bounded (groups: the report's limit,
at most 1,000; PostgreSQL: a 10 s statement timeout) and cached (backend/reports/cache.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, func, select, text, true
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.definitions.lifecycle import Lifecycle, require_designer
from backend.errors import GendanError
from backend.installation.service import get_installation
from backend.orders.access import visible_orders_clause
from backend.orders.models import Order, OrderEvent, prediction_columns
from backend.people.models import User
from backend.reports import cache
from backend.reports import datasets as report_datasets
from backend.reports.models import ReportDefinitionRow
from backend.rules import sentences
from backend.rules.context import catalogue_for, fact_context
from engine.facts import Catalogue
from engine.reports.compiler import (
    cell_clause,
    compile_funnel,
    compile_report,
    funnel_cell,
    order_report_columns,
    report_rows,
)
from engine.reports.definition import NAME_MAX, ReportDefinition, ReportProblem, load_report, report_catalogue
from engine.reports.funnel_order import in_process_order, is_conversion_funnel
from engine.reports.order_fields import AGEING_LABELS

# the order statuses as the order pages name them (the same msgids as frontend/pages/common.py,
# which the backend may not import)
STATUS_LABELS = {"open": "In progress", "completed": "Completed", "cancelled": "Cancelled"}
ORDER = Order.__table__
EVENT = OrderEvent.__table__
LIFECYCLE: Lifecycle[ReportDefinitionRow] = Lifecycle("report", ReportDefinitionRow)
STATEMENT_TIMEOUT_MS = 10_000
WORK_MEM_MB = 32
RANDOM_PAGE_COST = 1.1  # PostgreSQL's advice for data in memory or on SSD
DRILL_LIMIT = 200


@dataclass
class ReportResult:
    """Rows of d0…, m0… values and, per dimension, the display label of each value."""

    dimensions: list[dict[str, Any]]
    measures: list[dict[str, Any]]
    rows: list[list[Any]]
    labels: list[dict[str, str]] = field(default_factory=list)
    more: bool = False
    dataset: str = "orders"
    flow_order: bool = False  # rows in the flow's stage order (a conversion funnel over stages)

    def as_json(self) -> dict[str, Any]:
        return {"dimensions": self.dimensions, "measures": self.measures, "rows": self.rows,
                "labels": self.labels, "more": self.more, "dataset": self.dataset, "flow_order": self.flow_order}


def _problem(exc: ReportProblem) -> GendanError:
    return GendanError(exc.code, {k: str(v) for k, v in exc.params.items()}, status=422,
                       fields={exc.path or "definition": (exc.code, exc.params)})


def _schema_problem(error: Any) -> tuple[str, dict[str, Any]]:
    """A pydantic error as a code the designer can say. The key and the name are what a designer
    types: a key in 中文 or a 200-character name answered "the report has 1 problem", and its field
    "the report is not valid" (the designer shows the fields' messages after the count)."""
    where = error["loc"][0] if error["loc"] else ""
    if where == "key":
        return "report.key_invalid", {}
    if where == "name":
        return "report.name_too_long", {"max": NAME_MAX}
    return f"report.schema_{error['type']}", {}


def parse(definition: Any, catalogue: Catalogue) -> ReportDefinition:
    """The definition parsed, or `report.definition_invalid` / a named problem (422)."""
    if not isinstance(definition, dict):
        raise GendanError("report.definition_invalid", {"count": 1}, status=422)
    try:
        return load_report(definition, catalogue)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "definition": _schema_problem(e) for e in exc.errors()[:20]}
        raise GendanError("report.definition_invalid", {"count": len(exc.errors())}, status=422,
                          fields=fields) from exc
    except ReportProblem as exc:
        raise _problem(exc) from exc


# --- definitions ---------------------------------------------------------------------------------


def save_draft(session: Session, *, actor: Actor, definition: dict[str, Any], now: datetime) -> ReportDefinitionRow:
    require_designer(actor)
    report = parse(definition, catalogue_for(session))
    if not report.key:
        raise GendanError("report.key_missing", status=422, fields={"key": ("report.key_missing", {})})
    row = LIFECYCLE.store_draft(session, actor=actor, key=report.key,
                                build=lambda _v: report.model_dump(mode="json"), now=now)
    session.commit()
    return row


def publish(session: Session, *, actor: Actor, key: str, now: datetime) -> ReportDefinitionRow:
    require_designer(actor)
    draft = LIFECYCLE.with_status(session, key, "draft", for_update=True)
    if draft is None:
        raise GendanError("report.no_draft", {"key": key}, status=409)
    parse(draft.definition, catalogue_for(session))
    LIFECYCLE.publish(session, draft, actor=actor, now=now)
    session.commit()
    return draft


def list_reports(session: Session) -> list[ReportDefinitionRow]:
    return LIFECYCLE.newest_per_key(session)


def working_copy(session: Session, key: str) -> ReportDefinitionRow:
    row = LIFECYCLE.working_copy(session, key)
    if row is None:
        raise GendanError("report.not_found", {"key": key, "version": ""}, status=404)
    return row


def published(session: Session, key: str) -> ReportDefinitionRow:
    """The published version (what a report page and the export read); the working copy for none."""
    return LIFECYCLE.with_status(session, key, "published") or working_copy(session, key)


# --- running -------------------------------------------------------------------------------------


def _bounded(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)}"))
        # percentiles sort each group's values: in memory rather than spilled to disk (the default 4 MB)
        session.execute(text(f"SET LOCAL work_mem = '{int(WORK_MEM_MB)}MB'"))
        # the planner over-estimates LATERAL rows (a month of orders' events: 600,000 for 7,000) and
        # then compiles the query with JIT: 1.7 s of a 2.2 s run at load 15, for 0.5 s of work
        session.execute(text("SET LOCAL jit = off"))
        # a report reads tables a server keeps in memory: the default 4.0 prices an index page as a
        # disk seek, so a covering index a quarter of the order table's size (the day-one tiles',
        # dayone1m_0001) lost to reading every order row, which took 3× the CPU
        session.execute(text(f"SET LOCAL random_page_cost = {RANDOM_PAGE_COST}"))


def data_version(session: Session, dataset: str = "orders") -> tuple[Any, ...]:
    """The newest event and the newest order (two primary-key look-ups: the cache's data key).
    Every change to an order writes an order event (created, updated, stage_entered, ...), so any
    change moves the first; the order id also moves with a new order that has no event yet.
    To-dos and firings change without an order event: a to-dos report adds the newest to-do and the
    newest closing (`max(closed_at)`, by its index), a firings report the newest firing (primary
    key); each one more index look-up in the same statement, read only by the reports of those data
    sets."""
    parts = [select(func.max(EVENT.c.id)), select(func.max(ORDER.c.id))]
    if dataset == "todos":
        todo = report_datasets.TABLES["todo"]
        parts += [select(func.max(todo.c.id)), select(func.max(todo.c.closed_at))]
    elif dataset == "firings":
        parts.append(select(func.max(report_datasets.TABLES["firing"].c.id)))
    # one statement (one round trip), each part its own index look-up
    return tuple(session.exec(select(*[p.scalar_subquery() for p in parts])).one())


def run(session: Session, *, actor: Actor, definition: Any, now: datetime,
        version: tuple[str, int] | None = None, extra: Any = None, extra_key: Any = None) -> ReportResult:
    """The report's rows as `actor` may see them. `version` (key, version) of a stored definition
    lets the result be cached; an unsaved definition (the designer's preview) is cached by content.
    `extra` narrows the orders further (a dashboard's filters), `extra_key` says so to the cache."""
    catalogue = catalogue_for(session)
    report = parse(definition, catalogue)
    ctx = fact_context(now, session=session)
    stages = stage_order(session, report)
    cache_key = (cache.key_for(session, actor, report, version, data_version(session, report.dataset), now), extra_key,
                 stages)
    hit = cache.CACHE.get(cache_key)
    if hit is not None:
        return hit
    dialect = session.get_bind().dialect.name
    scope = and_(visible_orders_clause(session, actor), extra if extra is not None else true())
    try:
        funnel = compile_funnel(report, catalogue, ORDER, ctx, scope=scope, limit=report.limit + 1)
    except ReportProblem as exc:
        raise _problem(exc) from exc
    _bounded(session)
    rows = _rows(session, funnel.statement) if funnel is not None else None
    if rows and rows[0][0] is None:  # an order entered a stage without a bit: count from the events
        rows = None
    if rows is None:
        try:
            compiled = compile_report(report, catalogue, ORDER, EVENT, ctx, dialect=dialect, scope=scope,
                                      limit=report.limit + 1, tables=report_datasets.TABLES,
                                      line_fields=_line_fields(session, report), order_extra=prediction_columns(),
                                      orderless=_orderless(session, actor, report, extra))
        except ReportProblem as exc:
            raise _problem(exc) from exc
        rows = _rows(session, compiled.statement)
    more = len(rows) > report.limit
    rows = [[_plain(v) for v in r] for r in rows[: report.limit]]
    if stages is not None:  # a conversion funnel: each stage after the one before it in the flow
        rows = in_process_order(rows, stages, len(report.dimensions))
    result = ReportResult(
        dimensions=[d.model_dump(mode="json") for d in report.dimensions],
        measures=[m.model_dump(mode="json", exclude_none=True) for m in report.measures],
        rows=rows, more=more,
    )
    result.labels = [value_labels(session, d.field, [r[i] for r in rows]) for i, d in enumerate(report.dimensions)]
    result.dataset = report.dataset
    result.flow_order = stages is not None
    cache.CACHE.put(cache_key, result)
    return result


def _rows(session: Session, statement: Any) -> list[list[Any]]:
    """A report statement's rows; a statement timeout is `report.too_slow`."""
    try:
        return [list(r) for r in session.exec(statement).all()]
    except Exception as exc:  # a statement timeout or a database refusing an expression
        session.rollback()
        if "statement timeout" in str(exc) or "canceling statement" in str(exc):
            raise GendanError("report.too_slow", status=422) from exc
        raise


def stage_order(session: Session, report: ReportDefinition) -> tuple[str, ...] | None:
    """The flow's stage order for a conversion funnel over stages (the published flows' stages as
    the process map draws them, else the built-in order); None for any other report."""
    if not is_conversion_funnel(report.view.model_dump(), [d.field for d in report.dimensions]):
        return None
    from backend.insight.process_map import drawn_flow

    return drawn_flow(session)[0].order


def _orderless(session: Session, actor: Actor, report: ReportDefinition, extra: Any) -> Any:
    """To-dos without an order the reader sees, for a to-dos report without dashboard filters
    (a date range, team or tier chooses orders, and these have none); else None."""
    if report.dataset != "todos" or extra is not None:
        return None
    return report_datasets.orderless_todos_clause(session, actor)


def _line_fields(session: Session, report: ReportDefinition):
    return report_datasets.line_fields(session) if report.dataset == "line_items" else ()


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "as_integer_ratio") and not isinstance(value, int):  # Decimal
        return float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def value_labels(session: Session, field: str, values: list[Any]) -> dict[str, str]:
    """Display names of a dimension's values: people, customers, stages, statuses, roles, rules."""
    present = sorted({v for v in values if v is not None}, key=str)
    named = report_datasets.value_labels(session, field, present)
    if named is not None:
        return named
    field = report_datasets.label_field(field)
    if field == "owner_id" and present:
        found = session.exec(select(User.id, User.display_name).where(User.id.in_(present))).all()
        return {str(i): n for i, n in found}
    if field == "customer_id" and present:
        found = session.exec(select(Customer.id, Customer.name).where(Customer.id.in_(present))).all()
        return {str(i): n for i, n in found}
    if field == "payment_overdue_bucket":
        zh = i18n.get_locale() == "zh_CN"
        return {str(v): AGEING_LABELS[v][0 if zh else 1] for v in present if v in AGEING_LABELS}
    if field == "stage":
        return {str(v): sentences.stage_label(v) for v in present if v in sentences.STAGES}
    if field == "status":
        return {str(v): i18n.gettext(STATUS_LABELS[v]) for v in present if v in STATUS_LABELS}
    return {}


# --- the orders behind a cell ----------------------------------------------------------------------

_LIST_FILTERS = {"owner_id": "owner_id", "customer_id": "customer_id", "stage": "stage", "status": "status"}


def _bucket_end(start: date, bucket: str) -> date:
    if bucket == "day":
        return start
    if bucket == "week":
        return start + timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[bucket]
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def order_list_query(report: ReportDefinition, cell: list[Any]) -> list[tuple[str, str]] | None:
    """The order list's own filters for a cell, when they say exactly the same (no report filter,
    every dimension one the list filters by); else None."""
    if report.dataset != "orders" or report.filter is not None or len(cell) != len(report.dimensions):
        return None
    pairs: list[tuple[str, str]] = []
    for dim, value in zip(report.dimensions, cell, strict=True):
        if value is None:
            return None
        if dim.field in _LIST_FILTERS and not dim.bucket:
            pairs.append((_LIST_FILTERS[dim.field], str(value)))
        elif dim.field == "created_at" and dim.bucket:
            try:
                start = date.fromisoformat(str(value))
            except ValueError:
                return None
            pairs += [("created_from", start.isoformat()), ("created_to", _bucket_end(start, dim.bucket).isoformat())]
        else:
            return None
    return pairs


def drill_orders(session: Session, *, actor: Actor, definition: Any, cell: list[Any], now: datetime,
                 extra: Any = None) -> list[Order]:
    """The orders behind one row of the report (the reader's visible ones, newest first, at most 200)."""
    catalogue = catalogue_for(session)
    report = parse(definition, catalogue)
    ctx = fact_context(now, session=session)
    scope = and_(visible_orders_clause(session, actor), extra if extra is not None else true())
    try:
        if (fast := funnel_cell(report, catalogue, ORDER, ctx, cell)) is not None:
            where = fast
        elif report.dataset == "orders":
            where = cell_clause(report, cell, report_catalogue(report, catalogue),
                                order_report_columns(ORDER, EVENT, catalogue, ctx, prediction_columns()), ctx)
        else:
            rows = _cell_rows(session, report, catalogue, cell, ctx, scope, None)
            key = rows[0].order_id if rows[0].order_id is not None else rows[0].row_id
            behind = select(key).select_from(rows[0].source).where(rows[1])
            where = (ORDER.c.id if rows[0].order_id is not None else ORDER.c.customer_id).in_(behind)
    except ReportProblem as exc:
        raise _problem(exc) from exc
    stmt = (select(Order).where(scope, where)
            .order_by(Order.created_at.desc(), Order.id.desc()).limit(DRILL_LIMIT))
    return list(session.exec(stmt).scalars())


def _cell_rows(session: Session, report: ReportDefinition, catalogue: Catalogue, cell: list[Any], ctx, scope,
               orderless: Any):
    """A data set's rows (engine Rows) and the clause picking those behind one cell."""
    rows = report_rows(report, catalogue, report_datasets.TABLES, ctx, dialect=session.get_bind().dialect.name,
                       scope=scope, line_fields=_line_fields(session, report), orderless=orderless)
    where = and_(rows.where, cell_clause(report, cell, report_catalogue(report, catalogue), rows.columns, ctx))
    return rows, where


def drill_todos(session: Session, *, actor: Actor, definition: Any, cell: list[Any], now: datetime,
                extra: Any = None) -> list[Any]:
    """The to-dos behind one row of a to-dos report (of the reader's visible orders, and without an
    order those the reader sees, newest first, at most 200)."""
    from backend.inbox.models import InboxItem

    catalogue = catalogue_for(session)
    report = parse(definition, catalogue)
    if report.dataset != "todos":
        raise GendanError("report.bad_cell", status=422)
    ctx = fact_context(now, session=session)
    scope = and_(visible_orders_clause(session, actor), extra if extra is not None else true())
    try:
        rows, where = _cell_rows(session, report, catalogue, cell, ctx, scope, _orderless(session, actor, report, extra))
    except ReportProblem as exc:
        raise _problem(exc) from exc
    ids = select(rows.row_id).select_from(rows.source).where(where)
    stmt = (select(InboxItem, Order.number).outerjoin(Order, Order.id == InboxItem.order_id).where(InboxItem.id.in_(ids))
            .order_by(InboxItem.created_at.desc(), InboxItem.id.desc()).limit(DRILL_LIMIT))
    return list(session.exec(stmt).all())


def actor_zone(session: Session):
    return get_installation(session).zone
