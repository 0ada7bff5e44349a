"""A connector's mapping as versioned data (issue 13, mapping editor): save (a new version when it
changed), list versions, restore one, export as JSON and import it back (validated), and preview
the orders a sample would make with a mapping that is not saved yet.

Saving goes through the connector's own check (service.check: paths, targets, the id path, every
transform), so a mapping the editor saves is one the worker can run.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.connectors.mapping_models import ConnectorMappingVersion
from backend.connectors.models import Connector
from backend.errors import GendanError
from backend.ingest.schemas import CORE_TARGETS, DATA_KEY, ImportMapping
from engine.connectors import transforms

EXPORT_FORMAT = "gendan.connector_mapping"
MAX_IMPORT_BYTES = 512_000
MAX_PREVIEW_RECORDS = 50
VERSIONS_LISTED = 50


class MappingVersionRead(BaseModel):
    version: int
    saved_by: int | None
    saved_by_name: str | None = None
    saved_at: datetime
    note: str | None = None
    fields: int = 0  # order fields mapped


class MappingPreviewRequest(BaseModel):
    """Records (fetched or pasted) and a mapping that need not be saved."""

    records: list[Any] = Field(max_length=MAX_PREVIEW_RECORDS)
    mapping: ImportMapping


class MappingSaveRequest(BaseModel):
    mapping: ImportMapping


def transform_problems(mapping: ImportMapping) -> dict[str, tuple[str, dict[str, Any]]]:
    """Field errors (`mapping.transforms.<target>`) of the mapping's transforms: unknown order
    fields, bad date patterns, zero factors, too many steps."""
    import re

    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for target, chain in mapping.transforms.items():
        key = f"transforms.{target}"
        if target not in CORE_TARGETS and not re.fullmatch(DATA_KEY, target):
            out[key] = ("transform.target_unknown", {"target": target})
            continue
        issues = transforms.validate_chain(chain)
        if issues:
            _, code, params = issues[0]
            out[key] = (code, {**params, "field": target})
    return out


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin or not actor.can_write:
        raise GendanError("auth.forbidden")


def _connector(session: Session, connector_id: int) -> Connector:
    connector = session.get(Connector, connector_id)
    if connector is None:
        raise GendanError("connector.not_found", {"id": connector_id})
    return connector


def _latest(session: Session, connector_id: int) -> ConnectorMappingVersion | None:
    return session.exec(select(ConnectorMappingVersion).where(ConnectorMappingVersion.connector_id == connector_id)
                        .order_by(ConnectorMappingVersion.version.desc()).limit(1)).scalars().first()


def record_version(session: Session, connector: Connector, saved_by: int | None, now: datetime,
                   note: str | None = None) -> int:
    """Keep the connector's current mapping as a new version when it differs from the last one
    (flush only: the caller's use case commits). Returns the current version number."""
    last = _latest(session, connector.id)
    if last is not None and last.mapping == connector.mapping and note is None:
        return last.version
    version = (last.version if last else 0) + 1
    session.add(ConnectorMappingVersion(connector_id=connector.id, version=version, mapping=connector.mapping,
                                        saved_by=saved_by or None, saved_at=now, note=note))
    session.flush()
    return version


def save_mapping(session: Session, *, actor: Actor, connector_id: int, mapping: ImportMapping, now: datetime,
                 note: str | None = None) -> MappingVersionRead:
    """The editor's "save": checked like the connector form's save, then a new version."""
    from backend.connectors import service
    from backend.connectors.runner import settings_for

    _require_admin(actor)
    connector = _connector(session, connector_id)
    mapping = service._with_zone(session, mapping)
    service.check(settings_for(connector.kind, connector.settings), mapping, connector.schedule_minutes,
                  connector.schedule_cron, connector.kind)
    connector.mapping = mapping.model_dump(mode="json")
    connector.updated_at = now
    version = record_version(session, connector, actor.user_id, now, note)
    session.commit()
    return _read(session, _one(session, connector_id, version))


def list_versions(session: Session, *, actor: Actor, connector_id: int) -> list[MappingVersionRead]:
    _require_admin(actor)
    _connector(session, connector_id)
    rows = session.exec(select(ConnectorMappingVersion).where(ConnectorMappingVersion.connector_id == connector_id)
                        .order_by(ConnectorMappingVersion.version.desc()).limit(VERSIONS_LISTED)).scalars().all()
    return [_read(session, r) for r in rows]


def count_versions(session: Session, connector_id: int) -> int:
    return session.exec(select(func.count()).select_from(ConnectorMappingVersion)
                        .where(ConnectorMappingVersion.connector_id == connector_id)).scalar_one()


def _one(session: Session, connector_id: int, version: int) -> ConnectorMappingVersion:
    row = session.exec(select(ConnectorMappingVersion).where(ConnectorMappingVersion.connector_id == connector_id,
                                                            ConnectorMappingVersion.version == version)).scalars().first()
    if row is None:
        raise GendanError("mapping.version_not_found", {"version": version})
    return row


def _read(session: Session, row: ConnectorMappingVersion) -> MappingVersionRead:
    from backend.people.models import User

    user = session.get(User, row.saved_by) if row.saved_by else None
    name = (getattr(user, "display_name", None) or getattr(user, "username", None)) if user else None
    return MappingVersionRead(version=row.version, saved_by=row.saved_by, saved_by_name=name, saved_at=row.saved_at,
                              note=row.note, fields=len((row.mapping or {}).get("columns") or {}))


def get_version(session: Session, *, actor: Actor, connector_id: int, version: int | None = None) -> dict[str, Any]:
    """A version's mapping (the current one without `version`)."""
    _require_admin(actor)
    connector = _connector(session, connector_id)
    if version is None:
        return connector.mapping
    return _one(session, connector_id, version).mapping


def restore(session: Session, *, actor: Actor, connector_id: int, version: int, now: datetime) -> MappingVersionRead:
    """Make an old version current again, as a new version (history is never rewritten)."""
    _require_admin(actor)
    _connector(session, connector_id)
    old = ImportMapping.model_validate(_one(session, connector_id, version).mapping)
    return save_mapping(session, actor=actor, connector_id=connector_id, mapping=old, now=now,
                        note=f"restored:{version}")


def export(session: Session, *, actor: Actor, connector_id: int, version: int | None = None) -> dict[str, Any]:
    """The mapping as a JSON document that `import_json` (here or in another installation) reads."""
    _require_admin(actor)
    connector = _connector(session, connector_id)
    row = _one(session, connector_id, version) if version is not None else _latest(session, connector_id)
    return {"format": EXPORT_FORMAT, "format_version": 1, "connector": connector.name, "kind": connector.kind,
            "version": row.version if row else None,
            "mapping": row.mapping if row is not None and version is not None else connector.mapping}


def parse_import(body: bytes) -> ImportMapping:
    """An exported document (or a bare mapping) as a mapping; a 4xx in words when it is not one."""
    if len(body) > MAX_IMPORT_BYTES:
        raise GendanError("mapping.import_too_large", {"max": MAX_IMPORT_BYTES})
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise GendanError("mapping.bad_json") from None
    if not isinstance(document, dict):
        raise GendanError("mapping.not_a_mapping")
    if "format" in document:
        if document.get("format") != EXPORT_FORMAT:
            raise GendanError("mapping.not_a_mapping")
        unknown = sorted(set(document) - {"format", "format_version", "connector", "kind", "version", "mapping"})
        if unknown:
            raise GendanError("mapping.unknown_fields", {"fields": ", ".join(str(u)[:40] for u in unknown[:5])})
        document = document.get("mapping")
        if not isinstance(document, dict):
            raise GendanError("mapping.not_a_mapping")
    try:
        return ImportMapping.model_validate(document)
    except ValidationError as exc:
        unknown = [".".join(str(p) for p in e["loc"]) for e in exc.errors() if e["type"] == "extra_forbidden"]
        if unknown:
            raise GendanError("mapping.unknown_fields", {"fields": ", ".join(u[:40] for u in unknown[:5])}) from None
        first = exc.errors()[0]
        raise GendanError("mapping.invalid", {"where": ".".join(str(p) for p in first["loc"])[:80],
                                              "problem": first["type"]}) from None


def import_json(session: Session, *, actor: Actor, connector_id: int, body: bytes, now: datetime) -> MappingVersionRead:
    _require_admin(actor)
    mapping = parse_import(body)
    return save_mapping(session, actor=actor, connector_id=connector_id, mapping=mapping, now=now, note="imported")


def preview(session: Session, *, actor: Actor, records: list[Any], mapping: ImportMapping) -> dict[str, Any]:
    """The source fields the records have and the orders they would make (nothing is written)."""
    from backend.connectors import service
    from backend.connectors.records import paths

    _require_admin(actor)
    problems = transform_problems(mapping)
    if problems:
        raise GendanError("validation.failed", {"count": len(problems)},
                          fields={f"mapping.{k}": v for k, v in problems.items()})
    mapping = service._with_zone(session, mapping)
    try:
        ZoneInfo(mapping.timezone)
    except (ZoneInfoNotFoundError, ValueError):  # half typed in the editor: say so, never a 500
        raise GendanError("validation.failed", {"count": 1}, fields={
            "mapping.timezone": ("import.timezone_unknown", {"timezone": mapping.timezone[:60]})}) from None
    records = records[:MAX_PREVIEW_RECORDS]
    previews = service._preview(session, records, mapping)
    return {"paths": paths(records), "previews": [p.model_dump(mode="json") for p in previews]}


#: the parts of a mapping the connector form edits; every other part belongs to the mapping editor
#: (or a template): transforms, line columns, data types, defaults, history
FORM_PARTS = ("columns", "stage_map", "status_map", "create_customers", "source", "timezone")


def merge_form_mapping(base: dict[str, Any], edited: dict[str, Any]) -> dict[str, Any]:
    """The mapping a save (or a sample) of the connector form means: the form's own parts
    (FORM_PARTS) as sent, every other part of `base` kept. `base` is the connector's saved mapping,
    read when the form is saved (not carried through the page, so a page opened before the
    mapping editor last saved cannot write older parts back), or a new connector's template's.
    A transform goes only with an order field the form stopped mapping to a path; one for a
    field that maps no path (a constant) stays."""
    merged = {k: v for k, v in base.items() if k not in FORM_PARTS}
    merged.update({k: edited[k] for k in FORM_PARTS if k in edited})
    old_columns, columns = base.get("columns") or {}, merged.get("columns") or {}
    transforms = {t: chain for t, chain in (base.get("transforms") or {}).items()
                  if t in columns or t not in old_columns}
    merged.pop("transforms", None)
    return {**merged, "transforms": transforms} if transforms else merged


def with_field_words(error: dict[str, Any]) -> dict[str, Any]:
    """A transform error whose `field` param is a core order field names it in the reader's words
    ("Amount", "金额") rather than its key; designed fields keep their key."""
    from backend import i18n
    from backend.connectors.mapping_messages import FIELD_WORDS

    params = error.get("params") or {}
    words = FIELD_WORDS.get(params.get("field")) if str(error.get("code", "")).startswith("transform.") else None
    if words is None:
        return error
    return {**error, "params": {**params, "field": i18n.gettext(words)}}
