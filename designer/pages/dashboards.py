"""Dashboards: the list of those shared with the reader, one dashboard's tiles with its filters
(date range, team, customer tier), and — for designers — arranging tiles by drag and resize,
adding reports and sharing with roles and departments."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.people.models import ROLES, Department
from backend.reports import dashboards, service
from designer.pages.report_schedules import section_context
from designer.pages.reports import BUCKET_LABELS, OP_LABELS, ROW_NOUNS, report_fields
from designer.pages.rules import TIERS, _json_script, _localized
from engine.reports.datasets import DATASETS
from frontend.pages.common import PageActor, role_label
from frontend.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/dashboards")
def dashboard_list(request: Request, session: DbSession, actor: PageActor):
    dashboards.ensure_builtin(session, utcnow())
    locale = i18n.get_locale()
    rows = [{"key": r.key, "name": _localized(r.definition.get("name"), r.key, locale),
             "tiles": len(r.definition.get("tiles") or [])} for r in dashboards.visible(session, actor)]
    return render(request, "reports/dashboards.html", {"nav": "dashboard", "dashboards": rows})


@router.get("/dashboards/{key}")
def dashboard_view(request: Request, session: DbSession, actor: PageActor, key: str):
    dashboards.ensure_builtin(session, utcnow())
    row = dashboards.get_visible(session, actor, key)
    filters = dashboards.parse_filters(dict(request.query_params))
    locale = i18n.get_locale()
    can_edit = (actor.is_admin or actor.has_role("designer")) and actor.can_write
    reports = [{"value": r.key, "label": _localized(r.definition.get("name"), r.key, locale)}
               for r in service.list_reports(session)]
    departments = session.exec(select(Department.id, Department.name).order_by(Department.name)).all()
    return render(request, "reports/dashboard.html", {
        "nav": "dashboard", "row": row, "name": _localized(row.definition.get("name"), key, locale),
        "schedule": section_context(session, actor, row.key, dashboard=True),
        "filters": filters, "can_edit": can_edit, "tiers": {k: i18n.gettext(v) for k, v in TIERS.items()},
        "departments": departments,
        "definition_json": _json_script(row.definition),
        "row_nouns": {k: i18n.gettext(v) for k, v in ROW_NOUNS.items()},
        # every data set's field labels (a tile may read to-dos or customers); the orders' win a shared name
        "fields_json": _json_script({f["name"]: f["label"] for name in reversed(DATASETS)
                                     for f in report_fields(session, locale, name)}),
        "reports_json": _json_script(reports),
        "roles_json": _json_script([{"value": r, "label": role_label(r)} for r in ROLES]),
        "departments_json": _json_script([{"value": d, "label": n} for d, n in departments]),
        "ops": {k: i18n.gettext(v) for k, v in OP_LABELS.items()},
        "buckets": {k: i18n.gettext(v) for k, v in BUCKET_LABELS.items()},
    })
