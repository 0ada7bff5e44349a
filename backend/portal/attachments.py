"""Files from an external party on their step: a photo of the goods or a delivery note, into an
`attachment` or `image` field of the order form that the node grants the party as editable. Stored
by the form attachment machinery (backend/forms/files.py, random ids, opaque downloads), checked
against the field's own limits (image type, max file size, max files) and the request body limit,
then appended to the field's list through the order pipeline as the party (rules, flow, timeline,
audit), like any other save from the portal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from backend.audit import service as audit
from backend.errors import GendanError
from backend.forms import files
from backend.forms import service as forms_service
from backend.orders import service as orders_service
from backend.orders.schemas import OrderUpdate
from backend.portal.access import _touch, resolve
from backend.portal.service import not_found, party_actor
from engine.forms.definition import FILE_TYPES, FieldType, FormField
from engine.forms.values import MAX_FILES


@dataclass
class FileField:
    key: str
    label: str
    is_image: bool
    files: list[dict[str, Any]]
    max_size: int
    is_full: bool


def _form_fields(session: Session, order) -> dict[str, FormField]:
    defn = None
    if order.form_key and order.form_version:
        try:
            defn = forms_service.get_definition(session, order.form_key, order.form_version)
        except GendanError:
            defn = None
    defn = defn or forms_service.get_published(session)
    return {} if defn is None else {f.key: f for f in defn.data_fields() if f.type in FILE_TYPES}


def _limit(field: FormField, body_limit: int) -> int:
    return min(field.max_file_size or body_limit, body_limit)


def _most(field: FormField) -> int:
    return int(field.max) if field.max is not None else MAX_FILES


def file_fields(session: Session, access, *, body_limit: int) -> list[FileField]:
    """The attachment / image fields the node grants the party as editable, with what they hold."""
    order, grant = access.order, access.grant
    specs = _form_fields(session, order)
    locale = forms_service.engine_locale()
    out = []
    for path, perm in grant.permissions.items():
        field = specs.get(path[5:]) if path.startswith("data.") else None
        if field is None or perm != "editable":
            continue
        held = (order.data or {}).get(field.key)
        held = [f for f in (held if isinstance(held, list) else []) if isinstance(f, dict)]
        out.append(FileField(field.key, field.text("label", locale) or field.key, field.type == FieldType.IMAGE,
                             held, _limit(field, body_limit), len(held) >= _most(field)))
    return out


def file_fields_for(session: Session, *, token: str | None, now: datetime, body_limit: int,
                    order_id: int | None = None, user_id: int | None = None) -> list[FileField]:
    """For the party's order page: [] when the link opens no order (the page answers its 404 itself)."""
    try:
        access = resolve(session, token, now, order_id=order_id, user_id=user_id)
    except GendanError:
        return []
    if access.order is None or not access.grant.is_open:
        return []
    return file_fields(session, access, body_limit=body_limit)


def attach(session: Session, *, token: str | None, key: str, name: str, content_type: str, content: bytes,
           upload_dir: Path, body_limit: int, now: datetime, order_id: int | None = None,
           user_id: int | None = None) -> dict[str, Any]:
    """Store one file for the field `key` and append it to the order's list, as the party."""
    access = resolve(session, token, now, order_id=order_id, user_id=user_id, for_update=True)
    if access.order is None:
        raise not_found()
    if not access.grant.is_open:
        raise GendanError("portal.step_closed")
    field = _form_fields(session, access.order).get(key)
    if field is None or access.grant.permissions.get(f"data.{key}") != "editable":
        raise GendanError("portal.field_not_granted", {"field": key[:60]}, status=403)
    name = Path(name or "file").name[:200] or "file"
    content_type = (content_type or "application/octet-stream").split(";")[0].strip().lower()[:100]

    def refuse(code: str, **params) -> GendanError:
        return GendanError("validation.failed", {"count": 1}, status=422, fields={key: (code, params)})

    if not content:
        raise refuse("portal.file_empty")
    if field.type == FieldType.IMAGE and content_type not in files.INLINE_TYPES:
        raise refuse("form.image_type_invalid", name=name)
    if len(content) > _limit(field, body_limit):
        raise refuse("form.file_too_large", name=name, max=_limit(field, body_limit))
    order = access.order
    held = (order.data or {}).get(key)
    held = [f for f in (held if isinstance(held, list) else []) if isinstance(f, dict)]
    if len(held) >= _most(field):
        raise refuse("form.too_many_files", max=_most(field))
    person = None
    if access.user_id is not None:
        from backend.portal.models import PortalUser

        person = session.get(PortalUser, access.user_id)
    actor = party_actor(access.party, person=person.display_name if person else None)
    ref = files.store(upload_dir, actor=actor, name=name, content_type=content_type, content=content, now=now)
    orders_service.update_order(session, actor=actor, order_id=order.id, now=now, via="portal", commit=False,
                                payload=OrderUpdate(version=order.version, data={key: [*held, ref]}))
    audit.record(session, actor, "portal_link", access.link.id if access.link else 0, "submit", {},
                 {"party_id": access.party.id, "order_id": order.id, "node_key": access.grant.node_key,
                  "files": {key: ref["name"]},
                  **({"portal_user_id": access.user_id} if access.user_id else {})}, now)
    _touch(session, access.link, now)
    session.commit()
    return ref
