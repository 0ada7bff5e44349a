"""The "Scheduled delivery" section of the report designer and of a dashboard page: add, pause,
resume and delete the deliveries of a saved report or a dashboard (backend/reports/schedules.py). Posts answer with the section itself (htmx) or, without
JavaScript, a redirect back to the designer. "Preview the delivery" shows the chart image a schedule
made now would send (the reader's own access, the chosen language)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.installation.service import get_installation
from backend.people.models import User
from backend.reports import schedules
from frontend.pages.common import N_, PageActor
from frontend.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

KIND_LABELS = {"daily": N_("Daily"), "weekly": N_("Weekly"), "monthly": N_("Monthly")}
WEEKDAYS = [N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
            N_("Sunday")]
MAX_PEOPLE = 500


def base_of(key: str, dashboard: bool) -> str:
    return f"/dashboards/{quote(key)}" if dashboard else f"/designer/reports/{quote(key)}"


def section_context(session, actor, key: str, *, error: str | None = None, typed: dict[str, Any] | None = None,
                    dashboard: bool = False) -> dict[str, Any]:
    now = utcnow()
    zone = get_installation(session).zone
    people = session.exec(select(User).where(User.is_active.is_(True), User.email.is_not(None))
                          .order_by(User.display_name).limit(MAX_PEOPLE)).scalars().all()
    names = {u.id: u.display_name for u in people}
    robots = schedules.robots(session)
    robot_names = {r.id: r.name for r in robots}
    rows = []
    for row in schedules.list_schedules(session, key, dashboard=dashboard):
        if row.kind == "daily":
            when = i18n.gettext("Daily at %(at)s", at=row.at)
        elif row.kind == "weekly":
            when = i18n.gettext("Every %(weekday)s at %(at)s", weekday=i18n.gettext(WEEKDAYS[row.weekday]), at=row.at)
        else:
            when = i18n.gettext("Monthly on day %(day)s at %(at)s", day=row.day, at=row.at)
        to = [names.get(i, f"#{i}") for i in row.user_ids]
        if row.channel_id is not None:
            to.append(robot_names.get(row.channel_id, f"#{row.channel_id}"))
        rows.append({"id": row.id, "when": when, "to": ", ".join(to), "paused": row.is_paused,
                     "language": "English" if row.locale == "en" else "中文",
                     "next": schedules.next_send(session, row, now).astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                     "mine": row.owner_id == actor.user_id or actor.is_admin})
    return {"key": key, "schedules": rows, "people": people, "robots": robots, "error": error,
            "typed": typed or {}, "kinds": {k: i18n.gettext(v) for k, v in KIND_LABELS.items()},
            "weekdays": [i18n.gettext(w) for w in WEEKDAYS], "zone": get_installation(session).timezone,
            "base": base_of(key, dashboard), "is_dashboard": dashboard}


def _answer(request: Request, session, actor, key: str, dashboard: bool, **extra):
    if is_htmx(request):
        return render(request, "reports/_schedules.html",
                      section_context(session, actor, key, dashboard=dashboard, **extra))
    return RedirectResponse(f"{base_of(key, dashboard)}#rp-schedules", status_code=303)


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _add(request: Request, session, actor, key: str, form, dashboard: bool):
    typed = {"kind": str(form.get("kind") or "daily"), "at": str(form.get("at") or "")[:10],
             "weekday": _int(form.get("weekday")), "day": _int(form.get("day")),
             "user_ids": [i for i in (_int(v) for v in form.getlist("user_ids")[:schedules.MAX_RECIPIENTS + 1])
                          if i is not None],
             "channel_id": _int(form.get("channel_id")), "locale": str(form.get("locale") or i18n.get_locale())}
    try:
        schedules.create(session, actor=actor, key=key, kind=typed["kind"], at=typed["at"],
                         weekday=typed["weekday"] if typed["kind"] == "weekly" else None,
                         day=typed["day"] if typed["kind"] == "monthly" else None,
                         user_ids=typed["user_ids"], channel_id=typed["channel_id"], locale=typed["locale"],
                         now=utcnow(), dashboard=dashboard)
    except GendanError as exc:
        session.rollback()
        if exc.code in ("report.not_found", "dashboard.not_found") or not is_htmx(request):
            raise
        return _answer(request, session, actor, key, dashboard, error=i18n.translate_error(exc.code, exc.params),
                       typed=typed)
    return _answer(request, session, actor, key, dashboard)


def _locale(value: str | None) -> str:
    return "en" if value == "en" else "zh_CN"


def _preview(request: Request, session, actor, key: str, locale: str | None, dashboard: bool):
    """The preview fragment: the image (htmx swaps it under the form)."""
    if dashboard:
        schedules.dashboards.get_visible(session, actor, key)
    else:
        schedules.service.working_copy(session, key)  # 404 for an unknown report
    src = f"{base_of(key, dashboard)}/schedules/preview.png?locale={_locale(locale)}"
    return render(request, "reports/_schedule_preview.html", {"src": src})


def _image(session, actor, key: str, locale: str | None, dashboard: bool) -> Response:
    content = schedules.preview_png(session, actor=actor, key=key, locale=_locale(locale), now=utcnow(),
                                    dashboard=dashboard)
    return Response(content, media_type="image/png", headers={"Cache-Control": "no-store"})


def _routes(prefix: str, dashboard: bool) -> None:
    """The section's routes under a report's designer page or a dashboard's page."""

    async def add(request: Request, session: DbSession, actor: PageActor, key: str):
        form = await request.form()
        return await run_in_threadpool(_add, request, session, actor, key, form, dashboard)

    def pause(request: Request, session: DbSession, actor: PageActor, key: str, schedule_id: int):
        schedules.set_paused(session, actor=actor, schedule_id=schedule_id, paused=True)
        return _answer(request, session, actor, key, dashboard)

    def resume(request: Request, session: DbSession, actor: PageActor, key: str, schedule_id: int):
        schedules.set_paused(session, actor=actor, schedule_id=schedule_id, paused=False)
        return _answer(request, session, actor, key, dashboard)

    def delete(request: Request, session: DbSession, actor: PageActor, key: str, schedule_id: int):
        schedules.delete(session, actor=actor, schedule_id=schedule_id)
        return _answer(request, session, actor, key, dashboard)

    def preview(request: Request, session: DbSession, actor: PageActor, key: str, locale: str | None = None):
        return _preview(request, session, actor, key, locale, dashboard)

    def image(session: DbSession, actor: PageActor, key: str, locale: str | None = None) -> Response:
        return _image(session, actor, key, locale, dashboard)

    router.add_api_route(f"{prefix}/schedules", add, methods=["POST"])
    router.add_api_route(f"{prefix}/schedules/{{schedule_id}}/pause", pause, methods=["POST"])
    router.add_api_route(f"{prefix}/schedules/{{schedule_id}}/resume", resume, methods=["POST"])
    router.add_api_route(f"{prefix}/schedules/{{schedule_id}}/delete", delete, methods=["POST"])
    router.add_api_route(f"{prefix}/schedules/preview", preview, methods=["GET"])
    router.add_api_route(f"{prefix}/schedules/preview.png", image, methods=["GET"])


_routes("/designer/reports/{key}", dashboard=False)
_routes("/dashboards/{key}", dashboard=True)  # a dashboard: one image of every tile
