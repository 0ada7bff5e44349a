"""The customer page (/customers/{id}): contacts and preferences, edited by admins and sales through
the same use case as the API, and for admins the customer's History from the audit trail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.customers import service as customers_service
from backend.customers.schemas import CustomerUpdate
from backend.errors import GendanError
from frontend.pages.admin import _clean, _flash, _gendan_errors, _pop_flash, _validate
from frontend.pages.audit import history
from frontend.pages.common import PageActor, pgettext
from frontend.templating import render

router = APIRouter()
TEXT_FIELDS = ("name", "code", "region", "contact_name", "email", "phone", "dingtalk_id", "wecom_id")


def _choices() -> dict[str, list[tuple[str, str]]]:
    return {
        "tiers": [("key", pgettext("customer", "Key account")), ("standard", pgettext("customer", "Standard")),
                  ("small", pgettext("customer", "Small"))],
        "locales": [("zh_CN", "中文"), ("en", "English")],
        "channels": [("email", pgettext("customer", "Email")), ("sms", pgettext("customer", "SMS")),
                     ("dingtalk", pgettext("customer", "DingTalk")), ("wecom", pgettext("customer", "WeCom")),
                     ("none", pgettext("customer", "Do not contact"))],
    }


def _context(session: Session, actor: Actor, customer, form: dict[str, Any], errors: dict[str, str],
             error: str | None = None, flash: str | None = None) -> dict[str, Any]:
    return {"nav": "orders", "customer": customer, "form": form, "errors": errors, "error": error, "flash": flash,
            "can_edit": actor.can_write and actor.has_role("admin", "sales"),
            "history": history(session, actor, "customer", customer.id), **_choices()}


@router.get("/customers/{customer_id}")
def customer_page(request: Request, session: DbSession, actor: PageActor, customer_id: int):
    customer = customers_service.get_customer(session, actor=actor, customer_id=customer_id)
    return render(request, "customers/detail.html",
                  _context(session, actor, customer, customer.model_dump(), {}, flash=_pop_flash(request)))


@router.post("/customers/{customer_id}")
async def update_customer(request: Request, session: DbSession, actor: PageActor, customer_id: int):
    return await run_in_threadpool(_update, request, session, actor, customer_id, await request.form())


def _update(request: Request, session: Session, actor: Actor, customer_id: int, form):
    customer = customers_service.get_customer(session, actor=actor, customer_id=customer_id)
    data: dict[str, Any] = {name: _clean(form.get(name)) for name in TEXT_FIELDS}
    data.update(tier=form.get("tier") or None, preferred_locale=form.get("preferred_locale") or None,
                preferred_channel=form.get("preferred_channel") or None,
                is_unsubscribed=form.get("is_unsubscribed") == "on")
    payload, errors = _validate(CustomerUpdate, data)
    error = None
    if payload is not None:
        try:
            customers_service.update_customer(session, actor=actor, customer_id=customer_id, payload=payload,
                                              now=utcnow())
        except GendanError as exc:
            session.rollback()
            error, errors = _gendan_errors(exc)
        else:
            _flash(request, i18n.gettext("Customer %(name)s was saved.", name=payload.name or customer.name))
            return RedirectResponse(f"/customers/{customer_id}", status_code=303)
    return render(request, "customers/detail.html",
                  _context(session, actor, customer, {**customer.model_dump(), **data}, errors, error),
                  status_code=422)
