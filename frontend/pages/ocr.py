""""New order from contract": upload or photograph a contract, watch it being read, then correct
the pre-filled draft in the designed order form and save it through the normal New order path.

GET  /orders/new/from-contract             the upload form (a phone offers its camera)
POST /orders/new/from-contract             queue the file (backend/ocr/service.py) → the job's page
GET  /orders/new/from-contract/{id}        progress while the worker reads; then image + draft form
GET  /orders/new/from-contract/{id}/status the progress bar alone (htmx polls it every second)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError, status_for
from backend.forms import files
from backend.forms import service as forms_service
from backend.ocr import service as ocr_service
from backend.orders import service as orders_service
from engine import forms as forms_engine
from engine.forms import FieldType
from engine.ocr.prefill import level, prefill
from frontend.pages.common import N_, PageActor
from frontend.pages.order_form import _context
from frontend.templating import is_htmx, render

router = APIRouter()
PAGE = "orders/from_contract.html"

DRAFT_LABELS = {  # the draft's own names, for the list of what was read (translated where shown)
    "contract_no": N_("Contract number"), "customer": N_("Customer"), "amount": N_("Amount"),
    "currency": N_("Currency"), "signed_on": N_("Signing date"), "delivery_date": N_("Delivery date"),
}


@router.get("/orders/new/from-contract")
def upload_page(request: Request, actor: PageActor):
    if not orders_service.can_create_orders(actor):
        raise GendanError("auth.forbidden")
    return render(request, PAGE, {"nav": "orders", "stage": "upload", "error": None})


@router.post("/orders/new/from-contract")
async def upload(request: Request, session: DbSession, actor: PageActor):
    settings = request.app.state.settings
    form = await request.form(max_part_size=settings.max_upload_bytes + 1)
    upload = form.get("file")
    content = await upload.read(settings.max_upload_bytes + 1) if hasattr(upload, "read") else b""
    name = getattr(upload, "filename", None) or "contract"
    try:
        job = await run_in_threadpool(ocr_service.upload, session, actor=actor, upload_dir=settings.upload_dir,
                                      filename=name, content=content, now=utcnow(),
                                      max_bytes=settings.max_upload_bytes)
    except GendanError as exc:
        if exc.code == "auth.forbidden":
            raise
        return render(request, PAGE, {"nav": "orders", "stage": "upload",
                                      "error": i18n.translate_error(exc.code, exc.params)},
                      status_code=status_for(exc.code))
    return RedirectResponse(f"/orders/new/from-contract/{job.id}", status_code=303)


@router.get("/orders/new/from-contract/{job_id}/status")
def status(request: Request, session: DbSession, actor: PageActor, job_id: int):
    job = ocr_service.get(session, actor=actor, job_id=job_id)
    headers = {"HX-Refresh": "true"} if job.state in ("done", "failed") and is_htmx(request) else None
    return render(request, PAGE, {"job": job}, block="progress", headers=headers)


@router.get("/orders/new/from-contract/{job_id}")
def job_page(request: Request, session: DbSession, actor: PageActor, job_id: int):
    job = ocr_service.get(session, actor=actor, job_id=job_id)
    base = {"nav": "orders", "job": job, "stage": job.state, "error": None,
            "file_url": f"/api/v1/forms/files/{job.file_id}",
            "inline": job.content_type in files.INLINE_TYPES}
    if job.state == "failed":
        base["error"] = i18n.translate_error((job.error or {}).get("code", "ocr.*"), (job.error or {}).get("params", {}))
        return render(request, PAGE, base)
    if job.state != "done":
        return render(request, PAGE, base)
    defn = forms_service.get_published(session)
    try:
        ref = ocr_service.file_ref(job, request.app.state.settings.upload_dir)
    except GendanError:
        ref = None  # the file was cleaned up (a day unattached): the draft still helps
    filled = prefill(defn, job.result or {}, ref) if defn is not None else None
    raw: dict[str, Any] = {}
    if defn is not None:
        raw = forms_engine.validate_data(defn, {}, context=forms_service.NEW_ORDER_CONTEXT).data
        raw.update(filled.data)
        for f in defn.data_fields():
            if f.type == FieldType.LINE_ITEMS and not raw.get(f.key):
                raw[f.key] = [{}]
    customer_id = str(filled.customer_id) if filled and filled.customer_id else None
    context = _context(request, session, defn, raw, customer_id=customer_id)
    marks = {name: {"pct": round(c * 100), "level": level(c)} for name, c in (filled.confidence if filled else {}).items()}
    if filled and filled.customer_confidence is not None:
        marks["customer_id"] = {"pct": round(filled.customer_confidence * 100), "level": level(filled.customer_confidence)}
    return render(request, PAGE, {**context, **base, "marks": marks, "read": _read_list(job.result or {})})


def _read_list(result: dict[str, Any]) -> list[dict[str, Any]]:
    """What was read, field by field with its confidence (shown beside the image)."""
    rows = []
    for key, label in DRAFT_LABELS.items():
        found = (result.get("fields") or {}).get(key)
        if found:
            rows.append({"key": key, "label": i18n.gettext(label), "value": found["value"],
                         "pct": round(found["confidence"] * 100), "level": level(found["confidence"])})
    for i, item in enumerate(result.get("items") or [], 1):
        for key, label in (("product", N_("Product")), ("quantity", N_("Quantity")), ("unit_price", N_("Unit price"))):
            found = item.get(key)
            if found:
                rows.append({"key": f"items.{i}.{key}", "label": f"{i18n.gettext(label)} {i}", "value": found["value"],
                             "pct": round(found["confidence"] * 100), "level": level(found["confidence"])})
    return rows
