"""The admin area's shared parts: who may enter (AdminActor), the form helpers its pages use, and
/admin itself. The areas have their own modules: people (users and departments,
admin_people.py), API keys (admin_api_keys.py), imports, inbound sources, channels, outbox and the
audit log (imports.py, notifications.py, audit.py). Plain forms posting back to the page, each
calling one backend use case; bad input re-renders the form with a message per field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError

from backend import i18n
from backend.auth.actor import Actor
from backend.errors import GendanError, error_params
from frontend.pages.common import page_actor

router = APIRouter(prefix="/admin")


async def admin_actor(actor: Annotated[Actor, Depends(page_actor)]) -> Actor:
    if not actor.is_admin:
        raise GendanError("auth.forbidden")
    return actor


AdminActor = Annotated[Actor, Depends(admin_actor)]


# ---------------------------------------------------------------- form helpers

def _pattern_hints() -> dict[str, str]:
    """What a field's expected form is, said where "the format is not valid" left an admin guessing
    (a Chinese company's first user name is 张三)."""
    return {"username": i18n.gettext("A user name holds Latin letters, digits and . _ - only, such as zhang.san."),
            "email": i18n.gettext("Write the e-mail address as name@example.com.")}


def _field_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic errors as {field: translated message}, with the same codes the JSON API uses."""
    out: dict[str, str] = {}
    hints = _pattern_hints()
    for err in exc.errors():
        path = ".".join(str(p) for p in err.get("loc", ())) or "_"
        if err.get("type") == "string_pattern_mismatch" and path in hints:
            out.setdefault(path, hints[path])
            continue
        ctx = error_params(err)
        out.setdefault(path.split(".")[0], i18n.translate_error(f"field.{err.get('type', 'value_error')}",
                                                                {"field": path, **ctx}))
    return out


def _gendan_errors(exc: GendanError) -> tuple[str, dict[str, str]]:
    fields = {path: i18n.translate_error(code, params) for path, (code, params) in exc.fields.items()}
    return i18n.translate_error(exc.code, exc.params), fields


def _error_field(exc: GendanError, message: str, data: dict[str, Any] | None = None) -> dict[str, str]:
    """Which form field a service error is about, so the message shows next to it."""
    if exc.code == "user.username_taken":
        return {"username": message}
    if exc.code == "department.not_found":
        return {"parent_id" if data and data.get("parent_id") == exc.params.get("id") else "department_id": message}
    if exc.code == "department.cycle":
        return {"parent_id": message}
    if exc.code == "user.not_found" and data is not None:
        return {"head_id": message}
    return {}


def _optional_int(value: Any) -> int | None:
    value = (value or "").strip() if isinstance(value, str) else value
    return int(value) if value not in (None, "") and str(value).isdigit() else (None if value in (None, "") else value)


def _clean(value: Any) -> str | None:
    value = (value or "").strip()
    return value or None


def _validate(model: type[BaseModel], data: dict[str, Any]) -> tuple[BaseModel | None, dict[str, str]]:
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, _field_errors(exc)


def _flash(request: Request, message: str) -> None:
    request.session["flash"] = message


def _pop_flash(request: Request) -> str | None:
    return request.session.pop("flash", None)


@router.get("")
def admin_home(actor: AdminActor):
    return RedirectResponse("/admin/users", status_code=303)
