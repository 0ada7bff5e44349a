"""The customer's tracking page (no login: the link's token is the key) and the staff page that
makes and revokes the link and records the shipment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.deps import DbSession, _check_csrf
from backend.clock import utcnow
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.installation import service as installation_service
from backend.orders import service as orders_service
from backend.tracking import messages as tracking_messages
from backend.tracking import service as tracking_service
from frontend.pages.common import CHANNEL_LABELS, STAGE_LABELS, PageActor
from frontend.templating import is_htmx, render

router = APIRouter()
# a capability URL must not leak through Referer headers, caches or search engines
PRIVATE = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow", "Cache-Control": "no-store"}


def _not_found(request: Request):
    return render(request, "tracking/not_found.html", {}, status_code=404, headers=PRIVATE)


def _customer_locale(request: Request, view) -> i18n.contextvars.Token | None:
    """The customer's language, unless they picked one with the switcher (kept in the session)."""
    if request.session.get("lang"):
        return None
    return i18n.set_locale(view.locale)


def _page(request: Request, session, token: str, *, block: str | None = None, message: str | None = None,
          error: GendanError | None = None, chat: dict | None = None, status_code: int = 200):
    """The page (or one block of it) in the customer's language; `message` is an English msgid.
    `chat` is the message form's state: what was typed, `error` (a GendanError), `is_sent`."""
    installation_service.get_installation(session)  # times in the installation's zone as saved now
    try:
        view = tracking_service.view(session, token=token, now=utcnow())
    except GendanError as exc:
        if exc.code != "tracking.not_found":
            raise
        return _not_found(request)
    lang = _customer_locale(request, view)
    try:
        text = i18n.translate_error(error.code, error.params) if error else (i18n.gettext(message) if message else None)
        return render(request, "tracking/page.html", {"v": view, "message": text, "is_error": error is not None,
                                                      "chat": _chat_context(chat or {})},
                      block=block, headers=PRIVATE, status_code=status_code)
    finally:
        if lang is not None:
            i18n.reset_locale(lang)


@router.get("/t/{token}")
def tracking_page(request: Request, session: DbSession, token: str):
    target = request.headers.get("HX-Target") if is_htmx(request) else None
    block = {"tracking-status": "status", "tracking-conversation": "conversation"}.get(target or "")
    return _page(request, session, token, block=block)


@router.post("/t/{token}/urge")
async def tracking_urge(request: Request, session: DbSession, token: str):
    await _check_csrf(request)
    return await run_in_threadpool(_urge, request, session, token)


def _urge(request: Request, session, token: str):
    try:
        tracking_service.urge(session, token=token, now=utcnow())
    except GendanError as exc:
        session.rollback()
        if exc.code == "tracking.not_found":
            return _not_found(request)
        return _page(request, session, token, block="actions" if is_htmx(request) else None,
                     error=exc)
    return _page(request, session, token, block="actions" if is_htmx(request) else None,
                 message="Thank you. We have told your sales contact, who will get back to you.")


def _chat_context(chat: dict) -> dict:
    """The message form's view model, its errors translated (per field, or "_" for the form)."""
    error: GendanError | None = chat.get("error")
    errors = {}
    if error is not None:
        errors = ({k: i18n.translate_error(c, p) for k, (c, p) in error.fields.items()} if error.fields
                  else {"_": i18n.translate_error(error.code, error.params)})
    return {"text": chat.get("text", ""), "contact": chat.get("contact", ""), "errors": errors,
            "is_sent": bool(chat.get("is_sent"))}


@router.post("/t/{token}/messages")
async def tracking_message(request: Request, session: DbSession, token: str):
    await _check_csrf(request)
    form = await request.form()
    text, contact = str(form.get("text") or ""), str(form.get("contact") or "")
    return await run_in_threadpool(_send_message, request, session, token, text, contact)


def _send_message(request: Request, session, token: str, text: str, contact: str):
    block = "messages" if is_htmx(request) else None
    try:
        tracking_messages.send_from_tracking(session, token=token, text=text, contact=contact, now=utcnow())
    except GendanError as exc:
        session.rollback()
        if exc.code == "tracking.not_found":
            return _not_found(request)
        # 422 for both refusals (htmx swaps 422 in); what the customer typed stays in the box
        return _page(request, session, token, block=block, status_code=422,
                     chat={"text": text, "contact": contact, "error": exc})
    return _page(request, session, token, block=block, chat={"is_sent": True})


@router.post("/t/{token}/unsubscribe")
async def tracking_unsubscribe(request: Request, session: DbSession, token: str):
    await _check_csrf(request)
    return await run_in_threadpool(_unsubscribe, request, session, token)


def _unsubscribe(request: Request, session, token: str):
    try:
        tracking_service.unsubscribe(session, token=token, now=utcnow())
    except GendanError as exc:
        if exc.code == "tracking.not_found":
            return _not_found(request)
        raise
    return _page(request, session, token, block="actions" if is_htmx(request) else None,
                 message="You will not receive messages about your orders any more.")


# --- staff -----------------------------------------------------------------------------------------

def _staff_context(request: Request, session, actor, order_id: int, **extra) -> dict:
    order = orders_service.get_order(session, actor=actor, order_id=order_id)
    link = tracking_service.get_active_link(session, order_id)
    # GENDAN_BASE_URL when set, else the address this request came in on (never a guessed port)
    base = request.app.state.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")
    customer = session.get(Customer, order.customer_id)
    channel = customer.preferred_channel if customer and not customer.is_unsubscribed else None
    return {"nav": "orders", "order": order, "link": link, "url": f"{base}/t/{link.token}" if link else None,
            "customer_channel": i18n.gettext(CHANNEL_LABELS[channel]) if channel in CHANNEL_LABELS and channel != "none"
            else None,
            "stage_labels": STAGE_LABELS, "errors": {}, **extra}


@router.get("/orders/{order_id}/tracking")
def staff_tracking(request: Request, session: DbSession, actor: PageActor, order_id: int):
    return render(request, "tracking/staff.html", _staff_context(request, session, actor, order_id))


@router.post("/orders/{order_id}/tracking/link")
def staff_create_link(session: DbSession, actor: PageActor, order_id: int):
    tracking_service.create_link(session, actor=actor, order_id=order_id, now=utcnow())
    return RedirectResponse(f"/orders/{order_id}/tracking", status_code=303)


@router.post("/orders/{order_id}/tracking/revoke")
def staff_revoke_link(session: DbSession, actor: PageActor, order_id: int):
    tracking_service.revoke_link(session, actor=actor, order_id=order_id, now=utcnow())
    return RedirectResponse(f"/orders/{order_id}/tracking", status_code=303)


@router.post("/orders/{order_id}/tracking/shipment")
def staff_shipment(request: Request, session: DbSession, actor: PageActor, order_id: int,
                   version: Annotated[int, Form()], carrier: Annotated[str, Form()] = "",
                   tracking_no: Annotated[str, Form()] = ""):
    try:
        tracking_service.record_shipment(session, actor=actor, order_id=order_id, version=version, carrier=carrier,
                                         tracking_no=tracking_no, now=utcnow())
    except GendanError as exc:
        if exc.code not in ("validation.failed", "order.version_conflict"):
            raise
        session.rollback()
        errors = ({k: i18n.translate_error(c, p) for k, (c, p) in exc.fields.items()} if exc.fields
                  else {"_": i18n.translate_error(exc.code, exc.params)})
        return render(request, "tracking/staff.html",
                      _staff_context(request, session, actor, order_id, errors=errors), status_code=exc.status)
    return RedirectResponse(f"/orders/{order_id}/tracking?saved=1", status_code=303)
