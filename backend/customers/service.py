"""Customer use cases: list (search + keyset paging), get, create, update. One transaction each.

Customers are read by the people who may read their orders (`visible_customers_clause`); admins
and sales write; sales change only customers that are unowned or owned by their team (per the org
chart), and read the same ones, so a rep of one team never sees another team's contacts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth.actor import Actor
from backend.clock import utcnow
from backend.customers.models import Customer, CustomerContact
from backend.customers.schemas import (
    ContactIn,
    ContactRead,
    CustomerCreate,
    CustomerFilter,
    CustomerPage,
    CustomerRead,
    CustomerUpdate,
)
from backend.errors import GendanError
from backend.orders import access as orders_access
from backend.orders.keyset import decode_cursor, encode_cursor, seek_clause
from backend.orders.models import Order
from backend.people.models import User
from backend.people.org import team_user_ids

# the contact a preferred channel needs, so messages to the customer have somewhere to go
CHANNEL_NEEDS = {"email": "email", "sms": "phone", "dingtalk": "dingtalk_id", "wecom": "wecom_id"}
NOT_NULLABLE = ("name", "tier", "preferred_locale", "preferred_channel", "is_unsubscribed")
AUDITED = ("code", "name", "tier", "region", "owner_id", "contact_name", "email", "phone", "dingtalk_id", "wecom_id",
           "preferred_locale", "preferred_channel", "is_unsubscribed")


def _invalid(fields: dict[str, tuple[str, dict[str, Any]]]) -> GendanError:
    return GendanError("validation.failed", {"count": len(fields)}, fields=fields)


def _require_writer(actor: Actor) -> None:
    if not actor.can_write or not actor.has_role("admin", "sales"):
        raise GendanError("auth.forbidden")


def _check_owner(session: Session, actor: Actor, owner_id: int | None) -> None:
    if owner_id is None:
        return
    owner = session.get(User, owner_id)
    if owner is None or not owner.is_active:
        raise _invalid({"owner_id": ("user.not_found", {"field": "owner_id", "id": owner_id})})
    if not actor.is_admin and owner_id not in team_user_ids(session, actor.user_id):
        raise _invalid({"owner_id": ("customer.forbidden", {"field": "owner_id"})})


def _check_channel(values: dict[str, Any]) -> None:
    channel = values.get("preferred_channel")
    needs = CHANNEL_NEEDS.get(channel or "")
    if needs and not values.get(needs):
        raise _invalid({"preferred_channel": ("customer.channel_unreachable",
                                              {"field": "preferred_channel", "channel": channel, "needs": needs})})


def _check_code_free(session: Session, code: str | None, customer_id: int | None = None) -> None:
    if code is None:
        return
    taken = session.exec(select(Customer.id).where(Customer.code == code)).scalars().first()
    if taken is not None and taken != customer_id:
        raise GendanError("customer.code_taken", {"code": code})


def _flush(session: Session, customer: Customer) -> None:
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError as exc:  # a concurrent create took the code between check and insert
        raise GendanError("customer.code_taken", {"code": customer.code}) from exc


def create_customer(session: Session, *, actor: Actor, payload: CustomerCreate, now: datetime) -> CustomerRead:
    _require_writer(actor)
    values = payload.model_dump()
    if values["owner_id"] is None and not actor.is_admin:
        values["owner_id"] = actor.user_id
    _check_owner(session, actor, values["owner_id"])
    _check_channel(values)
    _check_code_free(session, values["code"])
    customer = Customer(**values, created_at=now)
    _flush(session, customer)
    _primary_follows_customer(session, customer, now)
    audit.record(session, actor, "customer", customer.id, "create", {}, audit.snapshot(customer, AUDITED), now)
    session.commit()
    return CustomerRead.model_validate(customer)


def _get(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise GendanError("customer.not_found", {"id": customer_id})
    return customer


def visible_customers_clause(session: Session, actor: Actor) -> ColumnElement[bool]:
    """Who may read a customer (its contacts): the same people who may read its orders.

    Admins and viewers read every order, so every customer. Anyone else reads the customers of
    every order they may see (`orders.access`: a warehouse clerk sees who to ship to) and the ones
    their team owns; sales also read unowned customers, the shared pool they may take and pick
    for new orders. A sales rep of another team sees nothing of a customer that is not theirs.
    """
    if actor.has_role("admin", "viewer"):
        return true()
    of_visible_orders = select(Order.customer_id).where(orders_access.visible_orders_clause(session, actor),
                                                        Order.customer_id.is_not(None))
    if not actor.has_role("sales"):
        return or_(Customer.owner_id == actor.user_id, Customer.id.in_(of_visible_orders))
    return or_(Customer.owner_id.in_(sorted(team_user_ids(session, actor.user_id))), Customer.owner_id.is_(None),
               Customer.id.in_(of_visible_orders))


def get_customer(session: Session, *, actor: Actor, customer_id: int) -> CustomerRead:
    """The customer if the actor may see it; not-found otherwise (no hint that it exists)."""
    customer = session.exec(select(Customer).where(Customer.id == customer_id,
                                                   visible_customers_clause(session, actor))).scalars().first()
    if customer is None:
        raise GendanError("customer.not_found", {"id": customer_id})
    return CustomerRead.model_validate(customer)


def update_customer(session: Session, *, actor: Actor, customer_id: int, payload: CustomerUpdate,
                    now: datetime | None = None) -> CustomerRead:
    _require_writer(actor)
    changes = payload.model_dump(exclude_unset=True)
    nulls = {k: ("field.not_nullable", {"field": k}) for k in NOT_NULLABLE if k in changes and changes[k] is None}
    if nulls:
        raise _invalid(nulls)
    customer = _get(session, customer_id)
    if not actor.is_admin and customer.owner_id is not None \
            and customer.owner_id not in team_user_ids(session, actor.user_id):
        raise GendanError("customer.forbidden")
    if "owner_id" in changes and changes["owner_id"] != customer.owner_id:
        _check_owner(session, actor, changes["owner_id"])
    merged = {**CustomerRead.model_validate(customer).model_dump(), **changes}
    _check_channel(merged)
    if "code" in changes:
        _check_code_free(session, changes["code"], customer.id)
    before = audit.snapshot(customer, AUDITED)
    for key, value in changes.items():
        setattr(customer, key, value)
    _flush(session, customer)
    if CONTACT_COLUMNS.keys() & changes.keys():
        _primary_follows_customer(session, customer, now or utcnow())
    audit.record(session, actor, "customer", customer.id, "update", before, audit.snapshot(customer, AUDITED),
                 now or utcnow())
    session.commit()
    return CustomerRead.model_validate(customer)


def _like(text: str) -> str:
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_customers(session: Session, *, actor: Actor, filters: CustomerFilter) -> CustomerPage:
    """A page of customers sorted by (name, id), continued by `next_cursor` (stable under inserts)."""
    clauses = [visible_customers_clause(session, actor)]
    if filters.q and filters.q.strip():
        like = _like(filters.q)
        contact = CustomerContact
        any_contact = select(contact.customer_id).where(or_(*(col.ilike(like, escape="\\") for col in (
            contact.name, contact.email, contact.phone))))
        clauses.append(or_(*(col.ilike(like, escape="\\") for col in (
            Customer.name, Customer.code, Customer.contact_name, Customer.email, Customer.phone)),
            Customer.id.in_(any_contact)))  # every contact, not only the primary one
    if filters.owner_id is not None:
        clauses.append(Customer.owner_id == filters.owner_id)
    if filters.tier is not None:
        clauses.append(Customer.tier == filters.tier)
    stmt = select(Customer).where(*clauses)
    if filters.cursor:
        value, row_id = decode_cursor(filters.cursor, sort="name", direction="asc")
        stmt = stmt.where(seek_clause(Customer.name, Customer.id, value, row_id, descending=False))
    rows = session.exec(stmt.order_by(Customer.name, Customer.id).limit(filters.limit + 1)).scalars().all()
    has_more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    next_cursor = encode_cursor(rows[-1].name, rows[-1].id, sort="name", direction="asc") if has_more else None
    total = None
    if filters.with_total:
        total = session.exec(select(func.count()).select_from(Customer).where(*clauses)).scalar_one()
    return CustomerPage(items=[CustomerRead.model_validate(c) for c in rows], next_cursor=next_cursor, total=total)


# --- contacts ------------------------------------------------------------------------------------
# A customer has several contacts (customer_contact); the primary one is mirrored into the
# customer's own columns, which every sender (tracking messages, replies) reads: customer messages
# go to the primary contact, in its language.

MAX_CONTACTS = 20
CONTACT_COLUMNS = {"contact_name": "name", "email": "email", "phone": "phone", "preferred_locale": "locale"}


def _contacts(session: Session, customer_id: int) -> list[CustomerContact]:
    return list(session.exec(select(CustomerContact).where(CustomerContact.customer_id == customer_id)
                             .order_by(CustomerContact.position, CustomerContact.id)).scalars())


def _primary_follows_customer(session: Session, customer: Customer, now: datetime) -> None:
    """The customer's single-contact columns were written (API, older clients): the primary
    contact takes them (made when there is none and they name someone). Flush only."""
    if not (customer.contact_name or customer.email or customer.phone):
        return
    primary = next((c for c in _contacts(session, customer.id) if c.is_primary), None)
    if primary is None:
        primary = CustomerContact(customer_id=customer.id, name=(customer.contact_name or customer.name)[:120],
                                  is_primary=True, created_at=now)
        session.add(primary)
    elif customer.contact_name:
        primary.name = customer.contact_name
    primary.email, primary.phone, primary.locale = customer.email, customer.phone, customer.preferred_locale
    session.flush()


def list_contacts(session: Session, *, actor: Actor, customer_id: int) -> list[ContactRead]:
    customer = get_customer(session, actor=actor, customer_id=customer_id)  # may the actor read it at all
    rows = [ContactRead.model_validate(c) for c in _contacts(session, customer_id)]
    if not rows and (customer.contact_name or customer.email or customer.phone):
        # a customer written without contacts (the demo's bulk insert, older rows, other tools): its
        # single-contact columns are its primary contact until someone saves the contacts
        rows = [ContactRead(id=None, name=(customer.contact_name or customer.name)[:120], role=None,
                            phone=customer.phone, email=customer.email, locale=customer.preferred_locale,
                            is_primary=True)]
    return rows


def replace_contacts(session: Session, *, actor: Actor, customer_id: int, contacts: list[ContactIn],
                     now: datetime) -> list[ContactRead]:
    """Store the customer's contacts as sent (added, changed, removed at once). Exactly one is
    primary (with one contact, it is); the primary's name, email, phone and language become the
    customer's, so messages reach them. Refused like any customer change (same team rule)."""
    _require_writer(actor)
    if len(contacts) > MAX_CONTACTS:
        raise _invalid({"contacts": ("customer.too_many_contacts", {"max": MAX_CONTACTS})})
    primaries = [c for c in contacts if c.is_primary]
    if len(contacts) == 1 and not primaries:
        primaries = [contacts[0]]
    if contacts and len(primaries) != 1:
        raise _invalid({"contacts": ("customer.one_primary_contact", {})})
    customer = _get(session, customer_id)
    if not actor.is_admin and customer.owner_id is not None \
            and customer.owner_id not in team_user_ids(session, actor.user_id):
        raise GendanError("customer.forbidden")
    before = {**audit.snapshot(customer, AUDITED), "contacts": [_contact_text(c) for c in _contacts(session, customer_id)]}
    for old in _contacts(session, customer_id):
        session.delete(old)
    session.flush()
    rows = [CustomerContact(customer_id=customer_id, position=i, created_at=now, is_primary=c is primaries[0],
                            **c.model_dump(exclude={"is_primary"})) for i, c in enumerate(contacts)]
    session.add_all(rows)
    primary = next((r for r in rows if r.is_primary), None)
    customer.contact_name = primary.name if primary else None
    customer.email = primary.email if primary else None
    customer.phone = primary.phone if primary else None
    if primary is not None and primary.locale:
        customer.preferred_locale = primary.locale
    _check_channel(CustomerRead.model_validate(customer).model_dump())
    session.flush()
    audit.record(session, actor, "customer", customer.id, "update", before,
                 {**audit.snapshot(customer, AUDITED), "contacts": [_contact_text(r) for r in rows]}, now)
    session.commit()
    return [ContactRead.model_validate(r) for r in rows]


def _contact_text(c: CustomerContact) -> str:
    parts = [c.name, c.role, c.phone, c.email, c.locale, "primary" if c.is_primary else None]
    return " · ".join(p for p in parts if p)
