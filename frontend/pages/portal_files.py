"""An external party's files on their step (a photo of the goods, a delivery note): one file per
post into an attachment / image field the node grants them (backend/portal/attachments.py), from
the link's page and from a portal user's order page. Refusals show the order page again with the
message on the field; a bad link is the portal's one 404."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from backend import i18n
from backend.auth.deps import DbSession, _check_csrf
from backend.clock import utcnow
from backend.errors import GendanError
from backend.portal import attachments
from frontend.pages import portal_login
from frontend.pages.portal import (
    _locale_of_token,
    _not_found,
    _order_page,
    _party_locale,
    _too_many,
    rate_limited,
)

router = APIRouter()


async def _read(request: Request) -> tuple[str, str, bytes]:
    await _check_csrf(request)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return "", "", b""
    return upload.filename or "file", upload.content_type or "", await upload.read()


def _errors(exc: GendanError) -> dict[str, str]:
    if exc.fields:
        return {k: i18n.translate_error(c, p) for k, (c, p) in exc.fields.items()}
    return {"_": i18n.translate_error(exc.code, exc.params)}


def _attach(request: Request, session: Session, *, token: str | None, user_id: int | None, order_id: int | None,
            key: str, upload: tuple[str, str, bytes]) -> None:
    name, content_type, content = upload
    settings = request.app.state.settings
    attachments.attach(session, token=token, user_id=user_id, order_id=order_id, key=key[:60], name=name,
                       content_type=content_type, content=content, upload_dir=settings.upload_dir,
                       body_limit=settings.max_body_bytes, now=utcnow())


def _by_link(request: Request, session: Session, token: str, order_id: int | None, key: str, upload):
    if rate_limited(session, request, write=True):
        return _too_many(request)
    try:
        _attach(request, session, token=token, user_id=None, order_id=order_id, key=key, upload=upload)
    except GendanError as exc:
        session.rollback()
        if exc.code == "portal.not_found":
            return _not_found(request)
        lang = _party_locale(request, _locale_of_token(session, token))
        try:
            errors = _errors(exc)
        finally:
            if lang is not None:
                i18n.reset_locale(lang)
        return _order_page(request, session, token, order_id, errors=errors, status_code=exc.status)
    suffix = f"/orders/{order_id}" if order_id is not None else ""
    return RedirectResponse(f"/p/{token}{suffix}?saved=1", status_code=303)


@router.post("/p/{token}/files/{key}")
async def link_file(request: Request, session: DbSession, token: str, key: str):
    upload = await _read(request)
    return await run_in_threadpool(_by_link, request, session, token, None, key, upload)


@router.post("/p/{token}/orders/{order_id}/files/{key}")
async def inbox_link_file(request: Request, session: DbSession, token: str, order_id: int, key: str):
    upload = await _read(request)
    return await run_in_threadpool(_by_link, request, session, token, order_id, key, upload)


def _by_user(request: Request, session: Session, order_id: int, key: str, upload):
    if rate_limited(session, request, write=True):
        return _too_many(request)
    signed = portal_login._signed_in(session, request)
    if signed is None:
        return RedirectResponse("/portal/login", status_code=303)
    user, party = signed
    try:
        _attach(request, session, token=None, user_id=user.id, order_id=order_id, key=key, upload=upload)
    except GendanError as exc:
        session.rollback()
        if exc.code == "portal.not_found":
            return _not_found(request)
        lang = _party_locale(request, party.locale)
        try:
            errors = _errors(exc)
        finally:
            if lang is not None:
                i18n.reset_locale(lang)
        return portal_login._order(request, session, user, party, order_id, errors=errors, status_code=exc.status)
    return RedirectResponse(f"/portal/orders/{order_id}?saved=1", status_code=303)


@router.post("/portal/orders/{order_id}/files/{key}")
async def user_file(request: Request, session: DbSession, order_id: int, key: str):
    upload = await _read(request)
    return await run_in_threadpool(_by_user, request, session, order_id, key, upload)
