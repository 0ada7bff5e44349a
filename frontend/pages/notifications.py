"""Notification center and preferences (everyone); outbox and channel configurations (admins)."""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.installation.service import get_installation
from backend.notify import delivery
from backend.notify import service as notify_service
from backend.notify.channels import KINDS
from backend.notify.models import ChannelConfig
from backend.notify.preferences import EXTERNAL_CHANNELS
from backend.tracking import milestones as ms
from backend.tracking import service as tracking_service
from backend.worker import partitions
from frontend.pages.common import N_, PageActor, page_actor
from frontend.templating import is_htmx, render

router = APIRouter()
CHANNEL_LABELS = {"in_app": "In the app", "email": "E-mail", "sms": "SMS", "dingtalk": "DingTalk",
                  "wecom": "WeCom", "feishu": "Feishu", "webhook": "Webhook"}
OUTBOX_STATES = ("pending", "sending", "sent", "failed", "dead")


async def _admin(actor: Annotated[Actor, Depends(page_actor)]) -> Actor:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")
    return actor


AdminActor = Annotated[Actor, Depends(_admin)]


@router.get("/notifications")
def notifications_page(request: Request, session: DbSession, actor: PageActor, unread: bool = False):
    items = notify_service.list_notifications(session, actor=actor, is_unread_only=unread)
    context = {"nav": "inbox", "items": items, "unread_only": unread,
               "unread": notify_service.count_unread(session, actor.user_id)}
    if is_htmx(request) and request.headers.get("HX-Target") == "notifications-list":
        return render(request, "notifications/list.html", context, block="list")
    return render(request, "notifications/list.html", context)


@router.post("/notifications/{notification_id}/read")
def read_one(request: Request, session: DbSession, actor: PageActor, notification_id: int):
    notify_service.mark_read(session, actor=actor, notification_id=notification_id, now=utcnow())
    return _back_to_list(request, session, actor)


@router.post("/notifications/read-all")
def read_all(request: Request, session: DbSession, actor: PageActor):
    notify_service.mark_read(session, actor=actor, notification_id=None, now=utcnow())
    return _back_to_list(request, session, actor)


def _back_to_list(request: Request, session, actor):
    if not is_htmx(request):
        return RedirectResponse("/notifications", status_code=303)
    items = notify_service.list_notifications(session, actor=actor)
    return render(request, "notifications/list.html",
                  {"items": items, "unread_only": False, "unread": notify_service.count_unread(session, actor.user_id)},
                  block="list", headers={"HX-Trigger": "gendan:badge"})


# the zones people here pick most, above the full IANA list (a select, so no zone can be mistyped)
COMMON_ZONES = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Asia/Seoul",
                "Asia/Kolkata", "Asia/Dubai", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Moscow",
                "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo",
                "Australia/Sydney", "UTC"]
ALL_ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


@router.get("/notifications/preferences")
def preferences_page(request: Request, session: DbSession, actor: PageActor, saved: bool = False):
    pref = notify_service.get_preference(session, actor.user_id)
    return render(request, "notifications/preferences.html", {
        "nav": "inbox", "pref": pref, "channels": EXTERNAL_CHANNELS, "labels": CHANNEL_LABELS, "errors": {},
        "saved": saved, "common_zones": COMMON_ZONES, "all_zones": ALL_ZONES,
        "installation_zone": get_installation(session).timezone})


@router.post("/notifications/preferences")
async def save_preferences(request: Request, session: DbSession, actor: PageActor):
    form = await request.form()
    return await run_in_threadpool(_save_preferences, request, session, actor, form)


def _save_preferences(request: Request, session, actor, form):
    channels = [str(c) for c in form.getlist("channels")]
    hour = str(form.get("digest_hour", "18"))
    try:
        notify_service.save_preference(
            session, actor=actor, channels=channels, quiet_start=str(form.get("quiet_start", "")).strip() or None,
            quiet_end=str(form.get("quiet_end", "")).strip() or None, is_digest=form.get("is_digest") == "on",
            digest_hour=int(hour) if hour.isdigit() else -1, timezone=str(form.get("timezone", "")),
            now=utcnow())
    except GendanError as exc:
        if exc.code != "validation.failed":
            raise
        session.rollback()
        pref = notify_service.get_preference(session, actor.user_id)
        errors = {k: i18n.translate_error(c, p) for k, (c, p) in exc.fields.items()}
        return render(request, "notifications/preferences.html", {
            "nav": "inbox", "pref": pref, "channels": EXTERNAL_CHANNELS, "labels": CHANNEL_LABELS,
            "errors": errors, "saved": False, "common_zones": COMMON_ZONES, "all_zones": ALL_ZONES,
            "installation_zone": get_installation(session).timezone}, status_code=422)
    return RedirectResponse("/notifications/preferences?saved=1", status_code=303)


# --- admins ----------------------------------------------------------------------------------------

# What a delivery error means, for the admin reading the outbox; the channel's own text (a Python
# exception, an SMTP reply) stays behind "Technical detail". First matching marker wins.
_PROBLEMS = [
    (("ConnectionRefused", "ConnectError", "Connection refused"),
     N_("The receiving server refused the connection: is it running, and are the host and port right? "
        "Gendan tries again by itself.")),
    (("Timeout", "timed out"), N_("The receiving server did not answer in time. Gendan tries again by itself.")),
    (("gaierror", "Name or service not known", "nodename nor servname"),
     N_("The receiving server's name could not be found: check the host name.")),
    (("not an e-mail address",), N_("The recipient is not an e-mail address.")),
    (("recipient refused",), N_("The mail server refused the recipient's address.")),
    (("SMTP",), N_("The mail server refused the message.")),
    (("HTTP ",), N_("The service answered with an error.")),
    (("unknown channel", "channel is configured", "no channel configuration"), N_("This channel is not set up: add it under Channels.")),
]


def delivery_problem(detail: str | None) -> str:
    """The last delivery error in the reader's language (the raw text is shown beside it)."""
    text = detail or ""
    for markers, message in _PROBLEMS:
        if any(marker in text for marker in markers):
            return i18n.gettext(message)
    return i18n.gettext("Sending failed.")


@router.get("/admin/outbox")
def outbox_page(request: Request, session: DbSession, actor: AdminActor, state: str | None = None):
    rows = delivery.list_outbox(session, actor=actor, state=state if state in OUTBOX_STATES else None)
    attempts = delivery.list_attempts(session, actor=actor, message_ids=[r.id for r in rows])
    workers, worker_partitions = partitions.status_in(session)  # who delivers: the workers' panel
    return render(request, "notifications/outbox.html", {
        "nav": "admin", "rows": rows, "attempts": attempts, "state": state, "states": OUTBOX_STATES,
        "channel_labels": CHANNEL_LABELS, "problem": delivery_problem,
        "workers": workers, "worker_partitions": worker_partitions})


@router.post("/admin/outbox/{message_id}/resend")
def outbox_resend(request: Request, session: DbSession, actor: AdminActor, message_id: int):
    row = delivery.resend(session, actor=actor, message_id=message_id, now=utcnow())
    if is_htmx(request):
        attempts = delivery.list_attempts(session, actor=actor, message_ids=[row.id])
        return render(request, "notifications/_outbox_row.html", {"row": row, "attempts": attempts,
                                                                   "channel_labels": CHANNEL_LABELS, "problem": delivery_problem})
    return RedirectResponse("/admin/outbox", status_code=303)


def _channels_context(session, actor, **extra) -> dict:
    return {"nav": "admin", "configs": notify_service.list_channels(session, actor=actor), "kinds": KINDS,
            "labels": CHANNEL_LABELS, "errors": {}, "form": {}, "milestones": ms.MILESTONES,
            "milestone_labels": ms.LABELS, "notified": tracking_service.notified_milestones(session),
            "test_result": None, **extra}


@router.get("/admin/channels")
def channels_page(request: Request, session: DbSession, actor: AdminActor):
    return render(request, "notifications/channels.html", _channels_context(session, actor))


@router.post("/admin/channels")
async def create_channel(request: Request, session: DbSession, actor: AdminActor):
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_create_channel, request, session, actor, form)


ROBOT_KINDS = ("dingtalk", "wecom", "feishu", "webhook")
TARGET_FIELD = {"email": "smtp_host", "sms": "sms_url"}
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _url_error(value: str) -> str | None:
    if not value:
        return i18n.gettext("Required.")
    if not value.startswith(("https://", "http://")) or len(value) > 500 or any(c.isspace() for c in value):
        return i18n.gettext("Enter the full address, starting with https://.")
    return None


def channel_from_form(form: dict) -> tuple[dict, dict[str, str]]:
    """The chosen kind's fields (issue 17: not a raw JSON box) -> save_channel's target, secret and
    options, or messages per field. Only the chosen kind's fields are read."""
    kind = form.get("kind", "")
    def field(name: str, limit: int = 500) -> str:
        return (form.get(name) or "").strip()[:limit]

    errors: dict[str, str] = {}
    if not field("name", 80):
        errors["name"] = i18n.gettext("Required.")
    options: dict = {}
    if kind == "email":
        host, port = field("smtp_host", 253), field("smtp_port", 10) or "25"
        if not host:
            errors["smtp_host"] = i18n.gettext("Required.")
        elif not _HOST.match(host):
            errors["smtp_host"] = i18n.gettext("A host name such as smtp.example.com.")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            errors["smtp_port"] = i18n.gettext("A port number from 1 to 65535.")
        sender, username = field("smtp_from", 254), field("smtp_username", 254)
        if sender and not _EMAIL.match(sender):
            errors["smtp_from"] = i18n.gettext("An e-mail address such as orders@example.com.")
        options = {k: v for k, v in (("from", sender), ("username", username)) if v}
        if form.get("smtp_starttls") == "on":
            options["starttls"] = True
        target, secret = f"{host}:{port}", field("smtp_password", 255)
    elif kind in ROBOT_KINDS:
        target, secret = field("robot_url"), field("robot_secret", 255)
        if error := _url_error(target):
            errors["robot_url"] = error
    elif kind == "sms":
        target, secret = field("sms_url"), field("sms_key", 255)
        if error := _url_error(target):
            errors["sms_url"] = error
        header = field("sms_key_header", 64)
        if header and not _HEADER.match(header):
            errors["sms_key_header"] = i18n.gettext("Letters, digits and hyphens only, such as X-Api-Key.")
        options = {k: v for k, v in (("api_key_header", header), ("body_template", field("sms_template", 500)),
                                     ("ok_field", field("sms_ok_field", 64)), ("ok_value", field("sms_ok_value", 64)))
                   if v}
    else:
        target, secret = "", ""
    return {"kind": kind, "target": target, "secret": secret or None, "options": options}, errors


def _create_channel(request: Request, session, actor, form: dict):
    values, errors = channel_from_form(form)
    shown = {k: v for k, v in form.items() if k not in ("smtp_password", "robot_secret", "sms_key")}  # never echoed
    if errors:
        return render(request, "notifications/channels.html", _channels_context(session, actor, errors=errors,
                                                                                 form=shown), status_code=422)
    try:
        notify_service.save_channel(session, actor=actor, name=form.get("name", "")[:80], is_enabled=True,
                                    now=utcnow(), **values)
    except GendanError as exc:
        session.rollback()
        address = TARGET_FIELD.get(values["kind"], "robot_url")  # the service names the stored column
        errors = ({address if k == "target" else k: i18n.translate_error(c, p) for k, (c, p) in exc.fields.items()}
                  if exc.fields else {"_": i18n.translate_error(exc.code, exc.params)})
        return render(request, "notifications/channels.html", _channels_context(session, actor, errors=errors,
                                                                                 form=shown), status_code=422)
    return RedirectResponse("/admin/channels", status_code=303)


@router.post("/admin/channels/{channel_id}/test")
def test_channel(request: Request, session: DbSession, actor: AdminActor, channel_id: int,
                 recipient: Annotated[str, Form()] = ""):
    row = notify_service.test_send(session, actor=actor, channel_id=channel_id, recipient=recipient,
                                   now=utcnow(), settings=request.app.state.settings)
    config = session.get(ChannelConfig, channel_id)
    return render(request, "notifications/_test_result.html", {"row": row, "config": config})


@router.post("/admin/channels/milestones")
async def save_milestones(request: Request, session: DbSession, actor: AdminActor):
    chosen = {str(m) for m in (await request.form()).getlist("milestone")}
    await run_in_threadpool(lambda: tracking_service.save_notified_milestones(session, actor=actor,
                                                                              milestones=chosen))
    return RedirectResponse("/admin/channels", status_code=303)
