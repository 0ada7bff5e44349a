"""Customers: the list (/customers, search and filters), a new customer, and the customer page
(/customers/{id}): contacts and preferences, edited by admins and sales through the same use cases as
the API, the customer's orders, and for admins the customer's History from the audit trail. Also the
order form's customer picker (/customers/options: options matching what is typed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.customers import service as customers_service
from backend.customers.models import Customer
from backend.customers.schemas import ContactIn, CustomerCreate, CustomerFilter, CustomerUpdate
from backend.errors import GendanError
from backend.orders import service as orders_service
from backend.orders.schemas import OrderFilter
from backend.people.models import User
from frontend.pages.admin import _clean, _flash, _gendan_errors, _pop_flash, _validate
from frontend.pages.audit import history
from frontend.pages.common import STAGE_LABELS, PageActor, pgettext
from frontend.templating import is_htmx, render

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
             error: str | None = None, flash: str | None = None, contacts: list[dict[str, Any]] | None = None,
             contact_errors: dict[str, str] | None = None, contacts_error: str | None = None) -> dict[str, Any]:
    if contacts is None:
        contacts = [c.model_dump() for c in customers_service.list_contacts(session, actor=actor,
                                                                            customer_id=customer.id)]
        if _can_edit(actor):
            contacts.append({})  # a blank row to add one
    return {"nav": "customers", "customer": customer, "form": form, "errors": errors, "error": error,
            "flash": flash, "can_edit": _can_edit(actor), "orders": _orders(session, actor, customer.id),
            "stage_labels": STAGE_LABELS, "history": history(session, actor, "customer", customer.id),
            "contacts": contacts, "contact_errors": contact_errors or {}, "contacts_error": contacts_error,
            **_choices()}


def _can_edit(actor: Actor) -> bool:
    return actor.can_write and actor.has_role("admin", "sales")


def _owners(session: Session) -> list[User]:
    owner_ids = select(Customer.owner_id).where(Customer.owner_id.is_not(None)).distinct()
    return list(session.exec(select(User).where(User.id.in_(owner_ids)).order_by(User.display_name)).scalars())


def _list_filter(request: Request) -> tuple[CustomerFilter, str | None]:
    raw = {k: v for k, v in request.query_params.items() if v != "" and k in ("q", "tier", "owner_id", "cursor")}
    try:
        return CustomerFilter.model_validate({**raw, "with_total": True}), None
    except ValidationError:  # keep the search text; a bad tier or owner is dropped and said so
        kept = {k: v for k, v in raw.items() if k == "q" and len(v) <= 100}
        return CustomerFilter(**kept, with_total=True), i18n.gettext("Some filters were not valid and were ignored.")


@router.get("/customers")
def customers_list(request: Request, session: DbSession, actor: PageActor):
    f, error = _list_filter(request)
    page = customers_service.list_customers(session, actor=actor, filters=f)
    owners = _owners(session)
    context = {"nav": "customers", "f": f, "page": page, "error": error, "owners": owners,
               "owner_names": {u.id: u.display_name for u in owners},
               "can_create": _can_edit(actor), **_choices()}
    if is_htmx(request) and request.headers.get("HX-Target") == "customers-table":
        return render(request, "customers/list.html", context, block="table")
    return render(request, "customers/list.html", context)


@router.get("/customers/options")
def customer_options(request: Request, session: DbSession, actor: PageActor, customer_q: str = "",
                     customer_id: str = ""):
    """The order form's picker: up to 20 customers matching what was typed (name, code, contact,
    e-mail, phone) as <option>s; the chosen one stays chosen while it still matches, and a single
    match is chosen at once (type, then Tab on)."""
    q = customer_q.strip()[:100]
    items = customers_service.list_customers(session, actor=actor, filters=CustomerFilter(q=q or None, limit=20)).items
    selected = customer_id if any(str(c.id) == customer_id for c in items) else ""
    if not selected and len(items) == 1 and q:
        selected = str(items[0].id)
    return render(request, "customers/_options.html", {"customers": items, "selected": selected, "q": q})


@router.get("/customers/new")
def new_customer(request: Request, session: DbSession, actor: PageActor):
    if not _can_edit(actor):
        raise GendanError("auth.forbidden")
    return render(request, "customers/new.html", {"nav": "customers", "form": {"tier": "standard",
                  "preferred_locale": "zh_CN", "preferred_channel": "email"}, "errors": {}, "error": None,
                  **_choices()})


@router.post("/customers/new")
async def create_customer(request: Request, session: DbSession, actor: PageActor):
    return await run_in_threadpool(_create, request, session, actor, await request.form())


def _form_data(form) -> dict[str, Any]:
    data: dict[str, Any] = {name: _clean(form.get(name)) for name in TEXT_FIELDS}
    data.update(tier=form.get("tier") or None, preferred_locale=form.get("preferred_locale") or None,
                preferred_channel=form.get("preferred_channel") or None,
                is_unsubscribed=form.get("is_unsubscribed") == "on")
    return data


def _create(request: Request, session: Session, actor: Actor, form):
    data = _form_data(form)
    payload, errors = _validate(CustomerCreate, {k: v for k, v in data.items() if v is not None})
    error = None
    if payload is not None:
        try:
            created = customers_service.create_customer(session, actor=actor, payload=payload, now=utcnow())
        except GendanError as exc:
            session.rollback()
            error, errors = _gendan_errors(exc)
        else:
            _flash(request, i18n.gettext("Customer %(name)s was saved.", name=created.name))
            return RedirectResponse(f"/customers/{created.id}", status_code=303)
    return render(request, "customers/new.html", {"nav": "customers", "form": data, "errors": errors,
                                                  "error": error, **_choices()}, status_code=422)


def _orders(session: Session, actor: Actor, customer_id: int):
    """The customer's latest orders the reader may see (the whole list is one link away)."""
    return orders_service.list_orders(session, actor=actor, filters=OrderFilter(
        customer_id=customer_id, limit=20, with_total=True))


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
    data = _form_data(form)
    for name in ("contact_name", "email", "phone", "preferred_locale"):  # edited as contacts on this page
        data.pop(name, None)
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


CONTACT_FIELDS = ("name", "role", "phone", "email", "locale")
MAX_CONTACT_ROWS = 40  # rows read from one post; the service allows 20 contacts


def _contact_rows(form) -> list[dict[str, Any]]:
    """The contact rows as typed (contacts.<i>.<field>, the `primary` radio, `remove` ticks)."""
    rows: list[dict[str, Any]] = []
    primary = form.get("primary")
    for i in range(MAX_CONTACT_ROWS):
        if not any(f"contacts.{i}.{f}" in form for f in CONTACT_FIELDS):
            break
        row = {f: (form.get(f"contacts.{i}.{f}") or "").strip()[:300] for f in CONTACT_FIELDS}
        row["is_primary"] = primary == str(i)
        row["remove"] = form.get(f"contacts.{i}.remove") == "on"
        rows.append(row)
    return rows


@router.post("/customers/{customer_id}/contacts")
async def save_contacts(request: Request, session: DbSession, actor: PageActor, customer_id: int):
    return await run_in_threadpool(_save_contacts, request, session, actor, customer_id, await request.form())


def _save_contacts(request: Request, session: Session, actor: Actor, customer_id: int, form):
    customer = customers_service.get_customer(session, actor=actor, customer_id=customer_id)
    rows = _contact_rows(form)
    if form.get("_action") == "add":
        return render(request, "customers/detail.html", _context(
            session, actor, customer, customer.model_dump(), {}, contacts=[*rows, {}]))
    kept = [(i, r) for i, r in enumerate(rows) if not r["remove"] and any(r[f] for f in CONTACT_FIELDS)]
    contacts, errors = [], {}
    for i, row in kept:
        payload, row_errors = _validate(ContactIn, {k: v for k, v in row.items() if k != "remove" and v != ""})
        if payload is None:
            errors.update({f"contacts.{i}.{name}": message for name, message in row_errors.items()})
        else:
            contacts.append(payload)
    if len(contacts) > 1 and not any(c.is_primary for c in contacts):
        contacts[0].is_primary = True  # none ticked: the first stays the one messages go to
    error = None
    if not errors:
        try:
            customers_service.replace_contacts(session, actor=actor, customer_id=customer_id, contacts=contacts,
                                               now=utcnow())
        except GendanError as exc:
            session.rollback()
            error, fields = _gendan_errors(exc)
            error = fields.get("contacts") or fields.get("preferred_channel") or error
        else:
            _flash(request, i18n.gettext("Contacts of %(name)s were saved.", name=customer.name))
            return RedirectResponse(f"/customers/{customer_id}#customers-contacts", status_code=303)
    return render(request, "customers/detail.html", _context(
        session, actor, customer, customer.model_dump(), {}, contacts=rows, contact_errors=errors,
        contacts_error=error or i18n.gettext("Please correct the marked fields.")), status_code=422)
