""""Edit order": the order's designed form filled in with what it holds, saved with the version the
person saw (someone else's change in between is refused, and what was typed stays on the page).

The form is the version the order was created with (imported and demo orders, made without one,
get the published form). Computed values and visibility update live as on "New order".
"""

from __future__ import annotations

from decimal import InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.forms import service as forms_service
from backend.orders import service as orders_service
from backend.orders.schemas import OrderRead, OrderUpdate
from engine import forms as forms_engine
from engine.forms import FormDefinition
from frontend.pages.common import PageActor
from frontend.pages.form_view import FormInput, apply_action, build_view, error_messages, parse_form
from frontend.pages.order_form import _core_from_data, _customers
from frontend.templating import is_htmx, render

router = APIRouter()
PAGE = "orders/edit.html"


def _definition(session: Session, order: OrderRead) -> FormDefinition | None:
    if order.form_key and order.form_version:
        try:
            return forms_service.get_definition(session, order.form_key, order.form_version)
        except GendanError:
            pass
    return forms_service.get_published(session)


def _editable(session: Session, actor: Actor, order_id: int) -> OrderRead:
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    return orders_service.get_order(session, actor=actor, order_id=order_id)


def _context(session: Session, order: OrderRead, defn: FormDefinition | None, raw: dict[str, Any], *,
             version: int, customer_id: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    view = None
    if defn is not None:
        result = forms_engine.validate_data(defn, raw, locale=forms_service.engine_locale(),
                                            context=forms_service.order_context(order))
        view = build_view(defn, raw, result, errors=errors)
    return {"nav": "orders", "order": order, "form": view, "customers": _customers(session, customer_id),
            "customer_id": customer_id, "version": version, "errors": errors or {},
            "evaluate_url": f"/orders/{order.id}/edit/evaluate", "action_url": f"/orders/{order.id}/edit"}


@router.get("/orders/{order_id}/edit")
def edit_order(request: Request, session: DbSession, actor: PageActor, order_id: int):
    order = _editable(session, actor, order_id)
    defn = _definition(session, order)
    known = {f.key for f in defn.data_fields()} if defn else set()
    raw = {k: v for k, v in (order.data or {}).items() if k in known}
    for key in ("planned_delivery", "payment_due"):  # core columns a designed field of that key feeds
        if key in known and raw.get(key) in (None, "") and getattr(order, key):
            raw[key] = getattr(order, key).isoformat()
    return render(request, PAGE, _context(session, order, defn, raw, version=order.version,
                                          customer_id=str(order.customer_id)))


@router.post("/orders/{order_id}/edit")
async def save_order(request: Request, session: DbSession, actor: PageActor, order_id: int):
    form = await request.form()
    return await run_in_threadpool(_save, request, session, actor, order_id, form)


def _save(request: Request, session: Session, actor: Actor, order_id: int, form):
    order = _editable(session, actor, order_id)
    defn = _definition(session, order)
    form_input = FormInput(list(form.multi_items()))
    raw = parse_form(defn, form_input) if defn else {}
    customer_id = form_input.get("customer_id") or ""
    try:
        version = int(form_input.get("version") or order.version)
    except ValueError:
        version = order.version
    if form_input.get("_action") and defn is not None:
        context = _context(session, order, defn, apply_action(defn, raw, form_input.get("_action")),
                           version=version, customer_id=customer_id)
        if is_htmx(request):
            return render(request, "orders/_form.html", context, block="fields")
        return render(request, PAGE, context)
    errors: dict[str, list[str]] = {}
    status = 422
    if not customer_id:
        errors["customer_id"] = [i18n.translate_error("field.missing", {})]
    result = (forms_engine.validate_data(defn, raw, locale=forms_service.engine_locale(),
                                         context=forms_service.order_context(order)) if defn else None)
    if result is not None and result.errors:  # checked here too: orders made without a form skip the save hook
        errors.update(error_messages({e.path: (e.code, e.params) for e in result.errors}))
    try:
        core = _core_from_data(defn, result.data, result.totals) if defn and result is not None else {}
        # a field left empty that the order never had stays absent: the timeline lists real changes only
        data = {k: v for k, v in raw.items() if v not in (None, "", []) or k in (order.data or {})}
        payload = OrderUpdate(version=version, customer_id=int(customer_id or 0) or None, data=data, **core)
    except (ValidationError, ValueError, InvalidOperation):
        payload = None
        errors.setdefault("_", [i18n.translate_error("validation.failed", {"count": 1})])
    if payload is not None and not errors:
        try:
            orders_service.update_order(session, actor=actor, order_id=order_id, payload=payload, now=utcnow())
        except GendanError as exc:
            session.rollback()
            if exc.code == "order.version_conflict":
                status = 409
                errors["_"] = [i18n.translate_error(exc.code, exc.params)]
            elif exc.fields:
                errors = error_messages(exc.fields)
            else:
                raise
        else:
            target = f"/orders/{order_id}?saved=1"
            if is_htmx(request):
                return HTMLResponse("", headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
    return render(request, PAGE, _context(session, order, defn, raw, version=version, customer_id=customer_id,
                                          errors=errors), status_code=status)


@router.post("/orders/{order_id}/edit/evaluate")
async def evaluate(request: Request, session: DbSession, actor: PageActor, order_id: int):
    """Computed values and visibility for the form as typed (out-of-band swaps only)."""
    form = await request.form()
    return await run_in_threadpool(_evaluate, request, session, actor, order_id, form)


def _evaluate(request: Request, session: Session, actor: Actor, order_id: int, form):
    order = _editable(session, actor, order_id)
    defn = _definition(session, order)
    if defn is None:
        return HTMLResponse("")
    raw = parse_form(defn, FormInput(list(form.multi_items())))
    return render(request, "orders/_form.html", _context(session, order, defn, raw, version=order.version,
                                                         customer_id=""), block="live")
