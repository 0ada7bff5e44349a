"""The data sets a report reads besides orders: line items, to-dos, order events, firings, customers.

Why this exists: a report groups rows; for the orders data set a row is an order and its fields
are the rule compiler's fact catalogue. The other data sets have rows of their own (one line item,
one to-do, one event, one firing, one customer), so each has a small catalogue of its fields
(`dataset_catalogue`) and a FROM over the real tables (`dataset_rows`) that maps every field name
of that catalogue to a SQL expression. The report compiler then reads fields, filters and `rate`
conditions through the very same machinery as for orders (`fact_sql`, `compile_condition`) with
this mapping in place of the order table's columns: names reach SQL only from these catalogues,
values only as bound parameters.

Row-level access: the caller's access clause is a condition over the order table; every data set
joins the order its rows belong to and applies it there (a sales rep counts the to-dos, events, line
items and firings of the orders they may see; customers of those orders, with figures over those
orders only). A to-do without an order is in the to-dos data set with its order fields empty; which
of those a reader sees is the caller's `orderless` clause over the to-do table (its assignee).

The order's fields ride along as `order.<field>`: every core column of the order (owner, customer,
stage, status, amount, ..., not the lists) and every designed field of a published form as
`order.data.<key>` (`dataset_catalogue(name, orders_catalogue)`). Line items and order events read
them through a LEFT JOIN of the order by id outside their windows, added only when the report reads
one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    String,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from engine.facts import Catalogue, FactContext, FactType
from engine.facts.catalogue import FieldSpec
from engine.facts.sql import EpochSeconds, JsonValue

__all__ = ["DATASETS", "LineItemsField", "Rows", "dataset_catalogue", "dataset_rows", "condition_vars", "ROLE_ORDER",
           "only_order_fields", "order_columns", "order_field_columns"]

# whether a timestamp's day in the installation's zone is on or before a date (the compiler's SQL)
OnOrBefore = Callable[[ColumnElement[Any], ColumnElement[Any]], ColumnElement[bool]]

DATASETS = ("orders", "line_items", "todos", "order_events", "firings", "customers")

# the order's fields other data sets group and filter by
_ORDER_DIMS: tuple[tuple[str, FactType, str, str], ...] = (
    ("number", FactType.STRING, "订单号", "Order number"),
    ("owner_id", FactType.NUMBER, "负责人", "Owner"),
    ("customer_id", FactType.NUMBER, "客户", "Customer"),
    ("stage", FactType.STRING, "阶段", "Stage"),
    ("status", FactType.STRING, "状态", "Status"),
    ("amount", FactType.NUMBER, "金额", "Amount"),
    ("currency", FactType.STRING, "币种", "Currency"),
    ("created_at", FactType.DATETIME, "创建时间", "Created at"),
    ("planned_delivery", FactType.DATE, "计划交期", "Planned delivery"),
    ("form_key", FactType.STRING, "表单", "Form"),
)

_FIELDS: dict[str, tuple[tuple[str, FactType, str, str], ...]] = {
    "line_items": (
        ("product", FactType.STRING, "产品", "Product"),
        ("quantity", FactType.NUMBER, "数量", "Quantity"),
        ("unit_price", FactType.NUMBER, "单价", "Unit price"),
        ("line_amount", FactType.NUMBER, "行金额", "Line amount"),
        ("line_field", FactType.STRING, "明细表字段", "Line-items field"),
    ),
    "todos": (
        ("role", FactType.STRING, "角色", "Role"),
        ("assignee_id", FactType.NUMBER, "处理人", "Assignee"),
        ("node_key", FactType.STRING, "节点", "Node"),
        ("kind", FactType.STRING, "待办类型", "To-do kind"),
        ("state", FactType.STRING, "待办状态", "To-do state"),
        ("priority", FactType.STRING, "优先级", "Priority"),
        ("source", FactType.STRING, "来源", "Source"),
        ("created_at", FactType.DATETIME, "创建时间", "Created at"),
        ("closed_at", FactType.DATETIME, "完成时间", "Done at"),
        ("due_at", FactType.DATETIME, "到期时间", "Due at"),
        ("is_open", FactType.BOOL, "未完成", "Open"),
        ("is_overdue", FactType.BOOL, "已逾期", "Overdue"),
        ("open_age_hours", FactType.NUMBER, "未完成时长（小时）", "Open for (hours)"),
        ("hours_to_done", FactType.NUMBER, "完成用时（小时）", "Time to done (hours)"),
    ),
    "order_events": (
        ("type", FactType.STRING, "事件类型", "Event kind"),
        ("actor_id", FactType.NUMBER, "操作人", "Actor"),
        ("at", FactType.DATETIME, "发生时间", "At"),
        ("stage_from", FactType.STRING, "原阶段", "Stage from"),
        ("stage_to", FactType.STRING, "新阶段", "Stage to"),
        ("duration_hours", FactType.NUMBER, "在新阶段停留（小时）", "Hours in the stage entered"),
    ),
    "firings": (
        ("rule_key", FactType.STRING, "规则", "Rule"),
        ("rule_version", FactType.NUMBER, "规则版本", "Rule version"),
        ("trigger", FactType.STRING, "触发方式", "Trigger"),
        ("fired_at", FactType.DATETIME, "触发时间", "Fired at"),
        ("episode", FactType.NUMBER, "轮次", "Episode"),
    ),
    "customers": (
        ("customer_id", FactType.NUMBER, "客户", "Customer"),
        ("tier", FactType.STRING, "客户等级", "Customer tier"),
        ("region", FactType.STRING, "地区", "Region"),
        ("owner_id", FactType.NUMBER, "客户负责人", "Account owner"),
        ("created_at", FactType.DATETIME, "创建时间", "Created at"),
        ("order_count", FactType.NUMBER, "订单数", "Orders"),
        ("open_order_count", FactType.NUMBER, "在途订单数", "Open orders"),
        ("open_value", FactType.NUMBER, "在途金额", "Open value"),
        ("on_time_rate", FactType.NUMBER, "准时交付率", "On-time rate"),
    ),
}

#: a to-do's role is its assignee's role, the first of these they hold (a to-do counts once; a
#: role outside this list does not name one)
ROLE_ORDER = ("approver", "warehouse", "finance", "sales", "designer", "viewer", "admin")
_KEY = "abcdefghijklmnopqrstuvwxyz0123456789_"


def dataset_catalogue(name: str, orders: Catalogue | None = None) -> Catalogue:
    """The fields of a data set other than orders (KeyError for an unknown one). `orders`, the
    orders' fact catalogue, adds the order's other core columns and its designed fields
    (`order.data.<key>`): both read as plain columns of the order (source "core")."""
    fields = {n: FieldSpec(n, kind, "core", zh, en) for n, kind, zh, en in _FIELDS[name]}
    if name != "customers":
        for n, kind, zh, en in _ORDER_DIMS:
            fields[f"order.{n}"] = FieldSpec(f"order.{n}", kind, "core", f"订单·{zh}", f"Order: {en}")
        for spec in (orders.fields.values() if orders is not None else ()):
            if spec.source not in ("core", "designed") or spec.type is FactType.LIST or f"order.{spec.name}" in fields:
                continue
            fields[f"order.{spec.name}"] = FieldSpec(f"order.{spec.name}", spec.type, "core", f"订单·{spec.label_zh}",
                                                     f"Order: {spec.label_en}", spec.options)
    return Catalogue(fields)


def order_field_columns(orders: Any, catalogue: Catalogue) -> dict[str, ColumnElement[Any]]:
    """The SQL of every `order.*` field of a data set's catalogue over the order table `orders`
    (core columns as they are, designed fields read from `data`)."""
    out: dict[str, ColumnElement[Any]] = {}
    for name, spec in catalogue.fields.items():
        if not name.startswith("order."):
            continue
        field = name.removeprefix("order.")
        if field.startswith("data."):
            out[name] = JsonValue(orders.c.data, field.removeprefix("data."), spec.type)
        elif field in orders.c:
            out[name] = orders.c[field]
    return out


@dataclass(frozen=True)
class LineItemsField:
    """A designed line-items field and which of its columns hold the product, quantity, unit price
    and line amount (None: not there; a missing amount is quantity × unit price)."""

    key: str
    product: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    amount: str | None = None

    @staticmethod
    def of(key: str, columns: Iterable[tuple[str, str]]) -> LineItemsField:
        """From a form's line-items field: its (column key, form field type) pairs."""
        cols = dict(columns)

        def first(names: tuple[str, ...], types: tuple[str, ...]) -> str | None:
            return next((n for n in names if n in cols and cols[n] in types), None)

        numeric = ("number", "money", "percent", "computed")
        return LineItemsField(
            key,
            product=first(("product", "product_name", "item", "sku", "name", "description"),
                          ("text", "long_text", "single_select")),
            quantity=first(("quantity", "qty", "count"), numeric),
            unit_price=first(("unit_price", "price"), numeric),
            amount=first(("line_amount", "amount", "total", "subtotal"), numeric),
        )


@dataclass(frozen=True)
class Rows:
    """A data set's FROM, its fields as expressions, the WHERE it always needs (row-level access),
    and the columns a drill-down reads: the row's order id (None for customers) and its own key."""

    source: Any
    columns: Mapping[str, ColumnElement[Any]]
    where: ColumnElement[bool]
    order_id: ColumnElement[Any] | None
    row_id: ColumnElement[Any]


def condition_vars(condition: Any) -> set[str]:
    """Every `var` name a JSON-logic condition reads (iterative: sizes are bounded by the caller)."""
    names: set[str] = set()
    stack = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for op, arg in node.items():
                if op == "var":
                    first = arg[0] if isinstance(arg, list) and arg else arg
                    names.add(first if isinstance(first, str) else repr(first))
                else:
                    stack.append(arg)
    return names


def order_columns(orders: Any) -> dict[str, ColumnElement[Any]]:
    return {f"order.{n}": orders.c[n] for n, *_ in _ORDER_DIMS}


def _hours(later: ColumnElement[Any], earlier: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(later - earlier, Float) / literal_column("3600.0", Float)


def dataset_rows(name: str, tables: Mapping[str, Any], ctx: FactContext, *, dialect: str,
                 scope: ColumnElement[bool], on_or_before: OnOrBefore, order_filter: Any = None,
                 line_fields: tuple[LineItemsField, ...] = (), catalogue: Catalogue | None = None,
                 orderless: ColumnElement[bool] | None = None, reads: frozenset[str] | None = None,
                 durations: bool = True, stages_only: bool = False) -> Rows:
    """The rows of data set `name`. `tables`: order, event, todo, firing, customer, user_role (the
    backend's tables); `scope` the access clause (and dashboard filters) over the order table;
    `on_or_before(ts, date)` whether a timestamp's day in the installation's zone is on or before a
    date (the compiler's `LocalDayOnOrBefore`: the customers' on-time rate judges as the trend does);
    `order_filter` a condition over `order.*` fields only, compiled by the caller and applied where
    it narrows early (inside windows and aggregates); `line_fields` the designed line-items fields;
    `catalogue` the data set's catalogue (its `order.*` fields beyond the dimensions become columns);
    `orderless` which to-dos without an order the reader sees (a clause over the to-do table; None:
    none); `reads` the fields the report reads (None: any), so line items and order events join the
    order only when it reads one of its fields beyond the dimensions they carry; `durations` False when the report reads no event's
    `duration_hours` (no window over the log); `stages_only` True when the report's filter keeps
    only events that entered a stage (then the stored visits alone are the rows)."""
    orders = tables["order"]
    more = order_field_columns(orders, catalogue) if catalogue is not None else {}
    now_s = literal_column(str(int(ctx.now_seconds)), Float)
    early = and_(scope, order_filter) if order_filter is not None else scope
    if name == "todos":
        todo, roles = tables["todo"], tables["user_role"]
        # each user's first role in ROLE_ORDER: a small grouped table hash-joined to the to-dos
        # (a correlated subquery per to-do cost ~1 s over 80,000 open to-dos)
        rank = case(*[(roles.c.role == literal(r, String), literal_column(str(i))) for i, r in enumerate(ROLE_ORDER)])
        ranked = (select(roles.c.user_id.label("user_id"), func.min(rank).label("rank"))
                  .group_by(roles.c.user_id).subquery("assignee_role"))
        role = case(*[(ranked.c.rank == literal_column(str(i)), literal(r, String)) for i, r in enumerate(ROLE_ORDER)])
        is_open = todo.c.state == literal("open", String)
        created_s, closed_s = EpochSeconds(todo.c.created_at), EpochSeconds(todo.c.closed_at)
        columns = {
            "role": role, "assignee_id": todo.c.assignee_id, "node_key": todo.c.node_key, "kind": todo.c.kind,
            "state": todo.c.state, "priority": todo.c.priority, "source": todo.c.source,
            "created_at": todo.c.created_at, "closed_at": todo.c.closed_at, "due_at": todo.c.due_at,
            "is_open": is_open,
            "is_overdue": and_(is_open, todo.c.due_at.is_not(None), EpochSeconds(todo.c.due_at) < now_s),
            "open_age_hours": case((is_open, _hours(now_s, created_s))),
            "hours_to_done": case((todo.c.state == literal("done", String), _hours(closed_s, created_s))),
            **more, **order_columns(orders),
        }
        # a to-do without an order has NULL order columns; the scope holds for the others
        source = (todo.outerjoin(orders, todo.c.order_id == orders.c.id)
                  .outerjoin(ranked, ranked.c.user_id == todo.c.assignee_id))
        with_order = and_(todo.c.order_id.is_not(None), early)
        where = with_order if orderless is None else or_(with_order, and_(todo.c.order_id.is_(None), orderless))
        return Rows(source, columns, where, todo.c.order_id, todo.c.id)
    if name == "firings":
        firing = tables["firing"]
        columns = {"rule_key": firing.c.rule_key, "rule_version": firing.c.rule_version,
                   "trigger": firing.c.trigger, "fired_at": firing.c.fired_at, "episode": firing.c.episode,
                   **more, **order_columns(orders)}
        return Rows(firing.join(orders, firing.c.order_id == orders.c.id), columns, early, firing.c.order_id,
                    firing.c.id)
    if name == "order_events":
        if durations and tables.get("visit") is not None:
            rows = _visit_rows(tables, orders, now_s, early, reads, stages_only, dialect)
        else:
            rows = _event_rows(tables, orders, now_s, early, dialect if durations else None)
        return _with_order(rows, orders, catalogue, reads)
    if name == "line_items":
        return _with_order(_line_rows(orders, line_fields, early, dialect), orders, catalogue, reads)
    if name == "customers":
        return _customer_rows(tables["customer"], orders, scope, on_or_before)
    raise KeyError(name)


def _with_order(rows: Rows, orders: Any, catalogue: Catalogue | None, reads: frozenset[str] | None) -> Rows:
    """Rows of a windowed / expanded subquery plus the order's other fields the report reads,
    through a LEFT JOIN of the order by its primary key outside the subquery (none read: no join;
    PostgreSQL would drop an unused one, SQLite does not)."""
    if catalogue is None:
        return rows
    order = orders.alias("row_order")
    more = {n: c for n, c in order_field_columns(order, catalogue).items()
            if n not in rows.columns and (reads is None or n in reads)}
    if not more:
        return rows
    return Rows(rows.source.outerjoin(order, order.c.id == rows.order_id), {**rows.columns, **more}, rows.where,
                rows.order_id, rows.row_id)


def _event_rows(tables: Mapping[str, Any], orders: Any, now_s: ColumnElement[Any], early: ColumnElement[bool],
                dialect: str | None) -> Rows:
    """Events of the visible orders; a stage change lasts until the order's next stage change (an
    open one until now). The window reads only the visible (and order-filtered) orders' events: on
    PostgreSQL each order's events in a LATERAL subquery by the (order_id, at, id) index (a month of
    orders reads its ~300,000 events, not a hash join over the whole log); SQLite (no LATERAL)
    windows the joined events per order. `dialect` None: the report reads no duration, so the events
    are joined to their orders without a window — a condition on the event's own fields (its type)
    then reaches the event table (a window would keep it outside), and no order's log is sorted."""
    event = tables["event"]
    stage_to = JsonValue(event.c.after, "stage", FactType.STRING)
    stage_from = JsonValue(event.c.before, "stage", FactType.STRING)
    at_s = EpochSeconds(event.c.at)
    is_stage = stage_to.is_not(None)
    own = (event.c.id.label("row_id"), event.c.order_id.label("order_id"), event.c.type.label("type"),
           event.c.actor_id.label("actor_id"), event.c.at.label("at"), stage_from.label("stage_from"),
           stage_to.label("stage_to"), at_s.label("at_s"))
    dims = [c.label(f"o_{n.removeprefix('order.')}") for n, c in order_columns(orders).items()]
    if dialect is None:
        inner = (select(*own, literal(None, Float).label("next_s"), *dims)
                 .select_from(event.join(orders, event.c.order_id == orders.c.id)).where(early).subquery("event_rows"))
    elif dialect == "postgresql":
        next_s = func.lead(at_s).over(partition_by=is_stage, order_by=(event.c.at, event.c.id))
        per_order = (select(*own, next_s.label("next_s")).where(event.c.order_id == orders.c.id)
                     .correlate(orders).lateral("order_events"))
        inner = (select(*[per_order.c[c.name] for c in own], per_order.c.next_s, *dims)
                 .select_from(orders).join(per_order, true()).where(early).subquery("event_rows"))
    else:
        next_s = func.lead(at_s).over(partition_by=(event.c.order_id, is_stage), order_by=(event.c.at, event.c.id))
        inner = (select(*own, next_s.label("next_s"), *dims)
                 .select_from(event.join(orders, event.c.order_id == orders.c.id)).where(early).subquery("event_rows"))
    columns: dict[str, ColumnElement[Any]] = {n: inner.c[n] for n in ("type", "actor_id", "at", "stage_from", "stage_to")}
    columns["duration_hours"] = case((inner.c.stage_to.is_not(None),
                                      _hours(func.coalesce(inner.c.next_s, now_s), inner.c.at_s)))
    columns.update({f"order.{n}": inner.c[f"o_{n}"] for n, *_ in _ORDER_DIMS})
    return Rows(inner, columns, true(), inner.c.order_id, inner.c.row_id)


def _visit_rows(tables: Mapping[str, Any], orders: Any, now_s: ColumnElement[Any], early: ColumnElement[bool],
                reads: frozenset[str] | None, stages_only: bool = False, dialect: str | None = None) -> Rows:
    """Events of the visible orders with their durations from the stored stage visits
    (`tables["visit"]`, backend/orders/models.py OrderStageVisit): the same rows and durations as
    `_event_rows`' window, without sorting any order's log. UNION ALL of the stage events (from
    the visits alone: each carries its event's type, actor, time and stages) and the other events
    (no stage entered, no duration); a condition on `stage_to` reaches both branches, so the
    stage-only reports (time in stage) never read the event log. When the reader sees every order
    and the report reads no order field, the visits are not joined to their orders at all (each
    visit's event belongs to an order: a foreign key). `stages_only` (the filter keeps only stage
    events): the visits alone, no UNION — a plain scan the planner may read from the
    (stage, entered_at, left_at) index in stage order, grouped without sorting 8,000,000 rows."""
    event, visit = tables["event"], tables["visit"]
    order_dims = order_columns(orders)
    dims = [c.label(f"o_{n.removeprefix('order.')}") for n, c in order_dims.items()]
    own_visit = (visit.c.event_id.label("row_id"), visit.c.order_id.label("order_id"), visit.c.type.label("type"),
                 visit.c.actor_id.label("actor_id"), visit.c.entered_at.label("at"),
                 visit.c.stage_from.label("stage_from"), visit.c.stage.label("stage_to"),
                 EpochSeconds(visit.c.entered_at).label("at_s"), visit.c.seconds.label("spent_s"))
    stage_to = JsonValue(event.c.after, "stage", FactType.STRING)
    own_event = (event.c.id.label("row_id"), event.c.order_id.label("order_id"), event.c.type.label("type"),
                 event.c.actor_id.label("actor_id"), event.c.at.label("at"),
                 JsonValue(event.c.before, "stage", FactType.STRING).label("stage_from"),
                 cast(null(), String).label("stage_to"), EpochSeconds(event.c.at).label("at_s"),
                 cast(null(), BigInteger).label("spent_s"))  # typed: a LATERAL's bare NULL is text
    if _always(early) and reads is not None and not any(n.startswith("order.") for n in reads):
        visits = select(*own_visit, *[literal(None, c.type).label(f"o_{n.removeprefix('order.')}")
                                      for n, c in order_dims.items()])
        others = (select(*own_event, *dims).select_from(event.join(orders, event.c.order_id == orders.c.id))
                  .where(stage_to.is_(None)))
    elif dialect == "postgresql":
        # each visible order's rows by its order id index (LATERAL), as the window read them: a month of
        # orders (or a team's) reads its own rows, not a hash join over all 8,000,000
        # (OFFSET 0: PostgreSQL would otherwise pull the plain subquery up into a hash join)
        per_visit = (select(*own_visit).where(visit.c.order_id == orders.c.id).offset(0)
                     .correlate(orders).lateral("order_visits"))
        visits = (select(*[per_visit.c[c.name] for c in own_visit], *dims).select_from(orders)
                  .join(per_visit, true()).where(early))
        per_event = (select(*own_event).where(event.c.order_id == orders.c.id, stage_to.is_(None)).offset(0)
                     .correlate(orders).lateral("order_others"))
        others = (select(*[per_event.c[c.name] for c in own_event], *dims).select_from(orders)
                  .join(per_event, true()).where(early))
    else:
        visits = (select(*own_visit, *dims).select_from(visit.join(orders, visit.c.order_id == orders.c.id))
                  .where(early))
        others = (select(*own_event, *dims).select_from(event.join(orders, event.c.order_id == orders.c.id))
                  .where(early, stage_to.is_(None)))
    inner = (visits if stages_only else union_all(visits, others)).subquery("event_rows")
    columns: dict[str, ColumnElement[Any]] = {n: inner.c[n] for n in ("type", "actor_id", "at", "stage_from", "stage_to")}
    # spent_s (the stored whole seconds, stagetime_0001: floor(left) - floor(entered), what the window
    # counted) is NULL for a visit not yet left (counted up to now) and for every other event (no
    # stage entered: the CASE leaves it without a duration)
    columns["duration_hours"] = case((inner.c.stage_to.is_not(None),
                                      cast(func.coalesce(inner.c.spent_s, now_s - inner.c.at_s), Float)
                                      / literal_column("3600.0", Float)))
    columns.update({f"order.{n}": inner.c[f"o_{n}"] for n, *_ in _ORDER_DIMS})
    return Rows(inner, columns, true(), inner.c.order_id, inner.c.row_id)


def _always(clause: ColumnElement[bool]) -> bool:
    """Whether an access clause lets every row through (an admin's `true()`, however nested)."""
    return str(clause.compile(dialect=postgresql.dialect())) == "true"


def _line_rows(orders: Any, line_fields: tuple[LineItemsField, ...], early: ColumnElement[bool], dialect: str) -> Rows:
    """One row per element of each designed line-items field of the visible orders (UNION ALL over
    the fields; none designed: no rows)."""
    parts = []
    for spec in line_fields:
        if not spec.key or any(ch not in _KEY for ch in spec.key):
            continue
        data = orders.c.data
        if dialect == "postgresql":
            path = data.op("->")(literal(spec.key, String))
            array = case((func.jsonb_typeof(data.op("->")(literal(spec.key, String))) == literal("array", String), path),
                         else_=cast(literal("[]", String), JSONB))
            items = func.jsonb_array_elements(array).table_valued(_json_column()).lateral("line")
            guard = true()
        else:
            items = func.json_each(data, literal(f"$.{spec.key}", String)).table_valued(_json_column()).alias("line")
            guard = func.json_type(data, literal(f"$.{spec.key}", String)) == literal("array", String)
        value = items.c.value

        def col(key: str | None, kind: FactType, value: Any = value) -> ColumnElement[Any]:
            return JsonValue(value, key, kind) if key else literal(None, Float if kind is FactType.NUMBER else String)

        quantity, unit_price = col(spec.quantity, FactType.NUMBER), col(spec.unit_price, FactType.NUMBER)
        amount = col(spec.amount, FactType.NUMBER) if spec.amount else quantity * unit_price
        parts.append(select(orders.c.id.label("order_id"), literal(spec.key, String).label("line_field"),
                            col(spec.product, FactType.STRING).label("product"), cast(quantity, Float).label("quantity"),
                            cast(unit_price, Float).label("unit_price"), cast(amount, Float).label("line_amount"),
                            *[c.label(f"o_{n.removeprefix('order.')}") for n, c in order_columns(orders).items()])
                     .select_from(orders).join(items, true()).where(early, guard))
    if not parts:  # no line-items field designed: an empty set of the same shape
        parts.append(select(orders.c.id.label("order_id"), literal(None, String).label("line_field"),
                            literal(None, String).label("product"), literal(None, Float).label("quantity"),
                            literal(None, Float).label("unit_price"), literal(None, Float).label("line_amount"),
                            *[c.label(f"o_{n.removeprefix('order.')}") for n, c in order_columns(orders).items()])
                     .where(false()))
    inner = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("line_rows")
    columns: dict[str, ColumnElement[Any]] = {n: inner.c[n] for n in ("product", "quantity", "unit_price",
                                                                      "line_amount", "line_field")}
    columns.update({f"order.{n}": inner.c[f"o_{n}"] for n, *_ in _ORDER_DIMS})
    return Rows(inner, columns, true(), inner.c.order_id, inner.c.order_id)


def _json_column():
    """The `value` column of json_each / jsonb_array_elements, typed so JsonValue reads it right."""
    return column("value", JSON().with_variant(JSONB(), "postgresql"))


def _customer_rows(customer: Any, orders: Any, scope: ColumnElement[bool], on_or_before: OnOrBefore) -> Rows:
    """Customers with at least one visible order; their figures count the visible orders only.
    On time: of the orders delivered with a planned delivery date (not cancelled), those delivered on
    or before that day in the installation's zone — the on-time trend's `delivered_on_time` (`delivered_at`: the
    customer's signature, else first reaching the delivered stage), so the two reports agree."""
    is_open = orders.c.status == literal("open", String)
    judged = and_(orders.c.delivered_at.is_not(None), orders.c.planned_delivery.is_not(None),
                  orders.c.status != literal("cancelled", String))
    on_time = on_or_before(orders.c.delivered_at, orders.c.planned_delivery)
    # only the open orders reach the counting and the (numeric) sum: most orders are closed
    figures = (select(orders.c.customer_id.label("customer_id"), func.count().label("order_count"),
                      func.count(case((is_open, literal_column("1")))).label("open_order_count"),
                      func.coalesce(func.sum(case((is_open, orders.c.amount))), literal_column("0")).label("open_value"),
                      func.avg(case((and_(judged, on_time), literal_column("1.0", Float)),
                                    (judged, literal_column("0.0", Float)))).label("on_time_rate"))
               .where(scope).group_by(orders.c.customer_id).subquery("customer_figures"))
    columns = {"customer_id": customer.c.id, "tier": customer.c.tier, "region": customer.c.region,
               "owner_id": customer.c.owner_id, "created_at": customer.c.created_at,
               "order_count": figures.c.order_count, "open_order_count": figures.c.open_order_count,
               "open_value": figures.c.open_value, "on_time_rate": figures.c.on_time_rate}
    return Rows(customer.join(figures, figures.c.customer_id == customer.c.id), columns, true(), None, customer.c.id)


def only_order_fields(condition: Any) -> bool:
    """Whether a condition reads nothing but the order's fields (then it may narrow early)."""
    names = condition_vars(condition)
    return bool(names) and all(n.startswith("order.") for n in names)

