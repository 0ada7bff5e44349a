"""Admin page for the installation calendar: time zone, working days and hours, holidays, 调休
working days and the default currency (backend/installation). A plain form posting back to the
page; bad input re-renders it as typed with a message per field."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.installation import service as installation_service
from backend.installation.schemas import MAX_PERIODS, CalendarIn
from frontend.pages.admin import AdminActor, _field_errors, _flash, _pop_flash
from frontend.pages.common import N_
from frontend.pages.notifications import COMMON_ZONES
from frontend.templating import render

router = APIRouter(prefix="/admin")

WEEKDAYS = [N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
            N_("Sunday")]
MAX_TEXT = 40_000  # a textarea of pasted dates: 1,000 dates with room for separators


def _as_form(read) -> dict[str, Any]:
    return {"timezone": read.timezone, "weekdays": [str(d) for d in read.working_weekdays],
            "periods": "\n".join(read.periods), "holidays": "\n".join(d.isoformat() for d in read.holidays),
            "extra_working_days": "\n".join(d.isoformat() for d in read.extra_working_days),
            "default_currency": read.default_currency}


def _listed(days: list[date]) -> list[dict[str, Any]]:
    return [{"date": d, "weekday": WEEKDAYS[d.weekday()]} for d in days]


@router.get("/calendar")
def calendar_page(request: Request, session: DbSession, actor: AdminActor):
    current = installation_service.read(installation_service.get_installation(session))
    return _page(request, current, form=_as_form(current), errors={})


def _page(request: Request, current, *, form: dict[str, Any], errors: dict[str, str], status_code: int = 200):
    return render(request, "admin/calendar.html", {
        "nav": "admin", "tab": "calendar", "form": form, "errors": errors, "current": current,
        "holidays": _listed(current.holidays), "extra_days": _listed(current.extra_working_days),
        "weekdays": WEEKDAYS, "common_zones": COMMON_ZONES, "all_zones": installation_service.known_zones(),
        "flash": _pop_flash(request)}, status_code=status_code)


@router.post("/calendar")
async def save_calendar(request: Request, session: DbSession, actor: AdminActor):
    form = await request.form()
    return await run_in_threadpool(_save, request, session, actor, form)


def _save(request: Request, session: Session, actor: Actor, form):
    typed = {
        "timezone": str(form.get("timezone") or "").strip()[:100],
        "weekdays": [str(v) for v in form.getlist("weekday")][:7],
        "periods": str(form.get("periods") or "")[:MAX_TEXT],
        "holidays": str(form.get("holidays") or "")[:MAX_TEXT],
        "extra_working_days": str(form.get("extra_working_days") or "")[:MAX_TEXT],
        "default_currency": str(form.get("default_currency") or "").strip().upper()[:10],
    }
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"timezone": typed["timezone"], "default_currency": typed["default_currency"]}
    data["working_weekdays"] = sorted({int(d) for d in typed["weekdays"] if d in {"0", "1", "2", "3", "4", "5", "6"}})
    data["periods"] = [p.strip() for p in re.split(r"[\n,;，；]+", typed["periods"]) if p.strip()]
    if len(data["periods"]) > MAX_PERIODS:
        errors["periods"] = i18n.translate_error("field.too_long", {"max_length": MAX_PERIODS})
    for name in ("holidays", "extra_working_days"):
        days, problem = installation_service.parse_date_list(typed[name])
        data[name] = days
        if problem:
            errors[name] = i18n.translate_error(*problem)
    if not re.fullmatch(r"[A-Z]{3}", typed["default_currency"]):
        errors["default_currency"] = i18n.translate_error("calendar.currency_invalid", {})
    if not errors:
        try:
            installation_service.save_installation(session, actor=actor, data=CalendarIn.model_validate(data),
                                                   now=utcnow())
        except ValidationError as exc:
            errors = _field_errors(exc)
        except GendanError as exc:
            if exc.code != "calendar.invalid":
                raise
            session.rollback()
            errors = {path: i18n.translate_error(code, params) for path, (code, params) in exc.fields.items()}
    if errors:
        current = installation_service.read(installation_service.get_installation(session))
        if "working_weekdays" in errors:
            errors["weekdays"] = errors.pop("working_weekdays")
        return _page(request, current, form=typed, errors=errors, status_code=422)
    _flash(request, i18n.gettext("The calendar was saved. Rules, time limits and dates use it from now on."))
    return RedirectResponse("/admin/calendar", status_code=303)
