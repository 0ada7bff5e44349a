"""Connector use cases for admins: save (secrets encrypted, never returned), list with health,
run now, re-read from a date, fetch a sample and preview the orders it would make."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.connectors import crypto
from backend.connectors import mapping as mapping_versions
from backend.connectors import schedule as connector_schedule
from backend.connectors.http_pull import HttpPull
from backend.connectors.models import Connector, ConnectorRecordError, ConnectorRun
from backend.connectors.records import paths
from backend.connectors.runner import parse_record, settings_for
from backend.connectors.schemas import (
    ConnectorCreate,
    ConnectorRead,
    ConnectorSecrets,
    ConnectorUpdate,
    FolderSettings,
    HttpJsonSettings,
    RecordErrorRead,
    RunRead,
    SamplePreview,
    SampleRead,
    settings_kind,
)
from backend.connectors.sql_pull import SqlPull, server_identity
from backend.connectors.sql_settings import SqlPullSettings
from backend.connectors.vendor_settings import VendorSettings
from backend.errors import GendanError
from backend.ingest import service as ingest_service
from backend.ingest.schemas import ImportMapping
from backend.installation.service import get_installation
from engine.connectors import jsonpath

SAMPLE_RECORDS = 5


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin or not actor.can_write:
        raise GendanError("auth.forbidden")


def _get(session: Session, connector_id: int) -> Connector:
    connector = session.get(Connector, connector_id)
    if connector is None:
        raise GendanError("connector.not_found", {"id": connector_id})
    return connector


def check(settings: HttpJsonSettings | FolderSettings | SqlPullSettings, mapping: ImportMapping,
          minutes: int | None, cron_line: str | None, kind: str = "http_json") -> None:
    """Every problem of a connector's settings at once, as field errors."""
    if settings_kind(settings) != kind:  # settings of another kind than the connector says
        raise GendanError("connector.settings_kind", {"kind": kind})
    if isinstance(settings, FolderSettings):
        from backend.connectors import folder

        folder.resolve(settings.folder)  # a path outside the root is refused before anything else
        return _raise_problems(folder.check_mapping(mapping), mapping, minutes, cron_line)
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    if isinstance(settings, VendorSettings):
        from backend.connectors import vendor_check

        fields.update(vendor_check.problems(settings))
    http = isinstance(settings, HttpJsonSettings)
    for name in ("records_path", "since_path", "next_cursor_path", "next_link_path") if http else ():
        value = getattr(settings, name)
        try:
            jsonpath.parse(value)
        except jsonpath.PathError:
            fields[f"settings.{name}"] = ("connector.path_invalid", {"value": value})
    for target, path in mapping.columns.items():
        try:
            jsonpath.parse(path)
        except jsonpath.PathError:
            fields[f"mapping.{target}"] = ("connector.path_invalid", {"value": path})
    if "external_id" not in mapping.columns:
        fields["mapping.external_id"] = ("connector.external_id_unmapped", {})
    if http and settings.auth == "oauth2_client_credentials" and not (settings.token_url and settings.client_id):
        fields["settings.token_url"] = ("connector.token_url_missing", {})
    _raise_problems(fields, mapping, minutes, cron_line, creates=not _update_only(settings))


def _update_only(settings: Any) -> bool:
    """An update-only vendor template (backend/connectors/vendor_update.py) needs no amount or customer."""
    if not isinstance(settings, VendorSettings):
        return False
    from backend.connectors import vendor_update

    return vendor_update.applies(settings)


def _raise_problems(fields: dict[str, tuple[str, dict[str, Any]]], mapping: ImportMapping, minutes: int | None,
                    cron_line: str | None, *, creates: bool = True) -> None:
    """Add what every kind checks (schedule, the mapping's targets) to the kind's own problems, and
    refuse them all at once."""
    try:
        connector_schedule.check(minutes, cron_line)
    except GendanError as exc:
        fields["schedule"] = (exc.code, exc.params)
    from backend.connectors.mapping import transform_problems

    for key, value in transform_problems(mapping).items():
        fields.setdefault(f"mapping.{key}", value)
    try:
        ingest_service.check_mapping(mapping, list(mapping.columns.values()))
    except GendanError as exc:
        for key, value in (exc.fields or {}).items():
            if not creates and key in ("amount", "customer"):
                continue
            fields.setdefault(f"mapping.{key}", value)
    if fields:
        raise GendanError("validation.failed", {"count": len(fields)}, fields=fields)


def _readable(token: str) -> dict[str, Any]:
    """The saved secrets, or none when this installation's key cannot read them (a changed
    GENDAN_CONNECTOR_KEY): the admin enters them again, and runs say so meanwhile."""
    try:
        return crypto.decrypt(token)
    except GendanError as exc:
        if exc.code != "connector.secrets_unreadable":
            raise
        return {}


def _merge_secrets(saved: str, sent: ConnectorSecrets | None) -> str:
    values = _readable(saved) if saved else {}
    for key, value in (sent.model_dump() if sent else {}).items():
        if value:  # blank keeps what is saved: a secret is never sent back to be re-sent
            values[key] = value
    return crypto.encrypt(values)


def to_read(session: Session, connector: Connector, now: datetime | None = None) -> ConnectorRead:
    saved = sorted(_readable(connector.secrets)) if connector.secrets else []
    last = session.exec(select(ConnectorRun).where(ConnectorRun.connector_id == connector.id)
                        .order_by(ConnectorRun.id.desc()).limit(1)).scalars().first()
    error = connector.last_error
    return ConnectorRead(
        id=connector.id, name=connector.name, kind=connector.kind, owner_id=connector.owner_id,
        is_enabled=connector.is_enabled, paused_reason=connector.paused_reason, settings=connector.settings,
        saved_secrets=saved, mapping=connector.mapping, schedule_minutes=connector.schedule_minutes,
        schedule_cron=connector.schedule_cron, cursor=connector.cursor or {}, max_failures=connector.max_failures,
        failures_in_row=connector.failures_in_row, next_run_at=connector.next_run_at,
        last_run_at=connector.last_run_at, last_success_at=connector.last_success_at,
        last_status=connector.last_status, last_error=error,
        last_error_message=i18n.translate_error(error["code"], error.get("params") or {}) if error else None,
        last_error_record=connector.last_error_record,
        lag_seconds=int((now - connector.last_success_at).total_seconds())
        if now and connector.last_success_at else None,
        last_run=RunRead.model_validate(last) if last else None)


def create_connector(session: Session, *, actor: Actor, payload: ConnectorCreate, now: datetime) -> ConnectorRead:
    _require_admin(actor)
    mapping = _with_zone(session, payload.mapping)
    check(payload.settings, mapping, payload.schedule_minutes, payload.schedule_cron, payload.kind)
    _name_free(session, payload.name, None)
    if isinstance(payload.settings, SqlPullSettings):
        test_connection(session, actor=actor, settings=payload.settings, secrets=payload.secrets)
    connector = Connector(
        name=payload.name, kind=payload.kind, owner_id=actor.user_id, is_enabled=payload.is_enabled,
        settings=payload.settings.model_dump(mode="json"), secrets=_merge_secrets("", payload.secrets),
        schedule_minutes=None if payload.schedule_cron else payload.schedule_minutes,
        schedule_cron=payload.schedule_cron, mapping=mapping.model_dump(mode="json"),
        max_failures=payload.max_failures, next_run_at=now if payload.is_enabled else None,
        created_at=now, updated_at=now)
    session.add(connector)
    session.flush()
    mapping_versions.record_version(session, connector, actor.user_id, now)
    session.commit()
    return to_read(session, connector, now)


def update_connector(session: Session, *, actor: Actor, connector_id: int, payload: ConnectorUpdate,
                     now: datetime) -> ConnectorRead:
    _require_admin(actor)
    connector = _get(session, connector_id)
    settings = payload.settings or settings_for(connector.kind, connector.settings)
    mapping = _with_zone(session, payload.mapping) if payload.mapping else ImportMapping.model_validate(
        connector.mapping)
    sent = payload.model_dump(exclude_unset=True)
    minutes = sent.get("schedule_minutes", connector.schedule_minutes)
    cron_line = (sent["schedule_cron"] or None) if "schedule_cron" in sent else connector.schedule_cron
    check(settings, mapping, minutes, cron_line, connector.kind)
    if payload.name is not None:
        _name_free(session, payload.name, connector.id)
        connector.name = payload.name
    if isinstance(settings, SqlPullSettings) and payload.settings is not None:
        test_connection(session, actor=actor, settings=settings, secrets=payload.secrets or ConnectorSecrets(),
                        connector_id=connector.id)
    connector.settings = settings.model_dump(mode="json")
    connector.mapping = mapping.model_dump(mode="json")
    connector.secrets = _merge_secrets(connector.secrets, payload.secrets)
    connector.schedule_cron, connector.schedule_minutes = cron_line, None if cron_line else minutes
    if payload.max_failures is not None:
        connector.max_failures = payload.max_failures
    if payload.is_enabled is not None and payload.is_enabled != connector.is_enabled:
        connector.is_enabled = payload.is_enabled
        connector.paused_reason = None
        connector.failures_in_row = 0
        connector.next_run_at = now if payload.is_enabled else None
    connector.updated_at = now
    mapping_versions.record_version(session, connector, actor.user_id, now)
    session.commit()
    return to_read(session, connector, now)


def _with_zone(session: Session, mapping: ImportMapping) -> ImportMapping:
    if mapping.timezone.strip():
        return mapping
    return mapping.model_copy(update={"timezone": get_installation(session).timezone})


def _name_free(session: Session, name: str, own_id: int | None) -> None:
    other = session.exec(select(Connector.id).where(Connector.name == name)).scalars().first()
    if other is not None and other != own_id:
        raise GendanError("connector.name_taken", {"name": name})


def get_connector(session: Session, *, actor: Actor, connector_id: int, now: datetime | None = None) -> ConnectorRead:
    _require_admin(actor)
    return to_read(session, _get(session, connector_id), now)


def list_connectors(session: Session, *, actor: Actor, now: datetime | None = None) -> list[ConnectorRead]:
    _require_admin(actor)
    rows = session.exec(select(Connector).order_by(Connector.name)).scalars().all()
    return [to_read(session, c, now) for c in rows]


def list_runs(session: Session, *, actor: Actor, connector_id: int, limit: int = 20) -> list[RunRead]:
    _require_admin(actor)
    _get(session, connector_id)
    runs = session.exec(select(ConnectorRun).where(ConnectorRun.connector_id == connector_id)
                        .order_by(ConnectorRun.id.desc()).limit(limit)).scalars().all()
    return [RunRead.model_validate(r) for r in runs]


def list_record_errors(session: Session, *, actor: Actor, connector_id: int, limit: int = 50) -> list[RecordErrorRead]:
    """The newest records that could not be used, with what is wrong in the current language."""
    _require_admin(actor)
    _get(session, connector_id)
    rows = session.exec(select(ConnectorRecordError).where(ConnectorRecordError.connector_id == connector_id)
                        .order_by(ConnectorRecordError.id.desc()).limit(limit)).scalars().all()
    return [RecordErrorRead(position=r.position, run_id=r.run_id, external_id=r.external_id, record=r.record,
                            errors=r.errors, messages=[describe(e) for e in r.errors]) for r in rows]


def count_record_errors(session: Session, connector_id: int) -> int:
    return session.exec(select(func.count()).select_from(ConnectorRecordError)
                        .where(ConnectorRecordError.connector_id == connector_id)).scalar_one()


def describe(error: dict[str, Any]) -> str:
    where = error.get("column") or error.get("field") or ""
    error = mapping_versions.with_field_words(error)
    text = ingest_service.describe(error)
    return f"{where}: {text}" if where and where != "_" else text


def request_run(session: Session, *, actor: Actor, connector_id: int) -> Connector:
    """Checks for "run now" (the caller runs it at once, under the connector's lease)."""
    _require_admin(actor)
    return _get(session, connector_id)


def reread_from(session: Session, *, actor: Actor, connector_id: int, since: date, now: datetime) -> ConnectorRead:
    """Start again from a date: the next run reads what changed since then (page token forgotten)."""
    _require_admin(actor)
    connector = _get(session, connector_id)
    connector.cursor = {"since": since.isoformat()}
    connector.next_run_at = now
    connector.updated_at = now
    session.commit()
    return to_read(session, connector, now)


def set_enabled(session: Session, *, actor: Actor, connector_id: int, is_enabled: bool, now: datetime) -> ConnectorRead:
    return update_connector(session, actor=actor, connector_id=connector_id,
                            payload=ConnectorUpdate(is_enabled=is_enabled), now=now)


def _secret_values(session: Session, secrets: ConnectorSecrets, connector_id: int | None) -> dict[str, Any]:
    saved = _get(session, connector_id).secrets if connector_id else ""
    return crypto.decrypt(_merge_secrets(saved, secrets)) if (saved or any(secrets.model_dump().values())) else {}


def test_connection(session: Session, *, actor: Actor, settings: SqlPullSettings, secrets: ConnectorSecrets,
                    connector_id: int | None = None) -> str:
    """Connect read-only and find the view, its cursor and key columns; the order rows are read in.
    Raises GendanError saying what is wrong (cannot connect, no such view, column missing, not read-only)."""
    _require_admin(actor)
    own = server_identity(session.connection())
    with SqlPull(settings, _secret_values(session, secrets, connector_id), own=own) as pull:
        return pull.order_preview()


def fetch_sample(session: Session, *, actor: Actor, settings: HttpJsonSettings | SqlPullSettings | VendorSettings,
                 secrets: ConnectorSecrets, mapping: ImportMapping | None, connector_id: int | None = None,
                 client: httpx.Client | None = None) -> SampleRead:
    """The source's first records and, with a mapping, the orders they would make (nothing is written)."""
    _require_admin(actor)
    if isinstance(settings, FolderSettings):
        return _folder_sample(session, settings, mapping)
    values = _secret_values(session, secrets, connector_id)
    if isinstance(settings, VendorSettings):
        from backend.clock import utcnow
        from backend.connectors import vendor_run

        records = vendor_run.sample(settings, values, utcnow(), limit=SAMPLE_RECORDS, client=client)
        previews = _preview(session, records, _with_zone(session, mapping)) if mapping else []
        return SampleRead(records=records, paths=paths(records), previews=previews)
    if isinstance(settings, SqlPullSettings):
        with SqlPull(settings, values, own=server_identity(session.connection())) as pull:
            records = [record for record, _ in pull.records({}, max_records=SAMPLE_RECORDS)]
            order = pull.order_preview()
        previews = _preview(session, records, _with_zone(session, mapping)) if mapping else []
        return SampleRead(records=records, paths=paths(records), previews=previews, order=order)
    quick = settings.model_copy(update={"max_retries": min(settings.max_retries, 1),
                                        "timeout_seconds": min(settings.timeout_seconds, 15)})
    records: list[Any] = []
    with HttpPull(quick, values, since=settings.initial_since, client=client) as pull:
        for page in pull.pages(max_records=SAMPLE_RECORDS):
            records.extend(page.records)
            break
    previews = _preview(session, records, _with_zone(session, mapping)) if mapping else []
    return SampleRead(records=records[:SAMPLE_RECORDS], paths=paths(records), previews=previews)


def _folder_sample(session: Session, settings: FolderSettings, mapping: ImportMapping | None) -> SampleRead:
    """The oldest waiting file's first rows (nothing is moved) and the orders they would make."""
    from zoneinfo import ZoneInfo

    from backend.connectors import folder
    from backend.settings import get_settings

    name, rows = folder.sample(settings, get_settings().max_upload_bytes)
    if name is None:
        raise GendanError("connector.folder_empty", {"pattern": settings.pattern})
    previews: list[SamplePreview] = []
    if mapping:
        mapping = _with_zone(session, mapping)
        zone, fields = ZoneInfo(mapping.timezone), ingest_service.data_fields(session)
        for index, row in enumerate(rows):
            line = index + 2
            parsed = folder.parse_file_row(line, list(row), list(row.values()), mapping, zone, fields)
            previews.append(SamplePreview(
                position=line, external_id=parsed.values.get("external_id"),
                values={k: str(v) if not isinstance(v, dict) else v for k, v in parsed.values.items()},
                customer=parsed.customer_code or parsed.customer_name,
                errors=[describe(e.model_dump(mode="json")) for e in parsed.errors]))
    return SampleRead(records=[{"file": name, **row} for row in rows], paths=list(rows[0]) if rows else [],
                      previews=previews)


def _preview(session: Session, records: list[Any], mapping: ImportMapping) -> list[SamplePreview]:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(mapping.timezone)
    fields = ingest_service.data_fields(session)
    out = []
    for position, record in enumerate(records, start=1):
        parsed = parse_record(position, record, mapping, zone, fields)
        messages = [describe(e.model_dump(mode="json")) for e in parsed.errors]
        customer = parsed.customer_code or parsed.customer_name
        if not parsed.errors and not mapping.create_customers:
            with session.no_autoflush:
                _, code = ingest_service.resolve_customer(session, code=parsed.customer_code,
                                                          name=parsed.customer_name, create=False, now=None)
            if code:
                messages.append(describe({"line": position, "column": mapping.columns.get("customer_code")
                                          or mapping.columns.get("customer"), "field": "customer", "code": code,
                                          "params": {"value": customer}}))
        out.append(SamplePreview(position=position, external_id=parsed.values.get("external_id"),
                                 values={k: str(v) if not isinstance(v, dict) else v for k, v in parsed.values.items()},
                                 customer=customer, errors=messages))
    return out
