"""Dashboards: the list of those shared with the reader, one dashboard's tiles with its filters
(date range, team, customer tier), a tile in Excel with those filters, and — for designers — a new
dashboard by name, arranging tiles by drag and resize, adding reports, sharing with roles and
departments, renaming (in the arrange panel, saved with the layout) and deleting it."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.exports import workbook_bytes
from backend.people.models import ROLES, Department
from backend.reports import dashboards, service
from designer.pages.report_schedules import section_context
from designer.pages.reports import BUCKET_LABELS, OP_LABELS, ROW_NOUNS, report_fields, table_of
from designer.pages.rules import TIERS, _json_script
from engine.reports.datasets import DATASETS
from frontend.pages import definition_names
from frontend.pages.common import PageActor, role_label
from frontend.templating import render

router = APIRouter(include_in_schema=False)
NAME_LIMIT = dashboards.NAME_LIMIT  # characters of a dashboard's name
KEY_PREFIX = "dashboard_"


@router.get("/dashboards")
def dashboard_list(request: Request, session: DbSession, actor: PageActor):
    return _list(request, session, actor)


def _list(request: Request, session: Session, actor: Actor, *, name: str = "", error: str = "",
          status_code: int = 200):
    dashboards.ensure_builtin(session, utcnow())
    locale = i18n.get_locale()
    rows = [{"key": r.key, "name": definition_names.localized(r.definition.get("name"), locale) or r.key,
             "tiles": len(r.definition.get("tiles") or [])} for r in dashboards.visible(session, actor)]
    return render(request, "reports/dashboards.html", {
        "nav": "dashboard", "dashboards": rows, "name": name, "error": error,
        "can_create": (actor.is_admin or actor.has_role("designer")) and actor.can_write},
        status_code=status_code)


@router.post("/dashboards")
async def dashboard_new(request: Request, session: DbSession, actor: PageActor):
    """A new, empty dashboard by the name typed (designers): it opens to add reports to it. Shared
    with nobody yet (admins and designers see it) until its sharing is set."""
    form = await request.form()
    return await run_in_threadpool(_new, request, session, actor, str(form.get("name") or ""))


def _new(request: Request, session: Session, actor: Actor, typed: str):
    name = " ".join(typed.split())
    if not name or len(name) > NAME_LIMIT:
        error = i18n.gettext("Give the dashboard a name of at most %(limit)d characters.") % {"limit": NAME_LIMIT}
        return _list(request, session, actor, name=typed[:NAME_LIMIT * 2], error=error, status_code=422)
    key = _free_key(session)
    dashboards.save_and_publish(session, actor=actor, now=utcnow(),
                                definition={"key": key, "name": {"zh": name, "en": name}, "tiles": []})
    return RedirectResponse(f"/dashboards/{key}", status_code=303)


def _free_key(session: Session) -> str:
    """`dashboard_<n>`: the next number after the dashboards so named."""
    taken = {r.key for r in dashboards.LIFECYCLE.newest_per_key(session)}
    numbers = [int(k.removeprefix(KEY_PREFIX)) for k in taken
               if k.startswith(KEY_PREFIX) and k.removeprefix(KEY_PREFIX).isdigit()]
    return f"{KEY_PREFIX}{max(numbers, default=0) + 1}"


@router.get("/dashboards/{key}")
def dashboard_view(request: Request, session: DbSession, actor: PageActor, key: str):
    dashboards.ensure_builtin(session, utcnow())
    row = dashboards.get_visible(session, actor, key)
    filters = dashboards.parse_filters(dict(request.query_params))
    locale = i18n.get_locale()
    can_edit = (actor.is_admin or actor.has_role("designer")) and actor.can_write
    reports = [{"value": r.key, "label": definition_names.localized(r.definition.get("name"), locale) or r.key}
               for r in service.list_reports(session)]
    departments = session.exec(select(Department.id, Department.name).order_by(Department.name)).all()
    return render(request, "reports/dashboard.html", {
        "nav": "dashboard", "row": row, "name": definition_names.localized(row.definition.get("name"), locale) or key,
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


@router.get("/dashboards/{key}/tiles/{index}/export.xlsx")
def dashboard_tile_export(request: Request, session: DbSession, actor: PageActor, key: str, index: int):
    """One tile in Excel as the reader sees it on the dashboard: the tile's published report with
    the dashboard's filters (from, to, team, tier) on top of the reader's row-level access."""
    filters = dashboards.parse_filters(dict(request.query_params))
    report, result = dashboards.run_tile(session, actor=actor, key=key, index=index, filters=filters, now=utcnow())
    headers, rows = table_of(session, result)
    body = workbook_bytes(definition_names.localized(report.get("name")) or report.get("key") or key, headers, rows)
    filename = quote(f"{key}-{report.get('key') or index}.xlsx")
    return Response(body, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"})


@router.post("/dashboards/{key}/delete")
def dashboard_delete(session: DbSession, actor: PageActor, key: str):
    """Delete a dashboard (designers; the page asks first): back to the list, where it is gone."""
    dashboards.delete_dashboard(session, actor=actor, key=key, now=utcnow())
    return RedirectResponse("/dashboards", status_code=303)
