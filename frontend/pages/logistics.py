"""Logistics pages: the admin's tracking sources (settings, push address, health), the shipment
panel of the order page and the same events on the customer's tracking page (no internal details).
The panels load by htmx into the order and tracking pages, so those pages only include a loader."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from backend import i18n
from backend.auth.deps import DbSession, _check_csrf
from backend.clock import utcnow
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.logistics import kuaidi100
from backend.logistics import sources as logistics_sources
from backend.orders import access
from backend.tracking import milestones
from backend.tracking import service as tracking_service
from frontend.pages.admin import AdminActor, _flash, _pop_flash
from frontend.pages.common import N_, PageActor
from frontend.templating import render

router = APIRouter()
STATE_LABELS = {"pending": N_("Waiting for the first tracking event"), "in_transit": N_("In transit"),
                "out_for_delivery": N_("Out for delivery"), "signed": N_("Signed for"),
                "exception": N_("Delivery problem")}
PRIVATE = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow", "Cache-Control": "no-store"}


def _error_text(error: dict[str, Any] | None) -> str | None:
    return i18n.translate_error(error["code"], error.get("params") or {}) if error else None


# ---------------------------------------------------------------- admin: tracking sources

def _admin_page(request: Request, session: Session, actor, *, form: dict | None = None,
                errors: dict[str, str] | None = None, edit_id: int | None = None, status_code: int = 200):
    items = logistics_sources.list_sources(session, actor=actor)
    base = request.app.state.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")
    return render(request, "logistics/admin.html", {
        "nav": "admin", "tab": "logistics", "sources": items, "flash": _pop_flash(request),
        "form": form or {"url": kuaidi100.DEFAULT_URL, "poll_minutes": "120", "is_enabled": "on"},
        "errors": errors or {}, "edit_id": edit_id, "push_base": f"{base}/api/v1/tracking-push/",
        "error_text": _error_text}, status_code=status_code)


@router.get("/admin/logistics")
def sources_page(request: Request, session: DbSession, actor: AdminActor, edit: int | None = None):
    if edit:
        source = logistics_sources.get_source(session, actor=actor, source_id=edit)
        form = {"name": source.name, "url": source.settings.get("url", ""),
                "customer": source.settings.get("customer", ""), "poll_minutes": str(source.poll_minutes),
                "is_enabled": "on" if source.is_enabled else ""}
        return _admin_page(request, session, actor, form=form, edit_id=edit)
    return _admin_page(request, session, actor)


@router.post("/admin/logistics")
async def save_source(request: Request, session: DbSession, actor: AdminActor):
    await _check_csrf(request)
    raw = {k: str(v)[:600] for k, v in (await request.form()).items() if k != "csrf_token"}
    edit_id = int(raw["id"]) if raw.get("id", "").isdigit() else None
    try:
        minutes = int(raw.get("poll_minutes") or 0)
    except ValueError:
        minutes = 0
    data = logistics_sources.SourceInput(name=raw.get("name", ""), url=raw.get("url", "").strip(),
                                         customer=raw.get("customer", ""), key=raw.get("key", ""),
                                         salt=raw.get("salt", ""), poll_minutes=minutes,
                                         is_enabled=raw.get("is_enabled") == "on")
    try:
        source = logistics_sources.save_source(session, actor=actor, data=data, now=utcnow(), source_id=edit_id)
    except GendanError as exc:
        session.rollback()
        if not exc.fields:
            raise
        errors = {k: i18n.translate_error(code, params) for k, (code, params) in exc.fields.items()}
        form = {k: v for k, v in raw.items() if k not in ("key", "salt")}
        return _admin_page(request, session, actor, form=form, errors=errors, edit_id=edit_id, status_code=422)
    _flash(request, i18n.gettext("Tracking source %(name)s saved.") % {"name": source.name})
    return RedirectResponse("/admin/logistics", status_code=303)


@router.post("/admin/logistics/{source_id}/delete")
async def delete_source(request: Request, session: DbSession, actor: AdminActor, source_id: int):
    await _check_csrf(request)
    logistics_sources.delete_source(session, actor=actor, source_id=source_id)
    _flash(request, i18n.gettext("Tracking source deleted."))
    return RedirectResponse("/admin/logistics", status_code=303)


@router.post("/admin/logistics/poll")
async def poll_now(request: Request, session: DbSession, actor: AdminActor):
    """Poll every due shipment now (what the worker does on its schedule)."""
    await _check_csrf(request)
    logistics_sources.list_sources(session, actor=actor)
    session.rollback()
    polled = await run_in_threadpool(logistics_sources.poll_due, request.app.state.engine, utcnow())
    _flash(request, i18n.gettext("%(n)s shipments polled.") % {"n": polled})
    return RedirectResponse("/admin/logistics", status_code=303)


# ---------------------------------------------------------------- the order page's panel

def _shipped(order) -> bool:
    """Whether the order left without a parcel to follow: then the panel must not say "no shipment
    yet" (a customer read 尚未发货, not shipped yet, under 已于 … 签收, signed for on …)."""
    return order.signed_at is not None or "shipped" in milestones.reached(stage=order.stage, status=order.status,
                                                                           data=order.data)


@router.get("/orders/{order_id}/shipments")
def order_shipments(request: Request, session: DbSession, actor: PageActor, order_id: int):
    order = access.get_visible_order(session, actor, order_id)
    return render(request, "logistics/_panel.html", {
        "shipments": logistics_sources.events_of(session, order.id), "internal": True, "signed_at": order.signed_at,
        "shipped": _shipped(order),
        "state_labels": STATE_LABELS, "error_text": _error_text,
        # a shipment nobody asks about: say why no events come, not "Next 10:00" for ever
        "no_source": logistics_sources.active_source(session) is None, "is_admin": actor.is_admin})


# ---------------------------------------------------------------- the customer's tracking page

@router.get("/t/{token}/shipments")
def customer_shipments(request: Request, session: DbSession, token: str):
    try:
        _link, order = tracking_service._link_for(session, token)
    except GendanError:
        return render(request, "tracking/not_found.html", {}, status_code=404, headers=PRIVATE)
    customer = session.get(Customer, order.customer_id)
    lang = None if request.session.get("lang") else i18n.set_locale(
        (customer.preferred_locale if customer else None) or "zh_CN")
    try:
        return render(request, "logistics/_panel.html", {
            "shipments": logistics_sources.events_of(session, order.id), "internal": False,
            "signed_at": order.signed_at, "shipped": _shipped(order), "state_labels": STATE_LABELS,
            "error_text": _error_text}, headers=PRIVATE)
    finally:
        if lang is not None:
            i18n.reset_locale(lang)
