"""The report designer (drag fields onto Dimensions / Measures / Filters, live preview drawn with
ECharts), the list of reports, the orders behind a cell, and the Excel export of a report.

The page hands the browser the fact catalogue in the rule builder's shape (designer/pages/rules.py
`_fields`), so the filter well reuses the rule builder's condition model and JSON-logic
(designer/static/js/rules/condition.js), plus one `stage_hours.<stage>` field per stage.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.definitions.lifecycle import require_designer
from backend.errors import GendanError
from backend.exports import workbook_bytes
from backend.localized import read_title
from backend.reports import datasets as report_datasets
from backend.reports import service
from backend.rules.context import catalogue_for
from designer.pages.report_schedules import router as schedules_router
from designer.pages.report_schedules import section_context
from designer.pages.rules import _fields, _json_script, _stages
from engine.reports.datasets import DATASETS, dataset_catalogue
from engine.reports.definition import MEASURE_OPS, VIEWS, stage_of
from engine.reports.order_fields import AGEING_LABELS, REPORT_ORDER_FIELDS, with_report_fields
from frontend.pages import definition_names
from frontend.pages.common import N_, STAGE_LABELS, PageActor
from frontend.templating import render

router = APIRouter(include_in_schema=False)
router.include_router(schedules_router)

OP_LABELS = {"count": N_("Count"), "count_distinct": N_("Distinct count"), "sum": N_("Sum"), "avg": N_("Average"), "min": N_("Minimum"),
             "max": N_("Maximum"), "median": N_("Median"), "p90": N_("p90"), "rate": N_("Rate")}
VIEW_LABELS = {"table": N_("Table"), "pivot": N_("Pivot table"), "line": N_("Line chart"), "bar": N_("Bar chart"),
               "stacked_bar": N_("Stacked bars"), "pie": N_("Pie"), "ring": N_("Ring"), "funnel": N_("Funnel"),
               "heatmap": N_("Heat map"), "kpi": N_("KPI tile")}
BUCKET_LABELS = {"day": N_("Day"), "week": N_("Week"), "month": N_("Month"), "quarter": N_("Quarter"),
                 "year": N_("Year")}
MAX_DRILL_PARAM = 20_000
REPORT_FIELD_NAMES = {f.name for f in REPORT_ORDER_FIELDS}


DATASET_LABELS = {"orders": N_("Orders"), "line_items": N_("Line items"), "todos": N_("To-dos"),
                  "order_events": N_("Order events"), "firings": N_("Rule firings"), "customers": N_("Customers")}
ROW_NOUNS = {"orders": N_("Orders"), "line_items": N_("Line items"), "todos": N_("To-dos"),
             "order_events": N_("Events"), "firings": N_("Firings"), "customers": N_("Customers")}


def report_fields(session, locale: str, dataset: str = "orders") -> list[dict[str, Any]]:
    """The data set's fields as the rule builder lists them: for orders the fact catalogue plus the
    hours spent in each stage; else the data set's own catalogue (stage and status fields name their
    values as the order's do)."""
    stages = {s["value"]: s["label"] for s in _stages(session, locale)}
    if dataset != "orders":  # its own fields, then the order's (core and designed: `order.data.<key>`)
        orders = catalogue_for(session)
        fields = _fields(dataset_catalogue(dataset, orders), locale, stages)
        named = {f["name"]: f for f in _fields(orders, locale, stages) if f["name"] in ("stage", "status")}
        for f in fields:
            same = named.get(report_datasets.label_field(f["name"]))
            if same is not None:
                f["options"], f["option_labels"] = same["options"], same["option_labels"]
            f["settable"] = False
        return fields
    fields = [f for f in _fields(with_report_fields(catalogue_for(session)), locale, stages) if f["name"] != "data"]
    for f in fields:
        if f["name"] in REPORT_FIELD_NAMES:  # delivered at / on time, payment ageing: read, never set
            f["settable"] = False
            if f["name"] == "payment_overdue_bucket":
                f["option_labels"] = {k: v[0 if locale == "zh_CN" else 1] for k, v in AGEING_LABELS.items()}
    for key, label in stages.items():
        fields.append({"name": f"stage_hours.{key}", "type": "number", "source": "stage_hours",
                       "label": i18n.gettext("Hours in %(stage)s", stage=label), "unit": "hours",
                       "options": [], "option_labels": {}, "settable": False})
    return fields


def _labels(fields: list[dict[str, Any]]) -> dict[str, str]:
    return {f["name"]: f["label"] for f in fields}


@router.get("/designer/reports")
def report_list(request: Request, session: DbSession, actor: PageActor):
    require_designer(actor)
    locale = i18n.get_locale()
    rows = [{"key": r.key, "version": r.version, "status": r.status,
             "name": definition_names.localized(r.definition.get("name"), locale) or r.key} for r in service.list_reports(session)]
    return render(request, "reports/list.html", {"nav": "designer", "reports": rows})


@router.get("/designer/reports/new")
def new_report(request: Request, session: DbSession, actor: PageActor, dataset: str = "orders"):
    require_designer(actor)
    definition = {"key": "", "name": {"zh": "", "en": ""}, "dataset": dataset if dataset in DATASETS else "orders",
                  "dimensions": [], "measures": [{"op": "count"}],
                  "filter": None, "sort": [], "limit": 100, "view": {"type": "bar"}}
    return _designer(request, session, definition, row=None)


@router.get("/designer/reports/{key}")
def report_designer(request: Request, session: DbSession, actor: PageActor, key: str):
    require_designer(actor)
    row = service.working_copy(session, key)
    return _designer(request, session, row.definition, row=row)


def _designer(request: Request, session, definition: dict[str, Any], *, row):
    locale = i18n.get_locale()
    dataset = definition.get("dataset") or "orders"
    by_dataset = {name: report_fields(session, locale, name) for name in DATASETS}
    return render(request, "reports/designer.html", {
        "nav": "designer", "row": row, "ui_lang": "en" if locale == "en" else "zh",
        "definition_json": _json_script(definition), "fields_json": _json_script(by_dataset.get(dataset, [])),
        "dataset_fields_json": _json_script(by_dataset), "dataset": dataset,
        "datasets": {k: i18n.gettext(v) for k, v in DATASET_LABELS.items()},
        "row_nouns": {k: i18n.gettext(v) for k, v in ROW_NOUNS.items()},
        "choices_json": _json_script({"stages": list(STAGE_LABELS)}),
        "ops": {k: i18n.gettext(v) for k, v in OP_LABELS.items() if k in MEASURE_OPS},
        "views": {k: i18n.gettext(v) for k, v in VIEW_LABELS.items() if k in VIEWS},
        "buckets": {k: i18n.gettext(v) for k, v in BUCKET_LABELS.items()},
        "schedule": section_context(session, request.state.actor, row.key) if row is not None else None,
    })


def measure_label(measure: dict[str, Any], labels: dict[str, str], dataset: str = "orders") -> str:
    msgid = OP_LABELS[measure["op"]]
    op = i18n.gettext(msgid)
    if measure["op"] == "count":
        return i18n.gettext(ROW_NOUNS.get(dataset, "Orders"))
    if measure["op"] == "rate":
        return op
    return f"{op} · {labels.get(measure.get('field') or '', measure.get('field') or '')}"


def dimension_label(dim: dict[str, Any], labels: dict[str, str]) -> str:
    text = labels.get(dim["field"], dim["field"])
    if not dim.get("bucket"):
        return text
    msgid = BUCKET_LABELS[dim["bucket"]]
    return f"{text} ({i18n.gettext(msgid)})"


def table_of(session, result: service.ReportResult) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows as people read them: names for ids and stages, then the measures."""
    labels = _labels(report_fields(session, i18n.get_locale(), result.dataset))
    headers = [dimension_label(d, labels) for d in result.dimensions] + \
              [measure_label(m, labels, result.dataset) for m in result.measures]
    rows = []
    for row in result.rows:
        out = []
        for i, value in enumerate(row):
            if i < len(result.dimensions) and value is not None:
                value = result.labels[i].get(str(value), value)
            out.append(value)
        rows.append(out)
    return headers, rows


@router.get("/reports/{key}/export.xlsx")
def export_report(request: Request, session: DbSession, actor: PageActor, key: str):
    """The report (published version, else the working copy) as the reader may see it, in Excel;
    every text cell neutralised against formula injection (backend/exports.py)."""
    row = service.published(session, key)
    result = service.run(session, actor=actor, definition=row.definition, now=utcnow(), version=(row.key, row.version))
    headers, rows = table_of(session, result)
    title = definition_names.localized(row.definition.get("name")) or key
    body = workbook_bytes(title, headers, rows)
    filename = quote(f"{key}.xlsx")
    return Response(body, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"})


def _cell(raw: str) -> list[Any]:
    try:
        cell = json.loads(raw)
    except ValueError as exc:
        raise GendanError("report.bad_cell", status=422) from exc
    if not isinstance(cell, list):
        raise GendanError("report.bad_cell", status=422)
    return cell


def _saved_drill(page):
    def handler(request: Request, session: DbSession, actor: PageActor, key: str, cell: str = "[]"):
        row = service.published(session, key)
        return page(request, session, actor, row.definition, cell, key)
    return handler


def _unsaved_drill(page):
    def handler(request: Request, session: DbSession, actor: PageActor, definition: str = "{}", cell: str = "[]"):
        if len(definition) > MAX_DRILL_PARAM or len(cell) > 2000:
            raise GendanError("request.too_large", {"limit": MAX_DRILL_PARAM}, status=413)
        try:
            parsed = json.loads(definition)
        except ValueError as exc:
            raise GendanError("report.definition_invalid", {"count": 1}, status=422) from exc
        return page(request, session, actor, parsed, cell, None)
    return handler


def _what(session, report, cell: list[Any]) -> list[str]:
    """The cell in words: "Role: Approver · Order: Stage: Approval"."""
    labels = _labels(report_fields(session, i18n.get_locale(), report.dataset))
    what = []
    for dim, value in zip(report.dimensions, cell, strict=False):
        shown = service.value_labels(session, dim.field, [value]).get(str(value), value)
        what.append(f"{dimension_label(dim.model_dump(), labels)}: {shown if shown is not None else '—'}")
    return what


def _todos_page(request, session, actor, definition, raw_cell: str, key: str | None):
    """The to-dos behind a cell of a to-dos report (of orders the reader may see)."""
    from backend.reports import dashboards

    cell = _cell(raw_cell)
    filters = dashboards.parse_filters(dict(request.query_params))
    items = service.drill_todos(session, actor=actor, definition=definition, cell=cell, now=utcnow(),
                                extra=dashboards.filters_clause(session, filters))
    report = service.parse(definition, catalogue_for(session))
    people = service.value_labels(session, "assignee_id", [item.assignee_id for item, _n in items])
    states = service.value_labels(session, "state", [item.state for item, _n in items])
    titles = {item.id: read_title(item.title, item.title_i18n) for item, _n in items}
    return render(request, "reports/todos.html", {
        "nav": "inbox", "items": items, "titles": titles, "what": _what(session, report, cell), "key": key,
        "limit": service.DRILL_LIMIT, "people": people, "states": states,
    })


def _orders_page(request, session, actor, definition, raw_cell: str, key: str | None):
    from backend.reports import dashboards

    cell = _cell(raw_cell)
    filters = dashboards.parse_filters(dict(request.query_params))  # a dashboard's, when it came from one
    orders = service.drill_orders(session, actor=actor, definition=definition, cell=cell, now=utcnow(),
                                  extra=dashboards.filters_clause(session, filters))
    report = service.parse(definition, catalogue_for(session))
    what = _what(session, report, cell)
    return render(request, "reports/orders.html", {
        "nav": "orders", "orders": orders, "what": what, "key": key, "limit": service.DRILL_LIMIT,
        "stage_labels": STAGE_LABELS, "stage_of": stage_of,
    })


# the rows behind a cell: /reports/{key}/orders (a saved report's published version) and
# /reports/orders?definition=… (the designer's unsaved one); the same for to-dos
for _what_kind, _page in (("orders", _orders_page), ("todos", _todos_page)):
    router.add_api_route(f"/reports/{{key}}/{_what_kind}", _saved_drill(_page), methods=["GET"])
    router.add_api_route(f"/reports/{_what_kind}", _unsaved_drill(_page), methods=["GET"])
