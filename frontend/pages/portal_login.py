"""The portal for signed-in people of an external company: `/portal/login`, their company's orders
at `/portal`, one order at `/portal/orders/{id}` (the same scoping, 404s and rate limits as the
company's inbox link; frontend/pages/portal.py). The portal user's id rides in the signed session
cookie under its own key, apart from our own staff's sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.deps import DbSession, _check_csrf
from backend.clock import utcnow
from backend.errors import GendanError
from backend.portal import access as party_side
from backend.portal import attachments as portal_attachments
from backend.portal import service as portal
from backend.portal import users as portal_users
from backend.portal.models import PortalUser
from frontend.pages.portal import PRIVATE, _not_found, _party_locale, _too_many, rate_limited
from frontend.templating import render

router = APIRouter()
SESSION_KEY = "portal_user_id"


def _user_id(request: Request) -> int | None:
    value = request.session.get(SESSION_KEY)
    return value if isinstance(value, int) else None


@router.get("/portal/login")
def login_page(request: Request):
    return render(request, "portal/login.html", {}, headers=PRIVATE)


@router.post("/portal/login")
async def login(request: Request, session: DbSession):
    await _check_csrf(request)
    form = await request.form()
    username, password = str(form.get("username") or "")[:64], str(form.get("password") or "")[:200]
    return await run_in_threadpool(_login, request, session, username, password)


def _login(request: Request, session: Session, username: str, password: str):
    try:
        user = portal_users.authenticate(
            session, username=username, password=password, now=utcnow(),
            client=request.client.host if request.client else "?",
            max_attempts=request.app.state.settings.login_attempts_per_minute)
    except GendanError as exc:
        session.rollback()
        return render(request, "portal/login.html", {"error": i18n.translate_error(exc.code, exc.params),
                                                     "username": username},
                      status_code=exc.status, headers=PRIVATE)
    request.session[SESSION_KEY] = user.id
    return RedirectResponse("/portal", status_code=303)


@router.post("/portal/logout")
async def logout(request: Request):
    await _check_csrf(request)
    request.session.pop(SESSION_KEY, None)
    return RedirectResponse("/portal/login", status_code=303)


def _signed_in(session: Session, request: Request):
    try:
        return portal_users.party_of(session, _user_id(request))
    except GendanError:
        return None


def _guard(session: Session, request: Request, *, write: bool):
    """Every signed-in portal page's first step: the rate limit, then the signed-in (user, party), or
    the response to send instead (429, or back to the sign-in page)."""
    if rate_limited(session, request, write=write):
        return _too_many(request)
    signed = _signed_in(session, request)
    if signed is None:
        return RedirectResponse("/portal/login", status_code=303)
    return signed


@router.get("/portal")
def inbox(request: Request, session: DbSession):
    signed = _guard(session, request, write=False)
    if not isinstance(signed, tuple):
        return signed
    user, party = signed
    lang = _party_locale(request, party.locale)
    try:
        party, rows = party_side.inbox(session, token=None, user_id=user.id, now=utcnow())
        return render(request, "portal/inbox.html", {
            "party": party, "rows": rows, "order_base": "/portal/orders", "person": user.display_name,
            "kind_label": i18n.gettext(portal.KIND_LABELS[party.kind])}, headers=PRIVATE)
    finally:
        if lang is not None:
            i18n.reset_locale(lang)


def _order(request: Request, session: Session, user: PortalUser, party, order_id: int, *, errors=None, values=None,
           status_code: int = 200):
    lang = _party_locale(request, party.locale)
    try:
        try:
            v = party_side.view(session, token=None, user_id=user.id, order_id=order_id, now=utcnow())
        except GendanError as exc:
            if exc.code != "portal.not_found":
                raise
            if lang is not None:
                i18n.reset_locale(lang)
                lang = None
            return _not_found(request)
        return render(request, "portal/order.html", {
            "v": v, "action": f"/portal/orders/{order_id}", "inbox_url": "/portal", "errors": errors or {},
            "values": values or {}, "kind_label": i18n.gettext(portal.KIND_LABELS[v.party_kind]),
            "file_fields": portal_attachments.file_fields_for(
                session, token=None, user_id=user.id, order_id=order_id, now=utcnow(),
                body_limit=request.app.state.settings.max_body_bytes)},
            status_code=status_code, headers=PRIVATE)
    finally:
        if lang is not None:
            i18n.reset_locale(lang)


@router.get("/portal/orders/{order_id}")
def order_page(request: Request, session: DbSession, order_id: int):
    signed = _guard(session, request, write=False)
    if not isinstance(signed, tuple):
        return signed
    return _order(request, session, *signed, order_id)


@router.post("/portal/orders/{order_id}")
async def order_save(request: Request, session: DbSession, order_id: int):
    await _check_csrf(request)
    form = await request.form()
    return await run_in_threadpool(_save, request, session, order_id, form)


def _save(request: Request, session: Session, order_id: int, form):
    signed = _guard(session, request, write=True)
    if not isinstance(signed, tuple):
        return signed
    user, party = signed
    values = {k[2:]: str(v) for k, v in form.multi_items() if k.startswith("f_")}
    try:
        party_side.submit(session, token=None, user_id=user.id, order_id=order_id, values=values, now=utcnow(),
                          finish=form.get("finish") == "1")
    except GendanError as exc:
        session.rollback()
        if exc.code == "portal.not_found":
            return _not_found(request)
        lang = _party_locale(request, party.locale)
        try:
            errors = ({k: i18n.translate_error(c, p) for k, (c, p) in exc.fields.items()} if exc.fields
                      else {"_": i18n.translate_error(exc.code, exc.params)})
        finally:
            if lang is not None:
                i18n.reset_locale(lang)
        return _order(request, session, user, party, order_id, errors=errors, values=values,
                      status_code=exc.status)
    return RedirectResponse(f"/portal/orders/{order_id}?saved=1", status_code=303)


# --- their own password ----------------------------------------------------------------------------

def _password_page(request: Request, user: PortalUser, party, *, errors: dict | None = None, saved: bool = False,
                   status_code: int = 200):
    lang = _party_locale(request, party.locale)
    try:
        return render(request, "portal/password.html", {
            "party": party, "person": user.display_name, "errors": errors or {}, "saved": saved,
            "min_length": portal_users.MIN_PASSWORD}, status_code=status_code, headers=PRIVATE)
    finally:
        if lang is not None:
            i18n.reset_locale(lang)


@router.get("/portal/password")
def password_page(request: Request, session: DbSession):
    signed = _guard(session, request, write=False)
    if not isinstance(signed, tuple):
        return signed
    return _password_page(request, *signed, saved=request.query_params.get("saved") == "1")


@router.post("/portal/password")
async def change_password(request: Request, session: DbSession):
    await _check_csrf(request)
    form = await request.form()
    values = {k: str(form.get(k) or "")[:201] for k in ("current_password", "new_password", "repeat_password")}
    return await run_in_threadpool(_change_password, request, session, values)


def _change_password(request: Request, session: Session, values: dict[str, str]):
    """Only the signed-in user's own password: the user comes from the session, never from the form."""
    signed = _guard(session, request, write=True)
    if not isinstance(signed, tuple):
        return signed
    user, party = signed
    try:
        portal_users.change_password(
            session, user_id=user.id, current=values["current_password"][:200], new=values["new_password"],
            repeat=values["repeat_password"], client=request.client.host if request.client else "?", now=utcnow(),
            max_attempts=request.app.state.settings.login_attempts_per_minute)
    except GendanError as exc:
        session.rollback()
        lang = _party_locale(request, party.locale)
        try:
            errors = ({k: i18n.translate_error(c, p) for k, (c, p) in exc.fields.items()} if exc.fields
                      else {"_": i18n.translate_error(exc.code, exc.params)})
        finally:
            if lang is not None:
                i18n.reset_locale(lang)
        return _password_page(request, user, party, errors=errors, status_code=exc.status)
    return RedirectResponse("/portal/password?saved=1", status_code=303)
