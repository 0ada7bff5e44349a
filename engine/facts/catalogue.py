"""The facts a rule may read: core order columns, designed fields, derived facts.

Why this exists: a rule condition names facts (`amount`, `data.incoterm`, `hours_in_stage`).
The in-process evaluator needs each fact's value for one order (`build_facts`); the time-rule scan
needs each fact as a SQL expression over all orders (`engine.facts.sql.fact_sql`). Both come from
this one catalogue, so a field name that is not here can never reach SQL, and tests hold the two
renderings equal.

Values in facts are JSON: dates and datetimes are ISO strings, numbers are floats or ints,
missing values are None. Time comes in through `FactContext.now`; nothing reads the clock.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from engine.calendar import BusinessCalendar, working_hours_between

__all__ = [
    "Catalogue",
    "FactContext",
    "FactType",
    "FieldSpec",
    "build_facts",
    "default_catalogue",
    "fact_type_for_form_field",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DESIGNED_KEY = re.compile(r"[a-z][a-z0-9_]{0,62}")
ISO_DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class FactType(StrEnum):
    NUMBER = "number"
    STRING = "string"
    DATE = "date"  # ISO "YYYY-MM-DD"
    DATETIME = "datetime"  # ISO with offset, UTC
    BOOL = "bool"
    LIST = "list"  # list of strings (tags, multi-select)


@dataclass(frozen=True)
class FieldSpec:
    """One fact: its name in JSON-logic (`var`), type, where it comes from, and labels."""

    name: str
    type: FactType
    source: str  # core / designed / derived
    label_zh: str = ""
    label_en: str = ""
    options: tuple[str, ...] = ()  # select fields: the allowed values


@dataclass(frozen=True)
class FactContext:
    """Everything time-dependent a fact needs: the moment of evaluation and the business calendar.

    `working_hours_lookback_days` bounds `working_hours_in_stage`: time in a stage before
    `now - lookback` is not counted (both renderings clamp the same way), which keeps the SQL
    rendering a bounded expression.
    """

    now: datetime
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    working_hours_lookback_days: int = 183

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("facts.naive_now")

    @property
    def today(self) -> date:
        """The business's local date at `now` (days_until / days_overdue count from it)."""
        return self.now.astimezone(self.calendar.zone).date()

    @property
    def now_seconds(self) -> int:
        return epoch_seconds(self.now)


_CORE: tuple[tuple[str, FactType, str, str], ...] = (
    ("id", FactType.NUMBER, "订单ID", "Order id"),
    ("number", FactType.STRING, "订单号", "Order number"),
    ("customer_id", FactType.NUMBER, "客户", "Customer"),
    ("owner_id", FactType.NUMBER, "负责人", "Owner"),
    ("amount", FactType.NUMBER, "金额", "Amount"),
    ("currency", FactType.STRING, "币种", "Currency"),
    ("stage", FactType.STRING, "阶段", "Stage"),
    ("status", FactType.STRING, "状态", "Status"),
    ("stage_entered_at", FactType.DATETIME, "进入阶段时间", "Entered stage at"),
    ("planned_delivery", FactType.DATE, "计划交期", "Planned delivery"),
    ("payment_due", FactType.DATE, "付款到期日", "Payment due"),
    ("source", FactType.STRING, "来源", "Source"),
    ("external_id", FactType.STRING, "外部编号", "External id"),
    ("form_key", FactType.STRING, "表单", "Form"),
    ("tags", FactType.LIST, "标签", "Tags"),
    ("risk_flags", FactType.LIST, "风险标记", "Risk flags"),
    ("urge_count", FactType.NUMBER, "催办次数", "Times urged"),
    ("last_customer_contact_at", FactType.DATETIME, "最近客户联系", "Last customer contact"),
    ("created_at", FactType.DATETIME, "创建时间", "Created at"),
    ("updated_at", FactType.DATETIME, "更新时间", "Updated at"),
    ("closed_at", FactType.DATETIME, "关闭时间", "Closed at"),
    ("shipped_at", FactType.DATETIME, "发货时间", "Shipped at"),
    ("signed_at", FactType.DATETIME, "签收时间", "Signed at"),
    # Foresight's stored scores (backend/foresight/scoring.py refreshes them; None until scored)
    ("predicted_stage_done_at", FactType.DATETIME, "预计本阶段完成时间", "Predicted stage done at"),
    ("predicted_completion_at", FactType.DATETIME, "预计完成（交付）时间", "Predicted completion at"),
    ("delay_probability", FactType.NUMBER, "延误概率", "Delay probability"),
    ("stage_p90_hours", FactType.NUMBER, "本阶段 P90 时长（小时）", "Stage p90 (hours)"),
    # stored scores (autodecide_0001): refreshed by the worker job `order_scores`
    # (engine/facts/scores.py defines them, scores_sql.py computes them set-based)
    ("customer_on_time_rate", FactType.NUMBER, "客户准时率", "Customer on-time rate"),
    ("supplier_on_time_rate", FactType.NUMBER, "供应商准时率", "Supplier on-time rate"),
    ("carrier_on_time_rate", FactType.NUMBER, "承运商准时率", "Carrier on-time rate"),
    ("priority_score", FactType.NUMBER, "优先级分", "Priority score"),
    ("churn_signals", FactType.NUMBER, "流失信号数", "Churn signals"),
)

#: Core columns the worker refreshes (never set by people or rules).
STORED_SCORES: tuple[str, ...] = (
    "customer_on_time_rate", "supplier_on_time_rate", "carrier_on_time_rate", "priority_score", "churn_signals",
)

_DERIVED: tuple[tuple[str, str, str], ...] = (
    ("hours_in_stage", "在当前阶段小时数", "Hours in stage"),
    ("working_hours_in_stage", "在当前阶段工作小时数", "Working hours in stage"),
    ("days_since_created", "创建后天数", "Days since created"),
    ("days_until_planned_delivery", "距计划交期天数", "Days until planned delivery"),
    ("days_until_payment_due", "距付款到期天数", "Days until payment due"),
    ("days_overdue_planned_delivery", "交期逾期天数", "Days past planned delivery"),
    ("days_overdue_payment_due", "付款逾期天数", "Days past payment due"),
    ("hours_since_last_customer_contact", "距上次客户联系小时数", "Hours since last customer contact"),
    ("days_since_signed", "签收后天数", "Days since signed"),
    ("hours_since_signed", "签收后小时数", "Hours since signed"),
    ("stall_ratio", "停滞比（在阶段时长 ÷ 阶段 P90）", "Stall ratio (time in stage ÷ stage p90)"),
    ("predicted_days_late", "预计晚于计划交期天数", "Predicted days late"),
)

#: Core columns the SQL rendering reads (the backend maps each to its column).
CORE_COLUMNS: tuple[str, ...] = tuple(name for name, *_ in _CORE) + ("data",)


@dataclass(frozen=True)
class Catalogue:
    """Name -> FieldSpec for everything a rule may read."""

    fields: Mapping[str, FieldSpec]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __getitem__(self, name: str) -> FieldSpec:
        return self.fields[name]

    def types(self) -> dict[str, str]:
        """Name -> type name, the shape `engine.jsonlogic.validate_logic` takes."""
        return {name: str(spec.type) for name, spec in self.fields.items()}

    def with_designed(self, designed: Iterable[FieldSpec | tuple[str, FactType | str]]) -> Catalogue:
        """This catalogue plus designed fields (`key` becomes `data.key`)."""
        merged = dict(self.fields)
        for item in designed:
            spec = item if isinstance(item, FieldSpec) else FieldSpec(item[0], FactType(item[1]), "designed")
            key = spec.name.removeprefix("data.")
            if not _DESIGNED_KEY.fullmatch(key):
                raise ValueError(f"facts.bad_designed_key: {key!r}")
            if spec.type is FactType.DATETIME:
                raise ValueError(f"facts.designed_datetime_unsupported: {key!r}")
            merged[f"data.{key}"] = FieldSpec(
                f"data.{key}", spec.type, "designed", spec.label_zh, spec.label_en, spec.options
            )
        return Catalogue(merged)

    def designed_keys(self) -> dict[str, FactType]:
        return {n.removeprefix("data."): s.type for n, s in self.fields.items() if s.source == "designed"}


def default_catalogue() -> Catalogue:
    """Core columns and derived facts, no designed fields."""
    fields = {name: FieldSpec(name, kind, "core", zh, en) for name, kind, zh, en in _CORE}
    for name, zh, en in _DERIVED:
        fields[name] = FieldSpec(name, FactType.NUMBER, "derived", zh, en)
    return Catalogue(fields)


_FORM_TYPES: dict[str, FactType | None] = {
    "number": FactType.NUMBER,
    "money": FactType.NUMBER,
    "percent": FactType.NUMBER,
    "user": FactType.NUMBER,  # a user / department / customer id
    "department": FactType.NUMBER,
    "customer": FactType.NUMBER,
    "date": FactType.DATE,
    "checkbox": FactType.BOOL,
    "multi_select": FactType.LIST,
    "text": FactType.STRING,
    "long_text": FactType.STRING,
    "single_select": FactType.STRING,
    "phone": FactType.STRING,
    "email": FactType.STRING,
}


def fact_type_for_form_field(form_field_type: str) -> FactType | None:
    """The fact type a designed form field (engine.forms FieldType value) is read as, or None
    when rules cannot read it (datetime, files, line items, layout, computed)."""
    return _FORM_TYPES.get(str(form_field_type))


# --- Python rendering -----------------------------------------------------------------------


def as_utc(value: datetime) -> datetime:
    """Stored datetimes are UTC; SQLite hands them back naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def epoch_seconds(value: datetime) -> int:
    """Whole seconds since 1970 (floor): both renderings count time at one-second resolution."""
    delta = as_utc(value) - EPOCH
    return delta.days * 86400 + delta.seconds


def _json_value(value: Any, kind: FactType) -> Any:
    if value is None:
        return None
    if kind is FactType.NUMBER:
        if isinstance(value, bool):
            return None
        if isinstance(value, Decimal):
            return float(value)
        return value if isinstance(value, (int, float)) else None
    if kind is FactType.DATETIME:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return as_utc(value).isoformat()
    if kind is FactType.DATE:
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            return value.isoformat()
        # designed dates are JSON text: only the YYYY-MM-DD shape counts (the SQL rendering agrees)
        return value if isinstance(value, str) and ISO_DATE_SHAPE.fullmatch(value) else None
    if kind is FactType.BOOL:
        return value if isinstance(value, bool) else None
    if kind is FactType.LIST:
        return list(value) if isinstance(value, (list, tuple)) else None
    return value if isinstance(value, str) else None


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


#: derived fact -> (source column, "seconds" for a timestamp's epoch seconds or "days" for a date ordinal)
DERIVED_SOURCES: dict[str, tuple[str, str]] = {
    "hours_in_stage": ("stage_entered_at", "seconds"),
    "working_hours_in_stage": ("stage_entered_at", "seconds"),
    "hours_since_last_customer_contact": ("last_customer_contact_at", "seconds"),
    "days_since_created": ("created_at", "seconds"),
    "days_since_signed": ("signed_at", "seconds"),
    "hours_since_signed": ("signed_at", "seconds"),
    "days_until_planned_delivery": ("planned_delivery", "days"),
    "days_until_payment_due": ("payment_due", "days"),
    "days_overdue_planned_delivery": ("planned_delivery", "days"),
    "days_overdue_payment_due": ("payment_due", "days"),
}


@dataclass(frozen=True)
class WorkingTimeIndex:
    """Working seconds from any moment to `now` within the lookback window, by bisection.

    `segments` are (start, remaining seconds at start, is_linear) in ascending start order: on a
    linear segment remaining(t) = remaining_at_start - (t - start), otherwise it is constant. The
    SQL rendering builds its CASE tree from the same segments, so both renderings agree exactly;
    a test holds them equal to engine.calendar.working_hours_between.
    """

    now_s: int
    floor_s: int
    total: int
    segments: tuple[tuple[int, int, bool], ...]
    starts: tuple[int, ...]

    def remaining(self, seconds: int) -> int:
        if seconds >= self.now_s:
            return 0
        if seconds < self.starts[0]:
            return self.total
        index = bisect_right(self.starts, seconds) - 1
        start, at_start, is_linear = self.segments[index]
        return at_start - (seconds - start) if is_linear else at_start


@lru_cache(maxsize=64)
def working_time_index(now_s: int, calendar: BusinessCalendar, lookback_days: int) -> WorkingTimeIndex:
    now = datetime.fromtimestamp(now_s, UTC)
    floor = now - timedelta(days=lookback_days)
    floor_s = epoch_seconds(floor)
    day = floor.astimezone(calendar.zone).date() - timedelta(days=1)
    last = now.astimezone(calendar.zone).date() + timedelta(days=1)
    intervals: list[tuple[int, int]] = []
    while day <= last:
        for lo, hi in calendar.working_intervals(day):
            lo_s, hi_s = max(epoch_seconds(lo), floor_s), min(epoch_seconds(hi), now_s)
            if hi_s > lo_s:
                intervals.append((lo_s, hi_s))
        day += timedelta(days=1)
    intervals.sort()
    total = sum(hi - lo for lo, hi in intervals)
    segments: list[tuple[int, int, bool]] = []
    done = 0
    cursor: int | None = None
    for lo, hi in intervals:
        if cursor is None or lo > cursor:
            segments.append((cursor if cursor is not None else lo, total - done, False))
        segments.append((lo, total - done, True))
        done += hi - lo
        cursor = hi
    segments.append((cursor if cursor is not None else now_s, 0, False))
    return WorkingTimeIndex(now_s, floor_s, total, tuple(segments), tuple(s[0] for s in segments))


def derived_of_source(name: str, source: int, ctx: FactContext) -> float:
    """A derived fact from its source column's integer value (epoch seconds, or a date's ordinal).

    The one definition both renderings follow; the compiler also bisects it to turn a comparison
    with a constant into a range on the indexed source column.
    """
    if name in ("hours_in_stage", "hours_since_last_customer_contact", "hours_since_signed"):
        return (ctx.now_seconds - source) / 3600.0
    if name == "working_hours_in_stage":
        index = working_time_index(ctx.now_seconds, ctx.calendar, ctx.working_hours_lookback_days)
        return index.remaining(source) / 3600.0
    if name in ("days_since_created", "days_since_signed"):
        return float((ctx.now_seconds - source) // 86400)
    until = source - ctx.today.toordinal()
    if name.startswith("days_until_"):
        return float(until)
    if name.startswith("days_overdue_"):
        return float(max(0, -until))
    raise KeyError(name)


#: Core columns the worker rewrites without an order change (stored scores and predictions): a
#: condition reading them can turn true while the order stays as it is, so the due-time index
#: (engine/rules/due.py) leaves such rules to the scan.
WORKER_REFRESHED: frozenset[str] = frozenset((
    *STORED_SCORES, "predicted_stage_done_at", "predicted_completion_at", "delay_probability", "stage_p90_hours"))

#: derived facts read from two columns (no single source column, so no index range: see engine/facts/sql.py)
PAIR_SOURCES: dict[str, tuple[str, str]] = {
    "stall_ratio": ("stage_entered_at", "stage_p90_hours"),
    "predicted_days_late": ("predicted_completion_at", "planned_delivery"),
}


def pair_value(name: str, order: Mapping[str, Any], ctx: FactContext) -> float | None:
    """stall_ratio: hours in stage ÷ the stage's p90 hours (None without a positive p90);
    predicted_days_late: whole days from the planned delivery day to the predicted completion's UTC day
    (floor; 0 on the day, 1 one day late, negative when early)."""
    if name == "stall_ratio":
        entered = _as_datetime(order.get("stage_entered_at"))
        p90 = order.get("stage_p90_hours")
        if entered is None or not isinstance(p90, (int, float)) or isinstance(p90, bool) or p90 <= 0:
            return None
        return (ctx.now_seconds - epoch_seconds(entered)) / 3600.0 / float(p90)
    completion = _as_datetime(order.get("predicted_completion_at"))
    planned = _as_date(order.get("planned_delivery"))
    if completion is None or planned is None:
        return None
    planned_s = (planned.toordinal() - date(1970, 1, 1).toordinal()) * 86400
    return float((epoch_seconds(completion) - planned_s) // 86400)


def derived_value(name: str, order: Mapping[str, Any], ctx: FactContext) -> float | None:
    """The Python rendering of one derived fact (None when its source column is empty)."""
    if name in PAIR_SOURCES:
        return pair_value(name, order, ctx)
    column, unit = DERIVED_SOURCES[name]
    if unit == "seconds":
        moment = _as_datetime(order.get(column))
        return None if moment is None else derived_of_source(name, epoch_seconds(moment), ctx)
    day = _as_date(order.get(column))
    return None if day is None else derived_of_source(name, day.toordinal(), ctx)


def reference_working_hours(name_source_seconds: int, ctx: FactContext) -> float:
    """working_hours_in_stage computed with engine.calendar.working_hours_between (for tests)."""
    now = datetime.fromtimestamp(ctx.now_seconds, UTC)
    floor = now - timedelta(days=ctx.working_hours_lookback_days)
    start = min(max(datetime.fromtimestamp(name_source_seconds, UTC), floor), now)
    return float(working_hours_between(start, now, ctx.calendar))


def build_facts(order: Mapping[str, Any], catalogue: Catalogue, ctx: FactContext) -> dict[str, Any]:
    """The facts of one order for in-process evaluation.

    `order` maps core column names to their Python values (datetime, date, Decimal, dict for
    `data`). Designed values whose JSON type does not fit the field type read as None, exactly
    like the SQL rendering.
    """
    facts: dict[str, Any] = {}
    data = order.get("data") or {}
    designed: dict[str, Any] = {}
    for name, spec in catalogue.fields.items():
        if spec.source == "core":
            facts[name] = _json_value(order.get(name), spec.type)
        elif spec.source == "derived":
            facts[name] = derived_value(name, order, ctx)
        else:
            key = name.removeprefix("data.")
            value = data.get(key) if isinstance(data, dict) else None
            designed[key] = _json_value(value, spec.type) if not isinstance(value, (date, Decimal)) else None
    facts["data"] = designed
    return facts
