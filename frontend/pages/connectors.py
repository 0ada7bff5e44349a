"""Admin pages for pull connectors: the list with health, the form per kind (fields, the mapping
as a table of source path -> order field, "fetch sample" with a preview of the orders), and the
health detail with "run now" and "re-read from a date". Plain forms; the sample swaps in by htmx.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.connectors import mapping as mapping_versions
from backend.connectors import runner, vendors
from backend.connectors import service as connector_service
from backend.connectors.schemas import (
    ConnectorCreate,
    ConnectorSecrets,
    ConnectorUpdate,
    FolderSettings,
    HttpJsonSettings,
)
from backend.connectors.sql_settings import SqlPullSettings
from backend.connectors.vendor_settings import VendorSettings
from backend.errors import GendanError, error_params
from backend.ingest.schemas import ImportMapping
from backend.installation.service import get_installation
from frontend.pages import connectors_sql, connectors_vendor
from frontend.pages.admin import AdminActor, _flash, _pop_flash
from frontend.pages.common import N_
from frontend.pages.imports import TARGETS, _designed_targets, _parse_pairs
from frontend.templating import is_htmx, render

router = APIRouter(prefix="/admin")
MAPPING_ROWS = 12  # rows of the mapping table (filled ones plus blanks)
TEXT_SETTINGS = ("url_template", "secret_header_name", "auth", "token_url", "client_id", "scope", "paging",
                 "next_cursor_path", "next_link_path", "records_path", "since_path", "initial_since")
NUMBER_SETTINGS = ("first_page", "page_size", "rate_limit_per_second", "max_retries", "timeout_seconds",
                   "max_response_bytes", "max_records_per_run")
FOLDER_SETTINGS = ("folder", "pattern", "settle_seconds", "max_files_per_run", "max_rows_per_file")
PAGING_LABELS = {"none": N_("One request"), "page": N_("Page number {page}"), "offset": N_("Offset {offset}"),
                 "cursor": N_("Cursor from the answer {cursor}"), "next_link": N_("Next link in the answer")}
STATUS_LABELS = {"ok": N_("OK"), "failed": N_("Failed"), "running": N_("Running")}
TRIGGER_LABELS = {"schedule": N_("Scheduled"), "manual": N_("Run now"), "reread": N_("Re-read")}


# ---------------------------------------------------------------- list and health

@router.get("/connectors")
def connectors_page(request: Request, session: DbSession, actor: AdminActor):
    items = connector_service.list_connectors(session, actor=actor, now=utcnow())
    return render(request, "connectors/list.html", {
        "nav": "admin", "tab": "connectors", "connectors": items, "status_labels": STATUS_LABELS,
        "flash": _pop_flash(request), "lag": _lag})


@router.get("/connector-templates")
def templates_page(request: Request, session: DbSession, actor: AdminActor):
    """New from template: each vendor template with what it fills and what it leaves to the user."""
    return render(request, "connectors/templates.html", {
        "nav": "admin", "tab": "connectors", "templates": connectors_vendor.all_views()})


@router.get("/connectors/new")
def new_connector_page(request: Request, session: DbSession, actor: AdminActor, kind: str = "http_json",
                       template: str = ""):
    zone = get_installation(session).timezone
    chosen = vendors.get(template) if template else None
    if chosen is not None:
        return _form_page(request, session, None, connectors_vendor.form_from_template(chosen, zone))
    form = {"kind": "sql" if kind == "sql" else "http_json", **(connectors_sql.SQL_DEFAULTS if kind == "sql" else {}),
            "auth": "none", "paging": "none", "first_page": "1", "rate_limit_per_second": "5", "max_retries": "3",
            "timeout_seconds": "20", "max_records_per_run": "10000", "max_response_bytes": "5000000",
            "schedule_minutes": "5", "max_failures": "5", "source": "connector", "timezone": zone,
            "is_enabled": "on", "create_customers": ""}
    if request.query_params.get("kind") == "folder":
        form.update({"kind": "folder", "pattern": "*.xlsx, *.csv", "settle_seconds": "10",
                     "max_files_per_run": "20", "max_rows_per_file": "10000", "source": "folder"})
    return _form_page(request, session, None, form)


@router.get("/connectors/{connector_id}")
def connector_page(request: Request, session: DbSession, actor: AdminActor, connector_id: int):
    return _detail(request, session, actor, connector_id)


def _detail(request: Request, session: Session, actor: Actor, connector_id: int, *, error: str | None = None,
            status_code: int = 200):
    now = utcnow()
    connector = connector_service.get_connector(session, actor=actor, connector_id=connector_id, now=now)
    runs = connector_service.list_runs(session, actor=actor, connector_id=connector_id)
    record_errors = connector_service.list_record_errors(session, actor=actor, connector_id=connector_id)
    last_record = connector.last_error_record
    return render(request, "connectors/detail.html", {
        "nav": "admin", "tab": "connectors", "c": connector, "runs": runs, "record_errors": record_errors,
        "last_record_messages": [connector_service.describe(e) for e in (last_record or {}).get("errors", [])],
        "status_labels": STATUS_LABELS, "trigger_labels": TRIGGER_LABELS, "flash": _pop_flash(request),
        "error": error, "lag": _lag, "as_json": _as_json, "today": now.date().isoformat()}, status_code=status_code)


def _lag(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return i18n.gettext("%(n)s s") % {"n": seconds}
    if seconds < 7200:
        return i18n.gettext("%(n)s min") % {"n": seconds // 60}
    return i18n.gettext("%(n)s h") % {"n": seconds // 3600}


def _as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)[:4000]


@router.post("/connectors/{connector_id}/run")
async def run_now(request: Request, session: DbSession, actor: AdminActor, connector_id: int):
    connector_service.request_run(session, actor=actor, connector_id=connector_id)
    session.rollback()  # the run opens its own sessions
    run = await run_in_threadpool(runner.run_connector, request.app.state.engine, connector_id, utcnow(),
                                  trigger="manual")
    if run is None:
        _flash(request, i18n.gettext("A worker is running this connector right now; look again in a moment."))
    elif run.status == "ok":
        _flash(request, i18n.gettext("Run finished: %(read)s read, %(created)s created, %(updated)s updated, "
                                     "%(failed)s failed.") % {"read": run.read_count, "created": run.created_count,
                                                              "updated": run.updated_count,
                                                              "failed": run.failed_count})
    else:
        _flash(request, i18n.gettext("The run failed: %(error)s") % {
            "error": i18n.translate_error(run.error["code"], run.error.get("params") or {})})
    return RedirectResponse(f"/admin/connectors/{connector_id}", status_code=303)


@router.post("/connectors/{connector_id}/reread")
async def reread(request: Request, session: DbSession, actor: AdminActor, connector_id: int):
    form = await request.form()
    try:
        since = date.fromisoformat(str(form.get("since") or ""))
    except ValueError:
        return _detail(request, session, actor, connector_id, status_code=422, error=i18n.translate_error(
            "connector.since_invalid", {"value": str(form.get("since") or "")[:40]}))
    connector_service.reread_from(session, actor=actor, connector_id=connector_id, since=since, now=utcnow())
    _flash(request, i18n.gettext("The next run reads everything changed since %(date)s.") % {"date": since})
    return RedirectResponse(f"/admin/connectors/{connector_id}", status_code=303)


@router.post("/connectors/{connector_id}/enabled")
async def set_enabled(request: Request, session: DbSession, actor: AdminActor, connector_id: int):
    form = await request.form()
    connector_service.set_enabled(session, actor=actor, connector_id=connector_id,
                                  is_enabled=form.get("is_enabled") == "on", now=utcnow())
    return RedirectResponse(f"/admin/connectors/{connector_id}", status_code=303)


# ---------------------------------------------------------------- the form

@router.get("/connectors/{connector_id}/edit")
def edit_connector_page(request: Request, session: DbSession, actor: AdminActor, connector_id: int):
    c = connector_service.get_connector(session, actor=actor, connector_id=connector_id)
    form = {k: "" if v is None else str(v) for k, v in c.settings.items()
            if k in TEXT_SETTINGS + NUMBER_SETTINGS + FOLDER_SETTINGS}
    if c.kind == "sql":
        form = {**form, **connectors_sql.form_from_settings(c.settings)}
    if c.kind == "vendor":
        form = {**connectors_vendor.form_from_settings(c.settings), "template": c.settings.get("vendor", "")}
    form["kind"] = c.kind
    form["headers"] = "\n".join(f"{k}: {v}" for k, v in (c.settings.get("headers") or {}).items())
    mapping = c.mapping
    form.update({"name": c.name, "schedule_minutes": str(c.schedule_minutes or ""),
                 "schedule_cron": c.schedule_cron or "", "max_failures": str(c.max_failures),
                 "is_enabled": "on" if c.is_enabled else "", "source": mapping.get("source", ""),
                 "timezone": mapping.get("timezone", ""),
                 "create_customers": "on" if mapping.get("create_customers") else "",
                 "stage_map": "\n".join(f"{k}={v}" for k, v in {**mapping.get("stage_map", {}),
                                                               **mapping.get("status_map", {})}.items())})
    for i, (target, path) in enumerate((mapping.get("columns") or {}).items()):
        form[f"map_path_{i}"], form[f"map_target_{i}"] = path, target
    return _form_page(request, session, c, form)


def _form_page(request: Request, session: Session, connector, form: dict[str, str], *, error: str | None = None,
               errors: dict[str, str] | None = None, status_code: int = 200):
    template = vendors.get(form.get("template") or form.get("vendor") or "")
    targets = [(t, i18n.gettext(label)) for t, label in TARGETS] + [
        (d["target"], d["label"]) for d in _designed_targets(session, line_items=True)]
    targets += [t for t in connectors_vendor.extra_targets(template) if t[0] not in dict(targets)]
    return render(request, "connectors/form.html", {
        "template": connectors_vendor.view(template) if template else None,
        "nav": "admin", "tab": "connectors", "c": connector, "form": form, "errors": errors or {}, "error": error,
        "targets": targets, "rows": range(MAPPING_ROWS), "paging_labels": PAGING_LABELS,
        "dialect_labels": connectors_sql.DIALECT_LABELS,
        "saved_secrets": connector.saved_secrets if connector else [], "folder_root": _folder_root()},
        status_code=status_code)


def _folder_root() -> str:
    from backend.connectors import folder

    return str(folder.root())


def _form_values(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(settings, secrets, mapping) as the API takes them, from the form's fields."""
    if form.get("kind") == "folder":
        settings: dict[str, Any] = {k: form.get(k, "").strip() for k in FOLDER_SETTINGS if form.get(k, "").strip()}
        settings.setdefault("folder", "")
        _, secrets, mapping = _form_values({**form, "kind": "http_json"})
        return settings, {}, mapping
    settings = {k: form.get(k, "").strip() for k in TEXT_SETTINGS}
    settings["secret_header_name"] = settings["secret_header_name"] or None
    settings["auth"] = settings["auth"] or "none"
    settings["paging"] = settings["paging"] or "none"
    for key in NUMBER_SETTINGS:
        value = form.get(key, "").strip()
        if value:
            settings[key] = value
    settings["headers"] = dict(_header_lines(form.get("headers", ""))[0])
    secrets = {k: form.get(k) or None for k in ("client_secret", "secret_header_value")}
    if form.get("kind") == "sql":
        settings, secrets = connectors_sql.settings_from_form(form), {"password": form.get("password") or None}
    if form.get("kind") == "vendor":
        settings, secrets = connectors_vendor.settings_from_form(form)
    # secrets typed before the form came back with an error ride the page sealed (never in clear):
    # a field left empty then means "the value entered", as on the inbound format page
    pending = _unseal_secrets(form.get("secrets_pending") or "")
    secrets = {k: v or (pending.get(k) if isinstance(pending.get(k), str) else None) for k, v in secrets.items()}
    columns = {}
    for i in range(MAPPING_ROWS):
        path, target = form.get(f"map_path_{i}", "").strip(), form.get(f"map_target_{i}", "").strip()
        if path and target:
            columns[target] = path
    statuses = {"cancelled", "completed"}
    pairs = _parse_pairs(form.get("stage_map", ""))
    mapping = {"columns": columns, "stage_map": {k: v for k, v in pairs.items() if v not in statuses},
               "status_map": {k: v for k, v in pairs.items() if v in statuses},
               "create_customers": form.get("create_customers") == "on",
               "source": (form.get("source") or "connector").strip(), "timezone": (form.get("timezone") or "").strip()}
    return settings, secrets, mapping


def _header_lines(text: str) -> tuple[list[tuple[str, str]], list[int]]:
    """(name, value) of each "Name: value" line, and the numbers of the lines that are not one: those
    were dropped without a word, so a mistyped `X-Api-Key abc` saved a connector without its key."""
    headers, bad = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        name, colon, value = line.partition(":")
        if colon and name.strip():
            headers.append((name.strip(), value.strip()))
        elif line.strip():
            bad.append(number)
    return headers, bad


def _header_error(form: dict[str, str]) -> str | None:
    if form.get("kind") in ("folder", "sql", "vendor"):
        return None
    bad = _header_lines(form.get("headers", ""))[1]
    if not bad:
        return None
    return i18n.gettext("Line %(lines)s is not \"Name: value\" (e.g. X-Api-Key: abc123).") % {
        "lines": ", ".join(str(n) for n in bad)}


def _base_mapping(session: Session, actor: Actor, connector_id: int | None, form: dict[str, str]) -> dict[str, Any]:
    """What the form's mapping parts are merged into (mapping_versions.merge_form_mapping): the
    saved connector's mapping, a new connector's template's, else nothing."""
    if connector_id is not None:
        return connector_service.get_connector(session, actor=actor, connector_id=connector_id).mapping
    template = vendors.get(form.get("template") or form.get("vendor") or "")
    return dict(template.mapping) if template else {}


def _with_sealed(form: dict[str, str], secrets: dict[str, Any]) -> dict[str, str]:
    """The form to show again: the secrets entered, sealed into one hidden field (their names in
    `secrets_pending_names` for the page's "entered, not saved yet"), never echoed in clear."""
    typed = {k: v[:2000] for k, v in secrets.items() if isinstance(v, str) and v}
    out = {k: v for k, v in form.items() if k not in ("secrets_pending", *secrets)}
    if typed:
        from backend.connectors import crypto

        out["secrets_pending"] = crypto.encrypt({"pending_secrets": typed})
        out["secrets_pending_names"] = sorted(typed)
    return out


def _unseal_secrets(token: str) -> dict[str, Any]:
    """The secrets a sealed field carries; {} for a token this installation did not seal."""
    from backend.connectors import crypto

    if not token:
        return {}
    try:
        value = crypto.decrypt(token[:20_000]).get("pending_secrets")
    except (GendanError, ValueError, AttributeError):
        return {}
    return value if isinstance(value, dict) else {}


def _errors_of(exc: ValidationError) -> dict[str, str]:
    """pydantic errors keyed by the form field they are about (the last name in their path)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        names = [str(p) for p in err.get("loc", ()) if isinstance(p, str)]
        key = names[-1] if names else "_"
        if names[:1] == ["mapping"] or (len(names) > 1 and names[-2] == "columns"):
            key = "mapping"
        ctx = error_params(err)
        out.setdefault(key, i18n.translate_error(f"field.{err.get('type', 'value_error')}", {"field": key, **ctx}))
    return out


def _service_errors(exc: GendanError) -> dict[str, str]:
    """The service's errors keyed by the form field they are about. The mapping's all stand above its
    table, one after the other: keeping only the first, the page said "3 fields are not valid" and
    showed one."""
    out: dict[str, str] = {}
    for path, (code, params) in (exc.fields or {}).items():
        message = i18n.translate_error(code, params)
        if path.startswith("mapping."):
            shown = out.get("mapping")
            out["mapping"] = message if not shown else shown if message in shown else f"{shown} {message}"
            continue
        out.setdefault(path.split(".", 1)[1] if path.startswith("settings.") else path, message)
    if exc.code == "connector.name_taken":
        out["name"] = i18n.translate_error(exc.code, exc.params)
    if exc.code.startswith("connector.folder_"):
        out["folder"] = i18n.translate_error(exc.code, exc.params)
    return out


@router.post("/connectors")
async def create_connector(request: Request, session: DbSession, actor: AdminActor):
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_save, request, session, actor, None, form)


@router.post("/connectors/{connector_id}")
async def update_connector(request: Request, session: DbSession, actor: AdminActor, connector_id: int):
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_save, request, session, actor, connector_id, form)


def _save(request: Request, session: Session, actor: Actor, connector_id: int | None, form: dict[str, str]):
    settings, secrets, mapping = _form_values(form)
    kind = form.get("kind") if form.get("kind") in ("folder", "sql", "vendor") else "http_json"
    body = {"name": form.get("name", "").strip(), "kind": kind,
            "settings": settings, "secrets": secrets, "mapping": mapping,
            "schedule_minutes": form.get("schedule_minutes", "").strip() or None,
            "schedule_cron": form.get("schedule_cron", "").strip() or None,
            "max_failures": form.get("max_failures", "").strip() or 5, "is_enabled": form.get("is_enabled") == "on"}
    existing = connector_service.get_connector(session, actor=actor, connector_id=connector_id) \
        if connector_id else None
    # the form edits some parts of the mapping: the others (the mapping editor's, a template's) are kept
    body["mapping"] = mapping_versions.merge_form_mapping(
        existing.mapping if existing is not None else _base_mapping(session, actor, None, form), mapping)
    try:
        if form.get("kind") == "folder":
            FolderSettings.model_validate(settings)  # its own errors, not those of every kind
        if (header_error := _header_error(form)) is not None:
            return _form_page(request, session, existing, _with_sealed(form, secrets), errors={"headers": header_error},
                              status_code=422, error=i18n.gettext("Please correct the marked fields."))
        if existing is None:
            saved = connector_service.create_connector(session, actor=actor, payload=ConnectorCreate.model_validate(
                body), now=utcnow())
        else:
            if body["schedule_cron"] is None:
                body["schedule_cron"] = ""
            body.pop("kind")
            saved = connector_service.update_connector(session, actor=actor, connector_id=connector_id,
                                                       payload=ConnectorUpdate.model_validate(body), now=utcnow())
    except ValidationError as exc:
        return _form_page(request, session, existing, _with_sealed(form, secrets), errors=_errors_of(exc),
                          status_code=422, error=i18n.gettext("Please correct the marked fields."))
    except GendanError as exc:
        session.rollback()
        return _form_page(request, session, existing, _with_sealed(form, secrets), errors=_service_errors(exc),
                          status_code=exc.status, error=i18n.translate_error(exc.code, exc.params))
    _flash(request, i18n.gettext("Connector %(name)s was saved.") % {"name": saved.name})
    return RedirectResponse(f"/admin/connectors/{saved.id}", status_code=303)


@router.post("/connectors-sample")
async def fetch_sample(request: Request, session: DbSession, actor: AdminActor):
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_sample, request, session, actor, form)


def _sample(request: Request, session: Session, actor: Actor, form: dict[str, str]):
    settings, secrets, mapping = _form_values(form)
    connector_id = int(form["connector_id"]) if form.get("connector_id", "").isdigit() else None
    # preview with the parts the form does not edit (transforms, line columns, ...), as a run applies them
    mapping = mapping_versions.merge_form_mapping(_base_mapping(session, actor, connector_id, form), mapping)
    context: dict[str, Any] = {"sample": None, "error": None, "mapping_error": None}
    try:
        model = {"sql": SqlPullSettings, "folder": FolderSettings, "vendor": VendorSettings}.get(
            form.get("kind", ""), HttpJsonSettings)
        parsed_settings = model.model_validate(settings)
        parsed_mapping = None
        if mapping["columns"]:
            try:
                parsed_mapping = ImportMapping.model_validate(mapping)
            except ValidationError as exc:
                context["mapping_error"] = "; ".join(_errors_of(exc).values())
        context["sample"] = connector_service.fetch_sample(
            session, actor=actor, settings=parsed_settings, secrets=ConnectorSecrets.model_validate(secrets),
            mapping=parsed_mapping, connector_id=connector_id)
    except ValidationError as exc:
        context["error"] = "; ".join(f"{k}: {v}" for k, v in _errors_of(exc).items())
    except GendanError as exc:
        session.rollback()
        context["error"] = i18n.translate_error(exc.code, exc.params)
    context["as_json"] = _as_json
    status = 200 if is_htmx(request) or context["error"] is None else 422
    return render(request, "connectors/_sample.html", context, status_code=status)


@router.post("/connectors-test")
async def test_connection(request: Request, session: DbSession, actor: AdminActor):
    """SQL pull: connect read-only and find the view and its columns; the answer in words."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_test_connection, request, session, actor, form)


def _test_connection(request: Request, session: Session, actor: Actor, form: dict[str, str]):
    settings, secrets, _ = _form_values({**form, "kind": "sql"})
    connector_id = int(form["connector_id"]) if form.get("connector_id", "").isdigit() else None
    ok, message = False, ""
    try:
        order = connector_service.test_connection(
            session, actor=actor, settings=SqlPullSettings.model_validate(settings),
            secrets=ConnectorSecrets.model_validate(secrets), connector_id=connector_id)
        ok, message = True, connectors_sql.connected_message(order)
    except ValidationError as exc:
        message = "; ".join(f"{k}: {v}" for k, v in _errors_of(exc).items())
    except GendanError as exc:
        session.rollback()
        message = i18n.translate_error(exc.code, exc.params)
    status = 200 if is_htmx(request) or ok else 422
    return render(request, "connectors/_test.html", {"ok": ok, "message": message}, status_code=status)
