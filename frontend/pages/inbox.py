"""The inbox: my to-dos in tabs, acted on in place (htmx), refreshed live over the websocket."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.inbox import service as inbox_service
from backend.inbox import service_action as inbox_actions
from backend.inbox import service_comment as inbox_comments
from backend.inbox.schemas import InboxFilter
from backend.notify import service as notify_service
from backend.people.models import User
from frontend.pages.common import STAGE_LABELS, PageActor
from frontend.templating import is_htmx, render

router = APIRouter()

TABS = [("todo", "To do"), ("done", "Done"), ("cc", "Copied to me"), ("started", "Started by me")]
KIND_LABELS = {"approval": "Approval", "task": "Task", "reminder": "Reminder", "follow_up": "Follow-up",
               "rule_alert": "Alert", "escalation": "Escalation", "cc": "Copy", "customer_urge": "Customer urge",
               "customer_message": "Customer message"}
PRIORITY_LABELS = {"urgent": "Urgent", "high": "High", "normal": "Normal", "low": "Low"}
STATE_LABELS = {"open": "Open", "done": "Done", "cancelled": "Cancelled", "superseded": "Handled by someone else"}


def _filters(request: Request) -> tuple[InboxFilter, str | None]:
    raw = {k: v for k, v in request.query_params.items() if v != "" and k in InboxFilter.model_fields}
    try:
        return InboxFilter.model_validate(raw), None
    except ValidationError as exc:
        bad = ", ".join(str(e["loc"][0]) for e in exc.errors())
        return InboxFilter(), i18n.gettext("These filters are not valid: %(fields)s", fields=bad)


def _labels() -> dict:
    return {"kind_labels": KIND_LABELS, "priority_labels": PRIORITY_LABELS, "state_labels": STATE_LABELS,
            "stage_labels": STAGE_LABELS}


def _people(session) -> list[User]:
    return list(session.exec(select(User).where(User.is_active.is_(True)).order_by(User.display_name)).scalars())


@router.get("/inbox")
def inbox_page(request: Request, session: DbSession, actor: PageActor):
    f, error = _filters(request)
    page = inbox_service.list_items(session, actor=actor, filters=f, now=utcnow())
    kept = {k: v for k, v in f.model_dump(exclude_defaults=True, mode="json").items() if k != "offset"}
    kept["tab"] = f.tab
    # the live refresh re-reads exactly this page with these filters (issue 17: filters survived
    # nothing); the pager's links keep the filters and move the offset
    query = urlencode(kept | ({"offset": page.offset} if page.offset else {}))
    pages = {"previous": urlencode(kept | {"offset": max(0, page.offset - page.limit)}) if page.has_previous else None,
             "next": urlencode(kept | {"offset": page.offset + page.limit}) if page.has_next else None}
    context = {"nav": "inbox", "f": f, "page": page, "error": error, "tabs": TABS, "query": query, "pages": pages,
               "people": _people(session), "unread": notify_service.count_unread(session, actor.user_id),
               **_labels()}
    if is_htmx(request) and request.headers.get("HX-Target") == "inbox-list":
        return render(request, "inbox/list.html", context, block="list")
    return render(request, "inbox/list.html", context)


@router.get("/inbox/badge")
def inbox_badge(request: Request, session: DbSession, actor: PageActor, part: str | None = None):
    """The bell in the main navigation of every page: open to-dos plus unread notifications."""
    todos = inbox_service.count_open(session, actor.user_id)
    unread = notify_service.count_unread(session, actor.user_id)
    template = "inbox/_badge_count.html" if part == "count" else "inbox/_badge.html"
    return render(request, template, {"count": todos + unread, "todos": todos, "unread": unread})


def _item_response(request: Request, session, actor, item_id: int, *, errors: dict | None = None,
                   values: dict | None = None, status_code: int = 200, message: str | None = None):
    item = inbox_service.get_item(session, actor=actor, item_id=item_id, now=utcnow())
    return render(request, "inbox/_item.html",
                  {"item": item, "errors": errors or {}, "values": values or {}, "message": message,
                   "people": _people(session), "f": InboxFilter(), **_labels()},
                  status_code=status_code, headers={"HX-Trigger": "gendan:badge"})


def _field_messages(exc: GendanError) -> dict[str, str]:
    return {path: i18n.translate_error(code, params) for path, (code, params) in exc.fields.items()}


@router.post("/inbox/items/{item_id}/complete")
async def complete_item(request: Request, session: DbSession, actor: PageActor, item_id: int):
    form = await request.form()
    return await run_in_threadpool(_complete_item, request, session, actor, item_id, form)


def _complete_item(request: Request, session, actor, item_id: int, form):
    values = {k[2:]: v for k, v in form.items() if k.startswith("f_") and isinstance(v, str)}
    note = str(form.get("note", ""))
    try:
        inbox_actions.complete_task(session, actor=actor, item_id=item_id, values=values, note=note, now=utcnow())
    except GendanError as exc:
        if exc.code != "validation.failed":
            raise
        session.rollback()
        return _item_response(request, session, actor, item_id, errors=_field_messages(exc), values=values,
                              status_code=422)
    return _item_response(request, session, actor, item_id, message=i18n.gettext("Completed."))


@router.post("/inbox/items/{item_id}/act")
def act_on_item(request: Request, session: DbSession, actor: PageActor, item_id: int,
                action: Annotated[str, Form()], note: Annotated[str, Form()] = "",
                to_user_id: Annotated[str, Form()] = ""):
    to_user = int(to_user_id) if to_user_id.isdigit() else None
    signers = [to_user] if action == "add_signer" and to_user else []
    inbox_actions.act_on_flow_task(session, actor=actor, item_id=item_id, action=action, note=note,
                                   to_user_id=to_user, user_ids=signers, now=utcnow())
    done = {"approve": "Approved.", "reject": "Rejected.", "send_back": "Sent back.", "transfer": "Transferred.",
            "add_signer": "Approver added."}
    return _item_response(request, session, actor, item_id, message=i18n.gettext(done.get(action, "Done.")))


@router.post("/inbox/bulk-approve")
async def bulk_approve(request: Request, session: DbSession, actor: PageActor):
    form = await request.form()
    return await run_in_threadpool(_bulk_approve, request, session, actor, form)


def _bulk_approve(request: Request, session, actor, form):
    ids = [int(v) for v in form.getlist("item_id") if isinstance(v, str) and v.isdigit()]
    outcome = inbox_actions.bulk_approve(session, actor=actor, item_ids=ids, note=str(form.get("note", "")),
                                         now=utcnow())
    ok = sum(1 for v in outcome.values() if v == "ok")
    failed = {k: i18n.translate_error(v, {}) for k, v in outcome.items() if v != "ok"}
    # the approved cards are swapped in place (out of band): the list's own refresh waits while
    # focus is in one of its forms, and the bulk button is in one, so they stayed "open"
    approved = [inbox_service.get_item(session, actor=actor, item_id=i, now=utcnow())
                for i, v in outcome.items() if v == "ok"]
    return render(request, "inbox/_bulk_result.html",
                  {"ok": ok, "failed": failed, "approved": approved, "people": [], "f": InboxFilter(), **_labels()},
                  headers={"HX-Trigger": "gendan:inbox"})


@router.post("/inbox/items/{item_id}/urge")
def urge_item(request: Request, session: DbSession, actor: PageActor, item_id: int):
    inbox_actions.urge(session, actor=actor, item_id=item_id, now=utcnow())
    return _item_response(request, session, actor, item_id, message=i18n.gettext("Reminder sent."))


@router.post("/inbox/items/{item_id}/withdraw")
def withdraw_item(request: Request, session: DbSession, actor: PageActor, item_id: int,
                  note: Annotated[str, Form()] = ""):
    inbox_actions.withdraw(session, actor=actor, item_id=item_id, note=note, now=utcnow())
    return _item_response(request, session, actor, item_id, message=i18n.gettext("Withdrawn."))


@router.get("/inbox/items/{item_id}/comments")
def item_comments(request: Request, session: DbSession, actor: PageActor, item_id: int):
    comments = inbox_comments.list_comments(session, actor=actor, item_id=item_id)
    names = dict(session.exec(select(User.id, User.display_name)).all()) if comments else {}
    return render(request, "inbox/_comments.html", {"item_id": item_id, "comments": comments, "names": names})


@router.post("/inbox/items/{item_id}/comments")
async def add_comment(request: Request, session: DbSession, actor: PageActor, item_id: int):
    form = await request.form()
    upload = form.get("attachment")
    attachment = None
    if isinstance(upload, UploadFile) and upload.filename:
        attachment = (upload.filename, await upload.read())
    return await run_in_threadpool(_add_comment, request, session, actor, item_id, str(form.get("text", "")),
                                   attachment)


def _add_comment(request: Request, session, actor, item_id: int, text: str, attachment):
    inbox_comments.comment(session, actor=actor, item_id=item_id, text=text, attachment=attachment,
                          upload_dir=request.app.state.settings.upload_dir, now=utcnow())
    return item_comments(request, session, actor, item_id)


@router.get("/inbox/attachments/{event_id}")
def download_attachment(request: Request, session: DbSession, actor: PageActor, event_id: int):
    path, name = inbox_comments.attachment_path(session, actor=actor, event_id=event_id,
                                               upload_dir=request.app.state.settings.upload_dir)
    if not path.is_file():
        raise GendanError("inbox.attachment_not_found", {"id": event_id})
    return FileResponse(path, filename=name, content_disposition_type="attachment")


