"""Sign in, sign out, language switch."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth import service as auth_service
from backend.auth.actor import Actor
from backend.auth.deps import DbSession, _check_csrf, optional_actor
from backend.clock import utcnow
from backend.errors import GendanError
from backend.people import service as people_service
from frontend.templating import render

router = APIRouter()


def _safe_next(url: str | None) -> str:
    """Only same-site paths: never redirect a sign-in to another host."""
    if not url:
        return "/orders"
    parsed = urlparse(url)
    if parsed.scheme or parsed.netloc or not url.startswith("/") or url.startswith("//"):
        return "/orders"
    return url


@router.get("/")
def home(actor: Annotated[Actor | None, Depends(optional_actor)]):
    return RedirectResponse("/orders" if actor else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None):
    return render(request, "auth/login.html", {"next": _safe_next(next)})


@router.post("/login")
async def login(request: Request, session: DbSession, username: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/orders"):
    await _check_csrf(request)
    # in the threadpool: waiting for SQLite's write lock on the event loop would stall every request
    return await run_in_threadpool(_login, request, session, username, password, next)


def _login(request: Request, session: Session, username: str, password: str, next: str):
    settings = request.app.state.settings
    try:
        actor = auth_service.authenticate(session, username=username.strip(), password=password,
                                          client=request.client.host if request.client else "?", now=utcnow(),
                                          max_attempts=settings.login_attempts_per_minute)
    except GendanError as exc:
        status = 429 if exc.code == "auth.rate_limited" else 401
        return render(request, "auth/login.html",
                      {"error": i18n.translate_error(exc.code, exc.params), "username": username,
                       "next": _safe_next(next)}, status_code=status)
    sid = auth_service.start_session(session, actor=actor, now=utcnow())
    request.session.clear()  # a fresh session on sign-in (no fixation), with a new CSRF token
    request.session["uid"] = actor.user_id
    request.session["sid"] = sid
    request.session["csrf"] = secrets.token_urlsafe(24)
    if actor.locale:
        request.session["lang"] = actor.locale
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
async def logout(request: Request, session: DbSession):
    await _check_csrf(request)
    if request.session.get("sid"):
        await run_in_threadpool(auth_service.end_session, session, session_id=request.session["sid"], now=utcnow())
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    return RedirectResponse("/login", status_code=303)


@router.post("/lang")
async def switch_language(request: Request, session: DbSession,
                          actor: Annotated[Actor | None, Depends(optional_actor)],
                          lang: Annotated[str, Form()] = "zh_CN", next: Annotated[str, Form()] = "/"):
    await _check_csrf(request)
    chosen = i18n.normalize(lang) or i18n.DEFAULT_LOCALE
    request.session["lang"] = chosen
    if actor is not None:
        await run_in_threadpool(people_service.set_own_locale, session, actor=actor, locale=chosen)
    return RedirectResponse(_safe_next(next), status_code=303)
