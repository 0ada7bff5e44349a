"""The "Outside parties" panel of the staff order page: the order's portal links (loaded by htmx
from orders/detail.html), with Copy, Revoke and Issue link for admins and the order's owner
(backend/portal/order_links.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.portal import order_links
from backend.portal import service as portal
from frontend.pages.common import PageActor
from frontend.templating import render

router = APIRouter()


def _base(request: Request) -> str:
    return request.app.state.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")


def _panel(request: Request, session: Session, actor: Actor, order_id: int, *, error: str | None = None,
           flash: str | None = None, status_code: int = 200):
    view = order_links.order_links(session, actor=actor, order_id=order_id, now=utcnow())
    if not view.links and not view.issuable and not view.no_party and not error and not flash:
        return HTMLResponse("", status_code=status_code)  # nothing shown when the order has no link
    return render(request, "portal/_order_panel.html", {
        "view": view, "base": _base(request), "error": error, "kind_labels": portal.KIND_LABELS,
        "flash": flash}, status_code=status_code)


@router.get("/orders/{order_id}/portal-links")
def order_portal_links(request: Request, session: DbSession, actor: PageActor, order_id: int):
    return _panel(request, session, actor, order_id)


def _done(request: Request, session: Session, actor: Actor, order_id: int, flash: str):
    """htmx: the panel again, with what happened; a plain form post: back to the order page."""
    if request.headers.get("HX-Request"):
        return _panel(request, session, actor, order_id, flash=flash)
    return RedirectResponse(f"/orders/{order_id}#portal-panel", status_code=303)


@router.post("/orders/{order_id}/portal-links/{link_id}/revoke")
def order_portal_revoke(request: Request, session: DbSession, actor: PageActor, order_id: int, link_id: int):
    order_links.revoke(session, actor=actor, order_id=order_id, link_id=link_id, now=utcnow())
    return _done(request, session, actor, order_id, i18n.gettext("The link was revoked."))


@router.post("/orders/{order_id}/portal-links")
async def order_portal_issue(request: Request, session: DbSession, actor: PageActor, order_id: int):
    form = await request.form()
    node_key = str(form.get("node_key") or "").strip()[:64]
    return await run_in_threadpool(_issue, request, session, actor, order_id, node_key)


def _issue(request: Request, session: Session, actor: Actor, order_id: int, node_key: str):
    try:
        order_links.issue(session, actor=actor, order_id=order_id, node_key=node_key, now=utcnow(),
                          base_url=_base(request))
    except GendanError as exc:
        if exc.code in ("auth.forbidden", "order.not_found"):
            raise
        session.rollback()
        return _panel(request, session, actor, order_id, error=i18n.translate_error(exc.code, exc.params),
                      status_code=exc.status)
    return _done(request, session, actor, order_id, i18n.gettext("The link was issued."))
