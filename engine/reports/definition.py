"""A report definition: which rows, grouped how, measured how, filtered, sorted, shown how.

Reports are designed like forms, flows and rules and stored as versioned JSON (backend/reports).
This module parses and validates that JSON (bounded: dimensions, measures, limit, filter size)
against the fact catalogue; `engine.reports.compiler` turns a parsed report into SQL.

    {"schema_version": 1, "key": "orders_by_owner", "name": {"zh": "…", "en": "…"},
     "dataset": "orders",
     "dimensions": [{"field": "owner_id"}, {"field": "created_at", "bucket": "month"}],
     "measures": [{"op": "count"}, {"op": "p90", "field": "stage_hours.approval"},
                  {"op": "count_distinct", "field": "customer_id"},
                  {"op": "rate", "where": {"==": [{"var": "status"}, "completed"]}}],
     "filter": {"and": [...]},                      # JSON-logic, the rule builder's condition
     "sort": [{"by": "m0", "dir": "desc"}], "limit": 100,
     "view": {"type": "bar"}}

Fields are fact names of `engine.facts` (core columns, `data.<key>` designed fields, derived facts)
plus `stage_hours.<stage>`: the hours the order spent in that stage, from the event log. A report
of another data set (`line_items`, `todos`, `order_events`, `firings`, `customers`) reads that data
set's catalogue instead (`engine.reports.datasets`); no `dataset` means orders.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.facts import Catalogue, FactType
from engine.reports.datasets import dataset_catalogue
from engine.reports.order_fields import with_report_fields
from engine.rules.limits import condition_issues

__all__ = ["BUCKETS", "MEASURE_OPS", "VIEWS", "ReportDefinition", "ReportProblem", "load_report",
           "stage_of", "field_type", "report_catalogue"]

MAX_DIMENSIONS = 3
MAX_MEASURES = 6
MAX_LIMIT = 1000  # groups one report shows (and computes at most + 1 to say "more")
NAME_MAX = 120  # characters of a report's name in each language
MAX_FILTER_CHARS = 20_000
BUCKETS = ("day", "week", "month", "quarter", "year")
MEASURE_OPS = ("count", "count_distinct", "sum", "avg", "min", "max", "median", "p90", "rate")
VIEWS = ("table", "pivot", "line", "bar", "stacked_bar", "pie", "ring", "funnel", "heatmap", "kpi")
STAGE_HOURS = re.compile(r"stage_hours\.([a-z][a-z0-9_]{0,39})")
KEY = r"^[a-z][a-z0-9_]{0,79}$"


class ReportProblem(ValueError):
    """The definition is not valid: `code` (an error code) and `params`, `path` where."""

    def __init__(self, code: str, path: str = "", **params: Any) -> None:
        super().__init__(code)
        self.code, self.path, self.params = code, path, params


class Dimension(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(max_length=120)
    bucket: Literal["day", "week", "month", "quarter", "year"] | None = None


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["count", "count_distinct", "sum", "avg", "min", "max", "median", "p90", "rate"]
    field: str | None = Field(default=None, max_length=120)
    where: Any = None  # rate: the JSON-logic condition counted as a share of the rows
    label: dict[str, str] | None = None


class Sort(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(pattern=r"^[dm][0-9]$")
    dir: Literal["asc", "desc"] = "asc"


class View(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["table", "pivot", "line", "bar", "stacked_bar", "pie", "ring", "funnel", "heatmap", "kpi"] = "table"


class ReportDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1] = 1
    key: str = Field(default="", pattern=r"^$|" + KEY)
    name: dict[str, str] = Field(default_factory=dict)
    # a definition without a data set (every one stored before line items, to-dos, ... existed) reads orders
    dataset: Literal["orders", "line_items", "todos", "order_events", "firings", "customers"] = "orders"
    dimensions: list[Dimension] = Field(default_factory=list, max_length=MAX_DIMENSIONS)
    measures: list[Measure] = Field(default_factory=lambda: [Measure(op="count")], min_length=1,
                                    max_length=MAX_MEASURES)
    filter: Any = None
    sort: list[Sort] = Field(default_factory=list, max_length=MAX_DIMENSIONS + MAX_MEASURES)
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT)
    view: View = Field(default_factory=View)

    @field_validator("name")
    @classmethod
    def _short_names(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 4 or any(len(str(v)) > NAME_MAX for v in value.values()):
            raise ValueError("report.name_too_long")
        return value


def stage_of(field: str) -> str | None:
    """`stage_hours.approval` -> "approval"; None for any other field."""
    found = STAGE_HOURS.fullmatch(field)
    return found.group(1) if found else None


def field_type(field: str, catalogue: Catalogue, *, stage_hours: bool = True) -> FactType | None:
    """The type of a report field, None when it is unknown (`stage_hours.*`: orders only)."""
    if stage_of(field) is not None and stage_hours:
        return FactType.NUMBER
    return catalogue[field].type if field in catalogue else None


_NUMERIC_OPS = {"sum", "avg", "min", "max", "median", "p90"}


def report_catalogue(report: ReportDefinition, orders_catalogue: Catalogue) -> Catalogue:
    """The fields a report may read: for orders the fact catalogue and the report-only order fields
    (`engine.reports.order_fields`), else its data set's own with the order's fields (`order.*`,
    designed ones as `order.data.<key>`)."""
    return with_report_fields(orders_catalogue) if report.dataset == "orders" else dataset_catalogue(report.dataset, orders_catalogue)


def load_report(data: Any, catalogue: Catalogue) -> ReportDefinition:
    """Parse and check a definition against the catalogue. Raises pydantic's ValidationError for a
    wrong shape, ReportProblem for a field or combination that cannot work."""
    report = ReportDefinition.model_validate(data)
    catalogue = report_catalogue(report, catalogue)
    is_orders = report.dataset == "orders"
    for i, dim in enumerate(report.dimensions):
        kind = field_type(dim.field, catalogue, stage_hours=is_orders)
        if kind is None or stage_of(dim.field) is not None:
            raise ReportProblem("report.unknown_field", f"dimensions.{i}.field", field=dim.field)
        if kind is FactType.LIST:
            raise ReportProblem("report.cannot_group", f"dimensions.{i}.field", field=dim.field)
        if dim.bucket and kind not in (FactType.DATE, FactType.DATETIME):
            raise ReportProblem("report.bucket_needs_date", f"dimensions.{i}.bucket", field=dim.field)
        if kind is FactType.DATETIME and not dim.bucket:
            raise ReportProblem("report.bucket_needs_date", f"dimensions.{i}.bucket", field=dim.field)
    for i, measure in enumerate(report.measures):
        if measure.op in _NUMERIC_OPS:
            if not measure.field or field_type(measure.field, catalogue, stage_hours=is_orders) is not FactType.NUMBER:
                raise ReportProblem("report.measure_needs_number", f"measures.{i}.field", field=measure.field or "")
        elif measure.op == "count_distinct":
            # distinct values of a field (orders reaching a stage: distinct `order.number` of its events)
            kind = field_type(measure.field or "", catalogue, stage_hours=False)
            if kind is None or kind is FactType.LIST:
                raise ReportProblem("report.unknown_field", f"measures.{i}.field", field=measure.field or "")
        elif measure.op == "rate":
            if measure.where is None:
                raise ReportProblem("report.rate_needs_condition", f"measures.{i}.where")
        elif measure.field is not None:
            raise ReportProblem("report.unknown_field", f"measures.{i}.field", field=measure.field)
    conditions = [("filter", report.filter)] + [(f"measures.{i}.where", m.where) for i, m in enumerate(report.measures)]
    for path, condition in conditions:
        if condition is None:
            continue
        # the rule designer's limits (iterative: a hostile depth is an answer, not a RecursionError)
        if condition_issues(condition, path):
            raise ReportProblem("report.filter_too_large", path)
        if len(json.dumps(condition)) > MAX_FILTER_CHARS:
            raise ReportProblem("report.filter_too_large", path)
    for i, sort in enumerate(report.sort):
        index, items = int(sort.by[1]), report.dimensions if sort.by[0] == "d" else report.measures
        if index >= len(items):
            raise ReportProblem("report.bad_sort", f"sort.{i}.by", by=sort.by)
    return report
