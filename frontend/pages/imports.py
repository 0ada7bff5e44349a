"""Admin pages for getting orders in: Imports (upload a CSV, confirm the column mapping, watch the
progress, read and download the row errors) and Inbound sources (create a source and its secret,
read the delivery log). Plain forms and links; the progress block refreshes itself with htmx.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.ingest import inbound
from backend.ingest import service as import_service
from backend.ingest.inbound import SIGNATURE_HEADER, TIMESTAMP_HEADER
from backend.ingest.schemas import ImportMapping, InboundFormat, InboundSourceCreate
from backend.installation.service import get_installation
from backend.people import service as people_service
from frontend.pages.admin import AdminActor, _field_errors
from frontend.pages.common import N_, pgettext
from frontend.templating import is_htmx, render

router = APIRouter(prefix="/admin")

# the targets offered in the mapping form, in this order, with their labels
TARGETS = [
    ("external_id", N_("Order no. in the source system")), ("number", N_("Order no.")),
    ("customer", N_("Customer name")),
    ("customer_code", N_("Customer code")), ("amount", N_("Amount")), ("currency", N_("Currency")),
    ("stage", N_("Stage or status")), ("created", N_("Order date")), ("planned_delivery", N_("Planned delivery")),
    ("payment_due", N_("Payment due")),
]
# the type shown beside a designed field (the form designer's words)
TYPE_LABELS = {"text": N_("Text"), "long_text": N_("Long text"), "number": N_("Number"), "money": N_("Money"),
               "percent": N_("Percent"), "date": N_("Date"), "datetime": N_("Date and time"),
               "single_select": N_("Single select"), "multi_select": N_("Multi select"), "checkbox": N_("Checkbox"),
               "phone": N_("Phone number"), "email": N_("Email"), "line_items": N_("Line items")}
ROW_ERRORS_SHOWN = 200  # row problems listed on the job page; the rest are counted and downloadable
STATE_LABELS = {"uploaded": N_("Waiting for the column mapping"), "queued": N_("Queued"),
                "running": N_("Importing"), "done": N_("Finished"), "failed": N_("Failed")}
OUTCOME_LABELS = {"created": N_("Created"), "updated": N_("Updated"), "unchanged": N_("Unchanged"),
                  "rejected": N_("Rejected"), "message": N_("Customer message"), "records": N_("Records")}
SCHEMES = [("gendan", N_("Gendan (X-Gendan-Signature with timestamp)")),
           ("hmac_sha256_hex", N_("HMAC-SHA256 of the body, hex (e.g. GitHub)")),
           ("hmac_sha256_base64", N_("HMAC-SHA256 of the body, base64")),
           ("dingtalk", N_("DingTalk (timestamp and sign in the URL)")),
           ("static_token", N_("Static token header (weakest: does not cover the body)"))]
MAPPING_ROWS = 10


def _message(exc: GendanError) -> tuple[str, dict[str, str]]:
    return (i18n.translate_error(exc.code, exc.params),
            {path: i18n.translate_error(code, params) for path, (code, params) in exc.fields.items()})


# ---------------------------------------------------------------- imports

@router.get("/imports")
def imports_page(request: Request, session: DbSession, actor: AdminActor):
    return _imports(request, session, actor)


def _imports(request: Request, session: Session, actor: Actor, *, error: str | None = None, status_code: int = 200):
    jobs = import_service.list_imports(session, actor=actor)
    names = {u.id: u.display_name for u in people_service.list_users(session, actor=actor)}
    return render(request, "imports/list.html", {
        "nav": "admin", "tab": "imports", "jobs": jobs, "error": error, "state_labels": STATE_LABELS,
        "user_names": names},
        status_code=status_code)


@router.post("/imports")
async def upload(request: Request, session: DbSession, actor: AdminActor):
    form = await request.form()
    file = form.get("file")
    if file is None or isinstance(file, str) or not file.filename:
        return await run_in_threadpool(_imports, request, session, actor, status_code=422,
                                       error=i18n.translate_error("import.file_missing", {}))
    content = await file.read()
    return await run_in_threadpool(_upload, request, session, actor, file.filename, content)


def _upload(request: Request, session: Session, actor: Actor, filename: str, content: bytes):
    try:
        preview = import_service.upload_import(session, actor=actor, filename=filename, content=content,
                                               now=utcnow(), max_bytes=request.app.state.settings.max_upload_bytes)
    except GendanError as exc:
        session.rollback()
        return _imports(request, session, actor, error=_message(exc)[0], status_code=exc.status)
    return RedirectResponse(f"/admin/imports/{preview.job.id}", status_code=303)


@router.get("/imports/{job_id}")
def import_page(request: Request, session: DbSession, actor: AdminActor, job_id: int):
    job = import_service.get_import(session, actor=actor, job_id=job_id)
    if job.state == "uploaded":
        preview = import_service.preview_import(session, actor=actor, job_id=job_id)
        return _mapping(request, session, preview, form=None)
    ctx = _job_context(session, actor, job)
    if is_htmx(request) and request.headers.get("HX-Target") == "imports-progress":
        return render(request, "imports/job.html", ctx, block="progress")
    return render(request, "imports/job.html", ctx)


def _job_context(session: Session, actor: Actor, job) -> dict[str, Any]:
    is_finished = job.state in ("done", "failed")
    rows = import_service.list_row_errors(session, actor=actor, job_id=job.id, limit=ROW_ERRORS_SHOWN) \
        if is_finished else []
    errors = [{"line": r.line, "column": e.get("column") or e.get("field"), "message": import_service.describe(e)}
              for r in rows for e in r.errors]
    more_rows = max(0, job.failed_count - len(rows)) if is_finished else 0
    orders = import_service.imported_orders(session, actor=actor, job_id=job.id) if job.state == "done" else []
    processed = job.next_row
    percent = int(processed * 100 / job.total_rows) if job.total_rows else 100
    return {"nav": "admin", "tab": "imports", "job": job, "row_errors": errors, "more_error_rows": more_rows,
            "orders": orders, "percent": percent, "state_labels": STATE_LABELS, "is_finished": is_finished}


def _designed_targets(session: Session, *, line_items: bool = False) -> list[dict[str, Any]]:
    """The published order form's fields a column can fill: target, label in the reader's
    language, type, and every word a header may use for it (labels in both languages, the key).
    Line-items tables only where a source hands lists (connectors), not for a file's flat cells."""
    locale = "zh-CN" if i18n.get_locale() == "zh_CN" else "en"
    out = []
    for f in import_service.designed_fields(session):
        if str(f.type) == "line_items" and not line_items:
            continue
        label = f.label.get(locale) or f.label.get("en") or f.label.get("zh-CN") or f.key
        out.append({"target": f"data.{f.key}", "label": label, "type": i18n.gettext(TYPE_LABELS[str(f.type)]),
                    "words": {w.strip().casefold() for w in (*f.label.values(), f.key) if w}})
    return out


def _mapping(request: Request, session: Session, preview, *, form: dict | None, error: str | None = None,
             errors: dict[str, str] | None = None, status_code: int = 200):
    designed = _designed_targets(session)
    chosen = form
    if chosen is None:
        taken = set(preview.suggested.values())
        chosen = {f"col_{t}": c for t, c in preview.suggested.items()}
        for d in designed:  # a header that names a designed field (its label or key) is offered for it
            header = next((h for h in preview.job.headers if h.strip().casefold() in d["words"] and h not in taken),
                          None)
            if header is not None:
                chosen[f"col_{d['target']}"] = header
                taken.add(header)
        installation = get_installation(session)  # the admin's calendar (admin/calendar), not Shanghai and CNY
        chosen.update({"source": "csv", "timezone": installation.timezone,
                       "default_currency": installation.default_currency})
    return render(request, "imports/map.html", {
        "nav": "admin", "tab": "imports", "job": preview.job, "sample": preview.sample, "targets": TARGETS,
        "designed": designed, "form": chosen, "error": error, "errors": errors or {}}, status_code=status_code)


def _parse_pairs(text: str) -> dict[str, str]:
    """'已发货=shipping' lines -> {'已发货': 'shipping'}; blank lines ignored."""
    out = {}
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            if key.strip():
                out[key.strip()] = value.strip()
    return out


@router.post("/imports/{job_id}/start")
async def start(request: Request, session: DbSession, actor: AdminActor, job_id: int):
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_start, request, session, actor, job_id, form)


def _start(request: Request, session: Session, actor: Actor, job_id: int, form: dict[str, str]):
    columns = {t: form[f"col_{t}"] for t, _ in TARGETS if form.get(f"col_{t}")}
    columns.update({name[4:]: value for name, value in form.items()
                    if name.startswith("col_data.") and value and len(columns) < 60})
    defaults = {k: form[f"default_{k}"].strip() for k in ("amount", "currency")
                if (form.get(f"default_{k}") or "").strip()}
    statuses = {"cancelled", "completed"}
    pairs = _parse_pairs(form.get("stage_map", ""))
    data = {"columns": columns, "defaults": defaults,
            "stage_map": {k: v for k, v in pairs.items() if v not in statuses},
            "status_map": {k: v for k, v in pairs.items() if v in statuses},
            "create_customers": form.get("create_customers") == "on",
            "source": (form.get("source") or "csv").strip(), "timezone": (form.get("timezone") or "").strip()}
    try:
        mapping = ImportMapping.model_validate(data)
        import_service.start_import(session, actor=actor, job_id=job_id, mapping=mapping, now=utcnow())
    except ValidationError as exc:
        preview = import_service.preview_import(session, actor=actor, job_id=job_id)
        return _mapping(request, session, preview, form=form, errors=_field_errors(exc),
                        error=i18n.gettext("Please correct the marked fields."), status_code=422)
    except GendanError as exc:
        session.rollback()
        if exc.code == "import.already_started":
            return RedirectResponse(f"/admin/imports/{job_id}", status_code=303)
        preview = import_service.preview_import(session, actor=actor, job_id=job_id)
        message, fields = _message(exc)
        return _mapping(request, session, preview, form=form, errors=fields, error=message, status_code=exc.status)
    return RedirectResponse(f"/admin/imports/{job_id}", status_code=303)


@router.get("/imports/{job_id}/rows.csv")
def results_csv(session: DbSession, actor: AdminActor, job_id: int):
    text = import_service.row_results_csv(session, actor=actor, job_id=job_id)
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{job_id}-rows.csv"'})


@router.get("/imports/{job_id}/errors.csv")
def errors_csv(session: DbSession, actor: AdminActor, job_id: int):
    text = import_service.row_errors_csv(session, actor=actor, job_id=job_id)
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{job_id}-errors.csv"'})


# ---------------------------------------------------------------- inbound sources

@router.get("/inbound")
def inbound_page(request: Request, session: DbSession, actor: AdminActor, source: str | None = None):
    return _inbound(request, session, actor, created=request.session.pop("new_inbound_source", None),
                    source=source)


def _inbound(request: Request, session: Session, actor: Actor, *, created: dict | None = None,
             source: str | None = None, form: dict | None = None, errors: dict | None = None,
             error: str | None = None, status_code: int = 200):
    users = [u for u in people_service.list_users(session, actor=actor) if u.is_active]
    return render(request, "imports/inbound.html", {
        "nav": "admin", "tab": "inbound", "sources": inbound.list_sources(session, actor=actor),
        "deliveries": inbound.list_deliveries(session, actor=actor, source_key=(source or None) and source[:60]),
        "source": source, "users": users, "user_names": {u.id: u.display_name for u in users},
        "created": created, "form": form or {}, "errors": errors or {}, "error": error,
        "outcome_label": lambda outcome: pgettext("delivery", OUTCOME_LABELS[outcome]), "describe": lambda code, params: i18n.translate_error(code, params or {}),
        "signature_header": SIGNATURE_HEADER, "timestamp_header": TIMESTAMP_HEADER,
        "base_url": str(request.base_url).rstrip("/")}, status_code=status_code)


@router.post("/inbound")
async def create_source(request: Request, session: DbSession, actor: AdminActor):
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_create_source, request, session, actor, form)


def _create_source(request: Request, session: Session, actor: Actor, form: dict[str, str]):
    data = {"key": form.get("key", "").strip(), "name": form.get("name", "").strip(),
            "acts_as_id": int(form["acts_as_id"]) if form.get("acts_as_id", "").isdigit() else None,
            "creates_customers": form.get("creates_customers") == "on"}
    try:
        payload = InboundSourceCreate.model_validate(data)
        created = inbound.create_source(session, actor=actor, payload=payload, now=utcnow())
    except ValidationError as exc:
        return _inbound(request, session, actor, form=form, errors=_field_errors(exc), status_code=422,
                        error=i18n.gettext("Please correct the marked fields."))
    except GendanError as exc:
        session.rollback()
        message, fields = _message(exc)
        if exc.code == "inbound.source_taken":
            fields["key"] = message
        return _inbound(request, session, actor, form=form, errors=fields, error=message, status_code=exc.status)
    request.session["new_inbound_source"] = {"key": created.key, "name": created.name, "secret": created.secret}
    return RedirectResponse("/admin/inbound", status_code=303)


@router.post("/inbound/{source_id}/customers")
async def set_creates_customers(request: Request, session: DbSession, actor: AdminActor, source_id: int):
    form = await request.form()
    value = form.get("creates_customers") == "on"
    await run_in_threadpool(inbound.set_creates_customers, session, actor=actor, source_id=source_id, value=value,
                            now=utcnow())
    return RedirectResponse("/admin/inbound", status_code=303)


@router.post("/inbound/{source_id}/rotate")
async def rotate_secret(request: Request, session: DbSession, actor: AdminActor, source_id: int):
    rotated = await run_in_threadpool(inbound.rotate_secret, session, actor=actor, source_id=source_id)
    request.session["new_inbound_source"] = {"key": rotated.key, "name": rotated.name, "secret": rotated.secret,
                                             "is_rotated": True}
    return RedirectResponse("/admin/inbound", status_code=303)


# ---------------------------------------------------------------- a source's own format and signature

def _format_form(source: Any) -> dict[str, Any]:
    """The saved settings as the form's fields."""
    mapped = source.mapped or {}
    mapping = mapped.get("mapping") or {}
    sig = source.signature or {}
    rows = [(path, target) for target, path in (mapping.get("columns") or {}).items()]
    values = "\n".join([f"{k} = {v}" for k, v in (mapping.get("stage_map") or {}).items()]
                        + [f"{k} = {v}" for k, v in (mapping.get("status_map") or {}).items()])
    return {"body_format": source.body_format, "records_path": mapped.get("records_path", ""), "rows": rows,
            "value_map": values, "timezone": mapping.get("timezone", ""), "scheme": sig.get("scheme", "gendan"),
            "header": sig.get("header", ""), "prefix": sig.get("prefix", ""),
            "timestamp_header": sig.get("timestamp_header", ""), "tolerance": str(sig.get("tolerance", 300)),
            "secret": "", "sample": ""}


def _format_from(form: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the form's fields to show again, the InboundFormat payload they make)."""
    rows = []
    for i in range(60):  # ImportMapping's limit; the page shows the saved rows plus two empty ones
        path, target = (form.get(f"path_{i}") or "").strip()[:200], (form.get(f"target_{i}") or "").strip()
        rows.append((path, target))
    columns = {target: path for path, target in rows if path and target}
    stage_map, status_map = {}, {}
    value_map = (form.get("value_map") or "")[:5000]
    for line in value_map.splitlines()[:200]:
        if "=" not in line:
            continue
        value, _, target = (x.strip() for x in line.partition("="))
        if target in ("open", "completed", "cancelled"):
            status_map[value[:100]] = target
        elif value and target:
            stage_map[value[:100]] = target[:40]
    fields = {k: (form.get(k) or "").strip()[:5000] for k in (
        "body_format", "records_path", "timezone", "scheme", "header", "prefix", "timestamp_header",
        "tolerance", "secret")}
    # a secret typed before "Test the sample" rides the re-rendered page sealed (never echoed in
    # clear), so that a blank field afterwards still means "the secret entered", then "the saved one"
    secret = fields["secret"] or _unseal(form.get("secret_pending") or "")
    fields["secret"] = ""
    shown = {**fields, "rows": [r for r in rows if r[0] or r[1]], "value_map": value_map,
             "sample": (form.get("sample") or "")[:200_000], "secret_pending": _seal(secret) if secret else ""}
    payload = {"body_format": fields["body_format"] or "gendan", "records_path": fields["records_path"],
               "mapping": {"columns": columns, "stage_map": stage_map, "status_map": status_map,
                           "timezone": fields["timezone"]} if columns else None,
               "signature": {"scheme": fields["scheme"] or "gendan", "header": fields["header"],
                             "prefix": fields["prefix"], "timestamp_header": fields["timestamp_header"],
                             "tolerance": int(fields["tolerance"]) if fields["tolerance"].isdigit()
                             and len(fields["tolerance"]) < 7 else 300},
               "secret": secret or None}
    return shown, payload


def _seal(secret: str) -> str:
    from backend.connectors import crypto

    return crypto.encrypt({"inbound_secret": secret[:100]})


def _unseal(token: str) -> str:
    """The secret a sealed field carries; '' for a token this installation did not seal."""
    from backend.connectors import crypto

    try:
        value = crypto.decrypt(token[:2000]).get("inbound_secret")
    except (GendanError, ValueError, AttributeError):
        return ""
    return value[:100] if isinstance(value, str) else ""


def _format_page(request: Request, session: Session, actor: Actor, source_id: int, *, form: dict | None = None,
                 error: str | None = None, preview: list | None = None, saved: bool = False,
                 status_code: int = 200):
    source = next((s for s in inbound.list_sources(session, actor=actor) if s.id == source_id), None)
    if source is None:
        raise GendanError("inbound.source_not_found", {"id": source_id})
    source_rows = (((source.mapped or {}).get("mapping") or {}).get("columns") or {})
    targets = [(key, i18n.gettext(label)) for key, label in TARGETS]
    targets += [(f"data.{key}", key) for key in import_service.data_fields(session)]
    return render(request, "imports/inbound_format.html", {
        "nav": "admin", "tab": "inbound", "s": source, "form": form or _format_form(source), "error": error,
        "preview": preview, "saved": saved, "targets": targets,
        "mapping_rows": min(60, max(MAPPING_ROWS, len((form or {}).get("rows") or source_rows) + 2)),
        "schemes": [(k, i18n.gettext(v)) for k, v in SCHEMES],
        "url": str(request.base_url).rstrip("/") + "/api/v1/inbound/" + source.key}, status_code=status_code)


@router.get("/inbound/{source_id}/format")
def format_page(request: Request, session: DbSession, actor: AdminActor, source_id: int):
    return _format_page(request, session, actor, source_id)


@router.post("/inbound/{source_id}/format")
async def save_format(request: Request, session: DbSession, actor: AdminActor, source_id: int):
    form = await request.form()
    return await run_in_threadpool(_save_format, request, session, actor, source_id, form)


def _save_format(request: Request, session: Session, actor: Actor, source_id: int, form: Any):
    shown, data = _format_from(form)
    try:
        payload = InboundFormat.model_validate(data)
        if form.get("action") == "preview":
            results = inbound.preview(session, actor=actor, source_id=source_id, body=shown["sample"],
                                      settings=payload if payload.body_format == "mapped" else None)
            return _format_page(request, session, actor, source_id, form=shown, preview=results)
        inbound.set_format(session, actor=actor, source_id=source_id, payload=payload, now=utcnow())
    except ValidationError as exc:
        fields = _field_errors(exc)
        message = "; ".join(f"{k}: {v}" for k, v in fields.items())[:500]
        return _format_page(request, session, actor, source_id, form=shown, status_code=422,
                            error=i18n.gettext("Please correct the marked fields.") + " " + message)
    except GendanError as exc:
        session.rollback()
        message, fields = _message(exc)
        if fields:
            message += " " + "; ".join(fields.values())
        return _format_page(request, session, actor, source_id, form=shown, error=message, status_code=exc.status)
    return _format_page(request, session, actor, source_id, saved=True)
