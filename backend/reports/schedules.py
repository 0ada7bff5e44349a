"""Reports delivered on a schedule (issue 16): e-mail with the chart inline and the .xlsx attached,
robots with the chart image (WeCom: the bytes; DingTalk, Feishu: a signed link) and the top rows.

A schedule runs its report as its owner (`backend.orders.access` for that reader, never wider),
in its language. The job `reports.send_schedules` computes each schedule's newest due moment
(engine/reports/schedule.py); when it is newer than `last_moment`, one transaction moves
`last_moment` with a compare-and-set and enqueues the outbox rows (dedupe key
`report_schedule:<id>:<moment>:<recipient>`), so a moment is sent exactly once, and a moment
missed during downtime once (older missed moments are skipped).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.service import load_actor
from backend.db import new_session
from backend.effects import enqueue
from backend.errors import GendanError
from backend.exports import workbook_bytes
from backend.installation.service import get_installation
from backend.notify.attachments import MAX_ATTACHMENT_BYTES, attach
from backend.notify.models import ChannelConfig, OutboxAttachment
from backend.people.models import User
from backend.reports import dashboards, images, service
from backend.reports.models import ReportSchedule
from backend.rules import sentences
from backend.rules.context import catalogue_for
from engine.reports.dashboard import MAX_TILES
from engine.reports.datasets import dataset_catalogue
from engine.reports.schedule import CadenceProblem, is_due, next_moment, parse_cadence

log = logging.getLogger("gendan.reports.schedules")
ROBOT_KINDS = ("wecom", "dingtalk", "feishu")
ROBOT_ROWS = 10
MAX_RECIPIENTS = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OP_LABELS = {"count": "Count", "count_distinct": "Distinct count", "sum": "Sum", "avg": "Average", "min": "Minimum", "max": "Maximum",
             "median": "Median", "p90": "p90", "rate": "Rate"}
BUCKET_LABELS = {"day": "Day", "week": "Week", "month": "Month", "quarter": "Quarter", "year": "Year"}


# --- use cases (the designer page) -----------------------------------------------------------------

def robots(session: Session) -> list[ChannelConfig]:
    return list(session.exec(select(ChannelConfig).where(ChannelConfig.kind.in_(ROBOT_KINDS),
                                                         ChannelConfig.is_enabled.is_(True))
                             .order_by(ChannelConfig.name)).scalars())


def list_schedules(session: Session, key: str, *, dashboard: bool = False) -> list[ReportSchedule]:
    which = ReportSchedule.dashboard_key == key if dashboard else ReportSchedule.dashboard_key.is_(None)
    return list(session.exec(select(ReportSchedule).where(ReportSchedule.report_key == key, which)
                             .order_by(ReportSchedule.id)).scalars())


def create(session: Session, *, actor: Actor, key: str, kind: str, at: str, weekday: int | None, day: int | None,
           user_ids: list[int], channel_id: int | None, locale: str, now: datetime,
           dashboard: bool = False) -> ReportSchedule:
    """A schedule owned by `actor` (its report runs with the actor's row-level access, so anyone
    signed in may schedule a report for themselves and others: they only ever send what they see).
    `dashboard`: `key` names a dashboard the actor may see, sent as one image of its tiles."""
    if dashboard:
        dashboards.get_visible(session, actor, key)  # 404 for an unknown or unshared dashboard
    else:
        service.working_copy(session, key)  # 404 for an unknown report
    try:
        parse_cadence(kind, at, weekday=weekday, day=day)
    except CadenceProblem as exc:
        raise GendanError(f"schedule.invalid_{exc.field}", status=422) from exc
    user_ids = sorted(set(user_ids))[:MAX_RECIPIENTS]
    if not user_ids and channel_id is None:
        raise GendanError("schedule.no_recipients", status=422)
    if user_ids:
        found = session.exec(select(User.id).where(User.id.in_(user_ids), User.is_active.is_(True))).scalars().all()
        if len(found) != len(user_ids):
            raise GendanError("schedule.unknown_recipient", status=422)
    if channel_id is not None and channel_id not in {c.id for c in robots(session)}:
        raise GendanError("schedule.unknown_recipient", status=422)
    row = ReportSchedule(report_key=key, dashboard_key=key if dashboard else None, kind=kind,
                         at=at.strip().zfill(5), weekday=weekday or 0, day=day or 1,
                         user_ids=user_ids, channel_id=channel_id, locale="en" if locale == "en" else "zh_CN",
                         owner_id=actor.user_id, created_at=now)
    session.add(row)
    session.commit()
    return row


def _mine(session: Session, actor: Actor, schedule_id: int) -> ReportSchedule:
    row = session.get(ReportSchedule, schedule_id)
    if row is None or (row.owner_id != actor.user_id and not actor.is_admin):
        raise GendanError("schedule.not_found", {"id": schedule_id}, status=404)
    return row


def set_paused(session: Session, *, actor: Actor, schedule_id: int, paused: bool) -> ReportSchedule:
    row = _mine(session, actor, schedule_id)
    row.is_paused = paused
    session.commit()
    return row


def delete(session: Session, *, actor: Actor, schedule_id: int) -> None:
    session.delete(_mine(session, actor, schedule_id))
    session.commit()


def next_send(session: Session, row: ReportSchedule, now: datetime) -> datetime:
    cadence = parse_cadence(row.kind, row.at, weekday=row.weekday, day=row.day)
    return next_moment(cadence, now, get_installation(session).zone)


# --- the table as people read it --------------------------------------------------------------------

# what a count counts, per data set (the designer's words: designer/pages/reports.py ROW_NOUNS)
COUNT_NOUNS = {"line_items": "Line items", "todos": "To-dos", "order_events": "Events", "firings": "Firings",
               "customers": "Customers"}


def table_of(session: Session, result: service.ReportResult) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows in the current language: names for ids, stages and statuses."""
    locale = i18n.get_locale()
    fields = (catalogue_for(session) if result.dataset == "orders" else dataset_catalogue(result.dataset)).fields

    def field_label(name: str) -> str:
        if name.startswith("stage_hours."):
            return i18n.gettext("Hours in %(stage)s", stage=sentences.stage_label(name.split(".", 1)[1]))
        spec = fields.get(name)
        if spec is None:
            return name
        return (spec.label_zh if locale == "zh_CN" else spec.label_en) or spec.label_en or name

    headers = []
    for dim in result.dimensions:
        text = field_label(dim["field"])
        headers.append(f"{text} ({i18n.gettext(BUCKET_LABELS[dim['bucket']])})" if dim.get("bucket") else text)
    for measure in result.measures:
        if measure["op"] == "count":
            headers.append(i18n.gettext(COUNT_NOUNS.get(result.dataset, "Orders")))
        elif measure["op"] == "rate":
            headers.append(i18n.gettext("Rate"))
        else:
            headers.append(f"{i18n.gettext(OP_LABELS[measure['op']])} · {field_label(measure.get('field') or '')}")
    rows = []
    for row in result.rows:
        rows.append([result.labels[i].get(str(v), v) if i < len(result.dimensions) and v is not None else v
                     for i, v in enumerate(row)])
    return headers, rows


def _name(definition: dict[str, Any], key: str, locale: str) -> str:
    name = definition.get("name")
    if not isinstance(name, dict):
        return key
    zh = name.get("zh-CN") or name.get("zh")
    return (zh if locale == "zh_CN" else name.get("en")) or name.get("en") or zh or key


def robot_text(title: str, headers: list[str], rows: list[list[Any]], *, more: int, link: str) -> str:
    """Markdown the robots show: the top rows, one line each, and the link to the full report."""
    lines = [" | ".join(headers)]
    for row in rows[:ROBOT_ROWS]:
        lines.append("- " + " | ".join("—" if v is None else str(v)[:60] for v in row))
    if more > 0:
        lines.append(i18n.gettext("… and %(count)s more rows in the full report.", count=more))
    lines.append(f"[{i18n.gettext('Open the full report')}]({link})")
    return "\n".join(lines)


@dataclass(frozen=True)
class Rendered:
    title: str
    local: str  # the moment in the installation's time, as the subject shows it
    headers: list[str]
    rows: list[list[Any]]
    png: bytes


# --- the worker job ---------------------------------------------------------------------------------

def send_due(bind: Engine | Connection, now: datetime, *, base_url: str = "", secret: str = "") -> int:
    """Enqueue every schedule's due moment once. Returns how many schedules were sent.
    `secret` (the installation's secret key) signs the image links robots get."""
    with new_session(bind) as session:
        ids = session.exec(select(ReportSchedule.id).where(ReportSchedule.is_paused.is_(False))
                           .order_by(ReportSchedule.id)).scalars().all()
        session.commit()
    sent = 0
    for schedule_id in ids:
        try:
            with new_session(bind) as session:
                if _send_one(session, schedule_id, now, base_url=base_url, secret=secret):
                    sent += 1
        except Exception:  # one broken schedule must not stop the others
            log.exception("report schedule %s could not be sent", schedule_id)
    return sent


def _send_one(session: Session, schedule_id: int, now: datetime, *, base_url: str, secret: str) -> bool:
    row = session.get(ReportSchedule, schedule_id)
    if row is None or row.is_paused:
        session.commit()
        return False
    cadence = parse_cadence(row.kind, row.at, weekday=row.weekday, day=row.day)
    moment = is_due(cadence, now, get_installation(session).zone, last_sent=row.last_moment,
                    created_at=row.created_at)
    if moment is None:
        session.commit()
        return False
    # compare-and-set first: a second worker (or a second run) finds nothing to do
    claimed = session.execute(
        update(ReportSchedule).where(ReportSchedule.id == schedule_id, ReportSchedule.is_paused.is_(False),
                                     or_(ReportSchedule.last_moment.is_(None), ReportSchedule.last_moment < moment))
        .values(last_moment=moment).execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        session.rollback()
        return False
    owner = load_actor(session, row.owner_id, via="schedule", scope="read")
    if owner is None:  # the owner left: the schedule stops sending (nobody's access to run it under)
        log.warning("report schedule %s: owner %s is inactive; not sent", schedule_id, row.owner_id)
        session.commit()
        return False
    token = i18n.set_locale(row.locale)
    try:
        _enqueue(session, row, owner, moment, now, base_url=base_url, secret=secret)
    except GendanError as exc:  # the report was retired, became invalid or too slow: skip this moment
        session.rollback()
        log.warning("report schedule %s: report %s not sent for %s: %s", schedule_id, row.report_key,
                    moment.isoformat(), exc.code)
        session.execute(update(ReportSchedule).where(ReportSchedule.id == schedule_id)
                        .values(last_moment=moment).execution_options(synchronize_session=False))
        session.commit()
        return False
    finally:
        i18n.reset_locale(token)
    session.commit()
    return True


def render(session: Session, *, key: str, owner: Actor, locale: str, now: datetime, moment: datetime | None = None
           ) -> Rendered:
    """The report run as `owner`, as its table and its chart PNG (what a schedule sends; the
    designer's "Preview the delivery" shows the same image)."""
    report = service.published(session, key)
    result = service.run(session, actor=owner, definition=report.definition, now=now,
                         version=(report.key, report.version))
    headers, rows = table_of(session, result)
    title = _name(report.definition, key, locale)
    local = (moment or now).astimezone(get_installation(session).zone).strftime("%Y-%m-%d %H:%M")
    spec = images.spec_of(result, report.definition, title, headers, rows, subtitle=local)
    return Rendered(title=title, local=local, headers=headers, rows=rows, png=images.chart_png(spec))


def render_dashboard(session: Session, *, key: str, owner: Actor, locale: str, now: datetime,
                     moment: datetime | None = None) -> Rendered:
    """A dashboard as `owner` sees it (no dashboard filters), every tile drawn into one image;
    the table lists the tiles. A tile whose report cannot run is drawn with the reason."""
    row = dashboards.get_visible(session, owner, key)
    title = _name(row.definition, key, locale)
    local = (moment or now).astimezone(get_installation(session).zone).strftime("%Y-%m-%d %H:%M")
    no_filters = dashboards.parse_filters({})
    tiles, listed = [], []
    for index, tile in enumerate((row.definition.get("tiles") or [])[:MAX_TILES]):
        try:
            definition, result = dashboards.run_tile(session, actor=owner, key=key, index=index, filters=no_filters,
                                                     now=now)
            headers, rows = table_of(session, result)
            name = _name(definition, tile["report"], locale)
            spec = images.spec_of(result, definition, name, headers, rows)
        except GendanError as exc:
            name = tile["report"]
            spec = images.problem_spec(name, i18n.translate_error(exc.code, exc.params))
        listed.append([name])
        tiles.append((spec, tile.get("x", 0), tile.get("y", 0), tile.get("w", 6), tile.get("h", 4)))
    png = images.dashboard_png(f"{title} · {local}", tiles)
    return Rendered(title=title, local=local, headers=[i18n.gettext("Tiles")], rows=listed, png=png)


def preview_png(session: Session, *, actor: Actor, key: str, locale: str, now: datetime,
                dashboard: bool = False) -> bytes:
    """The image a schedule made now by `actor` would send (their access, the chosen language)."""
    token = i18n.set_locale("en" if locale == "en" else "zh_CN")
    try:
        draw = render_dashboard if dashboard else render
        return draw(session, key=key, owner=actor, locale=i18n.get_locale(), now=now).png
    finally:
        i18n.reset_locale(token)


def _enqueue(session: Session, row: ReportSchedule, owner: Actor, moment: datetime, now: datetime, *,
             base_url: str, secret: str) -> None:
    is_dashboard = row.dashboard_key is not None
    draw = render_dashboard if is_dashboard else render
    shown = draw(session, key=row.report_key, owner=owner, locale=row.locale, now=now, moment=moment)
    title, headers, rows, png = shown.title, shown.headers, shown.rows, shown.png
    subject = i18n.gettext("Report %(name)s, %(when)s", name=title, when=shown.local)
    link = f"{base_url.rstrip('/')}/reports/{quote(row.report_key)}/export.xlsx"
    if is_dashboard:
        subject = i18n.gettext("Dashboard %(name)s, %(when)s", name=title, when=shown.local)
        link = f"{base_url.rstrip('/')}/dashboards/{quote(row.report_key)}"
    key = f"report_schedule:{row.id}:{moment.isoformat()}"
    day = f"{moment.astimezone(get_installation(session).zone):%Y%m%d}"
    image_name = f"{row.report_key}-{day}.png"
    if row.user_ids:
        content = b"" if is_dashboard else workbook_bytes(title, headers, rows)
        too_large = len(content) + len(png) > MAX_ATTACHMENT_BYTES
        body = i18n.gettext("%(name)s: %(count)s rows, in the attached Excel file.", name=title, count=len(rows))
        if is_dashboard:
            body = i18n.gettext("%(name)s: %(count)s tiles, in the image below.", name=title, count=len(rows))
        if too_large:
            body = i18n.gettext("%(name)s is too large to attach; open it here: %(link)s", name=title, link=link)
        users = session.exec(select(User).where(User.id.in_(row.user_ids), User.is_active.is_(True))
                             .order_by(User.id)).scalars().all()
        for user in users:
            if not user.email:
                continue
            message = enqueue(session, dedupe_key=f"{key}:user:{user.id}", channel="email", recipient=user.email,
                              subject=subject, body=body, payload={"locale": row.locale, "link": link},
                              order_id=None, now=now)
            if message is not None and len(png) <= MAX_ATTACHMENT_BYTES:
                attach(session, message, filename=image_name, content_type=images.PNG, content=png)
                message.payload = {**message.payload, "inline": [image_name]}
            if message is not None and content and not too_large:
                attach(session, message, filename=f"{row.report_key}-{day}.xlsx", content_type=XLSX, content=content)
    if row.channel_id is not None:
        config = session.get(ChannelConfig, row.channel_id)
        if config is not None and config.is_enabled and config.kind in ROBOT_KINDS:
            text = robot_text(title, headers, rows, more=max(0, len(rows) - ROBOT_ROWS), link=link)
            payload = {"config_id": config.id, "locale": row.locale, "link": link}
            if config.kind == "wecom" and len(png) <= images.WECOM_IMAGE_LIMIT:
                # the group robot takes the image itself (msgtype image), as a message of its own first
                picture = enqueue(session, dedupe_key=f"{key}:robot:{config.id}:image", channel=config.kind,
                                  recipient="", subject=subject, body="", payload=dict(payload), order_id=None,
                                  now=now)
                if picture is not None:
                    attach(session, picture, filename=image_name, content_type=images.PNG, content=png)
            message = enqueue(session, dedupe_key=f"{key}:robot:{config.id}", channel=config.kind, recipient="",
                              subject=subject, body=text, payload=payload, order_id=None, now=now)
            if message is not None and config.kind in ("dingtalk", "feishu") and secret and base_url:
                # these robots cannot take bytes: a signed, expiring link to the PNG kept with the message
                attach(session, message, filename=image_name, content_type=images.PNG, content=png)
                session.flush()
                stored = session.exec(select(OutboxAttachment.id).where(OutboxAttachment.message_id == message.id)
                                      ).scalars().first()
                message.payload = {**message.payload,
                                   "data": {"image_url": images.image_link(base_url, secret, stored, now),
                                            "image_label": i18n.gettext("Open the chart")}}
