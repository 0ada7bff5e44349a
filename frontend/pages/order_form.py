""""New order": the published form, filled in with live computed values and visibility.

Plain form posts first (works without JavaScript: row buttons re-render the page, Save shows the
errors next to the fields), then htmx: every input posts the form to /orders/new/evaluate, which
answers with out-of-band swaps of the computed values and the visibility style only, so the input
being typed in is never replaced.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.forms import files
from backend.forms import service as forms_service
from backend.orders import service as orders_service
from backend.orders.schemas import OrderCreate
from engine import forms as forms_engine
from engine.forms import FieldType, FormDefinition
from frontend.pages.common import PageActor
from frontend.pages.form_view import (
    FormInput,
    apply_action,
    build_view,
    error_messages,
    format_value,
    parse_form,
)
from frontend.templating import env, is_htmx, render

router = APIRouter()
PAGE = "orders/_form_new_page.html"


PICKER_SIZE = 20  # the picker searches as you type (/customers/options); a long list helps nobody


def _customers(session, selected: str | None = None) -> list[Customer]:
    """Before any search: the newest customers (the one just made is the likeliest), by name."""
    newest = session.exec(select(Customer).order_by(Customer.id.desc()).limit(PICKER_SIZE)).scalars()
    shown = sorted(newest, key=lambda c: (c.name, c.id))
    chosen = session.get(Customer, int(selected)) if selected and selected.isdigit() else None
    if chosen is not None and chosen not in shown:
        shown.insert(0, chosen)
    return shown


def _core_from_data(defn: FormDefinition, data: dict[str, Any],
                    totals: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Designed fields that feed the order's core columns: a field keyed `planned_delivery` /
    `payment_due` (dates) and the amount. When the order has line items, the amount is their
    money total (a form's quantity × unit price beside them must not win over the lines); else
    a field keyed `amount`, else the first computed money field."""
    core: dict[str, Any] = {}
    for key in ("planned_delivery", "payment_due"):
        f = defn.field(key)
        if f is not None and f.type == FieldType.DATE and data.get(key):
            core[key] = data[key]
    lines = _line_items_amount(defn, data, totals or {})
    if lines is not None:
        core["amount"], currency = lines
        if currency:
            core["currency"] = currency
        return core
    amount_field = defn.field("amount") or next(
        (f for f in defn.data_fields() if f.type == FieldType.COMPUTED and f.result_type == "money"), None)
    if amount_field is not None and isinstance(data.get(amount_field.key), int | float):
        core["amount"] = Decimal(str(data[amount_field.key])).quantize(Decimal("0.01"))
        if amount_field.currency:
            core["currency"] = amount_field.currency
    return core


def _line_items_amount(defn: FormDefinition, data: dict[str, Any],
                       totals: dict[str, dict[str, Any]]) -> tuple[Decimal, str | None] | None:
    """The sum of the money total column of every line-items field that has lines, with its currency."""
    amount, currency, found = Decimal("0"), None, False
    for f in defn.data_fields():
        if f.type != FieldType.LINE_ITEMS or not data.get(f.key):
            continue
        column = next((c for c in f.columns if c.key in f.totals and (
            c.type == FieldType.MONEY or (c.type == FieldType.COMPUTED and c.result_type == "money"))), None)
        total = (totals.get(f.key) or {}).get(column.key) if column is not None else None
        if isinstance(total, int | float):
            amount += Decimal(str(total))
            currency = currency or column.currency
            found = True
    return (amount.quantize(Decimal("0.01")), currency) if found else None


def _context(request: Request, session, defn: FormDefinition | None, raw: dict[str, Any], *,
             errors: dict[str, list[str]] | None = None, customer_id: str | None = None) -> dict[str, Any]:
    view, amount = None, None
    if defn is not None:
        result = forms_engine.validate_data(defn, raw, locale=forms_service.engine_locale(),
                                            context=forms_service.NEW_ORDER_CONTEXT)
        view = build_view(defn, raw, result, errors=errors)
        core = _core_from_data(defn, result.data, result.totals)
        if "amount" in core:  # what will be stored, shown live beside Save
            amount = env.filters["money"](core["amount"], core.get("currency", "CNY"))
    return {"nav": "orders", "form": view, "customers": _customers(session, customer_id), "customer_id": customer_id or "",
            "errors": errors or {}, "evaluate_url": "/orders/new/evaluate", "action_url": "/orders/new",
            "order_amount": amount or ""}


@router.get("/orders/new")
def new_order(request: Request, session: DbSession, actor: PageActor):
    if not orders_service.can_create_orders(actor):
        raise GendanError("auth.forbidden")  # not a form to fill in only to be refused on save
    defn = forms_service.get_published(session)
    raw = forms_engine.validate_data(defn, {}, context=forms_service.NEW_ORDER_CONTEXT).data if defn else {}
    for f in (defn.data_fields() if defn else ()):
        if f.type == FieldType.LINE_ITEMS and not raw.get(f.key):
            raw[f.key] = [{}]  # one empty row to start typing in
    return render(request, PAGE, _context(request, session, defn, raw))


@router.post("/orders/new")
async def create_order(request: Request, session: DbSession, actor: PageActor):
    form = await request.form()
    # database work in the threadpool: waiting for SQLite's write lock on the event loop would
    # stall every other request, including the one holding the lock
    return await run_in_threadpool(_create_order, request, session, actor, form)


def _create_order(request: Request, session: Session, actor: Actor, form):
    form_input = FormInput(list(form.multi_items()))
    defn = forms_service.get_published(session)
    raw = parse_form(defn, form_input) if defn else {}
    customer_id = form_input.get("customer_id")
    action = form_input.get("_action")
    if action and defn is not None:
        raw = apply_action(defn, raw, action)
        context = _context(request, session, defn, raw, customer_id=customer_id)
        if is_htmx(request):
            return render(request, "orders/_form.html", context, block="fields")
        return render(request, PAGE, context)
    errors: dict[str, list[str]] = {}
    payload = None
    result = forms_engine.validate_data(defn, raw, context=forms_service.NEW_ORDER_CONTEXT) if defn else None
    try:
        core = _core_from_data(defn, result.data, result.totals) if defn else {}
        payload = OrderCreate(customer_id=int(customer_id or 0), amount=core.pop("amount", Decimal("0")),
                              data=raw, **core)
    except (ValidationError, ValueError, InvalidOperation):
        pass
    if not customer_id:
        errors["customer_id"] = [i18n.translate_error("field.missing", {})]
        if result is not None:  # every missing field at once, not the customer first and the form next
            errors.update(error_messages({e.path: (e.code, e.params) for e in result.errors}))
    if payload is not None and not errors:
        try:
            order, _ = orders_service.create_order(session, actor=actor, payload=payload, now=utcnow())
        except GendanError as exc:
            if not exc.fields:
                raise
            errors = error_messages(exc.fields)
        else:
            target = f"/orders/{order.id}"
            if is_htmx(request):
                return HTMLResponse("", headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
    elif payload is None and not errors:
        errors["_"] = [i18n.translate_error("validation.failed", {"count": 1})]
    context = _context(request, session, defn, raw, errors=errors, customer_id=customer_id)
    return render(request, PAGE, context, status_code=422)


@router.post("/orders/new/evaluate")
async def evaluate(request: Request, session: DbSession, actor: PageActor):
    """Computed values and visibility for the form as typed (out-of-band swaps only)."""
    try:
        form = await request.form()
    except ClientDisconnect:
        # htmx cancels the previous check on every keystroke (hx-sync replace): nobody waits for an
        # answer, and it is not an error worth a traceback
        return Response(status_code=204)
    return await run_in_threadpool(_evaluate, request, session, form)


def _evaluate(request: Request, session: Session, form):
    defn = forms_service.get_published(session)
    if defn is None:
        return HTMLResponse("")
    raw = parse_form(defn, FormInput(list(form.multi_items())))
    return render(request, "orders/_form.html", _context(request, session, defn, raw), block="live")


@router.post("/orders/new/upload/{key}")
async def upload(request: Request, session: DbSession, actor: PageActor, key: str, upload: UploadFile):
    """Store one file for an attachment / image field; answers the list item with its hidden reference."""
    if not actor.can_write:
        raise GendanError("auth.forbidden")  # before reading the body (files.store checks again)
    content = await upload.read()
    ref = files.store(request.app.state.settings.upload_dir, actor=actor, name=upload.filename or "file",
                      content_type=upload.content_type or "application/octet-stream", content=content,
                      now=utcnow())
    return render(request, "orders/_form.html", {"file": ref, "name": key}, block="file_item")


# --- the order page: the designed fields of the version the order was created with -------------


def designed_fields_view(session: Session, order: Any) -> dict[str, Any] | None:
    """For orders/_form_fields.html (included by the order page): the order's form version
    rendered read-only, plus archived values of keys that version does not have.

    Read in the request's own session: one transaction per request, and no second connection
    competing with the request's own for SQLite's lock."""
    if not getattr(order, "form_key", None) or not getattr(order, "form_version", None):
        return None
    try:
        defn = forms_service.get_definition(session, order.form_key, order.form_version)
    except GendanError:
        return None
    result = forms_engine.validate_data(defn, order.data or {}, locale=forms_service.engine_locale(),
                                        context=forms_service.order_context(order))
    view = build_view(defn, order.data or {}, result)
    current, archived = forms_engine.split_archived(defn, order.data or {})
    return {"form": view, "archived": archived}


def loose_fields_view(session: Session, order: Any) -> list[tuple[str, str]]:
    """The data of an order made without a designed form (imported, API, demo), labelled by the
    published form where a key matches and as stored otherwise: readers see 产品, not `product`."""
    data = getattr(order, "data", None) or {}
    if not data or getattr(order, "form_key", None):
        return []
    defn = forms_service.get_published(session)
    fields = {f.key: f for f in defn.fields} if defn else {}
    locale = forms_service.engine_locale()
    rows = []
    for key, value in data.items():
        f = fields.get(key)
        if f is not None and f.type not in (FieldType.LINE_ITEMS, FieldType.SECTION, FieldType.DESCRIPTION):
            rows.append((f.text("label", locale) or key, format_value(f, value) or "—"))
        else:
            rows.append((key, "—" if value in (None, "", []) else str(value)))
    return rows
