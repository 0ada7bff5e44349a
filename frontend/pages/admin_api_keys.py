"""Admin pages for API keys: created and shown once, listed, revoked."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth import service as auth_service
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.people import service as people_service
from frontend.pages.admin import (
    AdminActor,
    _flash,
    _optional_int,
    _pop_flash,
)
from frontend.templating import render

router = APIRouter(prefix="/admin")


# ---------------------------------------------------------------- API keys

@router.get("/api-keys")
def api_keys_page(request: Request, session: DbSession, actor: AdminActor):
    return _api_keys(request, session, actor, created=request.session.pop("new_api_key", None))


def _api_keys(request: Request, session: Session, actor: Actor, *, created: dict | None = None,
              form: dict | None = None, errors: dict | None = None, status_code: int = 200):
    keys = auth_service.list_api_keys(session, actor=actor)
    users = people_service.list_users(session, actor=actor)
    return render(request, "admin/api_keys.html", {
        "nav": "admin", "tab": "api_keys", "keys": keys, "users": [u for u in users if u.is_active],
        "user_names": {u.id: u.display_name for u in users}, "created": created, "form": form or {},
        "errors": errors or {}, "flash": _pop_flash(request)}, status_code=status_code)


@router.post("/api-keys")
async def create_api_key(request: Request, session: DbSession, actor: AdminActor):
    return await run_in_threadpool(_create_api_key, request, session, actor, await request.form())


def _create_api_key(request: Request, session: Session, actor: Actor, form):
    data = {"name": (form.get("name") or "").strip(), "scope": form.get("scope") or "read",
            "user_id": _optional_int(form.get("user_id"))}
    errors = {}
    if not data["name"]:
        errors["name"] = i18n.translate_error("api_key.name_missing", {})
    elif len(data["name"]) > 120:
        errors["name"] = i18n.translate_error("field.string_too_long", {"max_length": 120})
    if data["scope"] not in ("read", "write"):
        errors["scope"] = i18n.translate_error("field.enum", {"expected": "read, write"})
    if data["user_id"] is not None:
        if not isinstance(data["user_id"], int):
            errors["user_id"] = i18n.translate_error("field.int_parsing", {})
        else:
            try:
                target = people_service.get_user(session, actor=actor, user_id=data["user_id"])
            except GendanError as exc:
                errors["user_id"] = i18n.translate_error(exc.code, exc.params)
            else:
                if not target.is_active:
                    errors["user_id"] = i18n.translate_error("user.not_found", {"id": data["user_id"]})
    if errors:
        return _api_keys(request, session, actor, form=data, errors=errors, status_code=422)
    key, clear = auth_service.create_api_key(session, actor=actor, name=data["name"], scope=data["scope"],
                                             user_id=data["user_id"], now=utcnow())
    # post/redirect/get, so reloading cannot create a second key; the clear key rides in the
    # (signed) session cookie for exactly one page view and is dropped when it is shown
    request.session["new_api_key"] = {"name": key.name, "key": clear}
    return RedirectResponse("/admin/api-keys", status_code=303)


@router.post("/api-keys/{key_id}/revoke")
def revoke_api_key(request: Request, session: DbSession, actor: AdminActor, key_id: int):
    key = auth_service.revoke_api_key(session, actor=actor, key_id=key_id, now=utcnow())
    _flash(request, i18n.gettext("API key %(name)s was revoked.", name=key.name))
    return RedirectResponse("/admin/api-keys", status_code=303)
