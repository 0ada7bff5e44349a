"""What every rule use case reads: the rule from its JSON, the fact catalogue, an order's
values and the people its actions name.

Definitions, matching and firing all start here; none of them writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from backend import i18n
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.foresight.models import PREDICTIONS, ForesightScore
from backend.forms.models import FormDefinitionRow
from backend.inbox.models import InboxItem
from backend.installation import service as installation_service
from backend.installation.service import installation_calendar
from backend.orders.models import Order, column_values, fact_columns
from backend.people import org
from backend.people.models import Department, User
from backend.rules.schemas import IssueRead
from backend.settings import get_settings
from engine.calendar import BusinessCalendar
from engine.facts import Catalogue, FactContext, FieldSpec, default_catalogue, fact_type_for_form_field
from engine.jsonlogic import Issue
from engine.rules.actions import People
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.template_context import TemplateExtras
from engine.rules.validate import input_issues

ORDER = Order.__table__
#: what compiled rule conditions read: the order's columns and its prediction (foresight_score)
ORDER_FACTS = fact_columns()
#: the order joined to its prediction, for the scan's derived table (engine/rules/hoist.py): a hash
#: join instead of a primary-key probe per order and prediction fact (12.8 → 2.4 s at 1 M orders)
_PREDICTION = ForesightScore.__table__
ORDER_JOINED = (ORDER.outerjoin(_PREDICTION, _PREDICTION.c.order_id == ORDER.c.id),
                {name: _PREDICTION.c[name] for name in PREDICTIONS})


def issues_read(issues: Iterable[Issue]) -> list[IssueRead]:
    return [IssueRead(path=i.path, code=i.code, params=i.params) for i in issues]


def invalid(issues: list[Issue], code: str = "rule.definition_invalid") -> GendanError:
    """One error for all of a definition's issues, each under its path (the designer marks them)."""
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    for issue in issues:
        fields.setdefault(issue.path or "_", (issue.code, issue.params))
    return GendanError(code, {"count": len(issues)}, status=422, fields=fields)


def schema_issues(exc: ValidationError) -> list[Issue]:
    return [_schema_issue(err) for err in exc.errors()]


def _schema_issue(err: Any) -> Issue:
    """A pydantic error as an issue. A key the designer types wrong (中文, a space) is said with the
    form a key takes: it read "key: this does not have the expected form"."""
    path = ".".join(str(p) for p in err["loc"])
    if path == "key" and err["type"] in ("string_pattern_mismatch", "string_too_long"):
        return Issue(path, "rule.key_invalid", {})
    return Issue(path, "rule.schema_" + err["type"], {"message": err["msg"]})


def parse(definition: dict[str, Any]) -> RuleDefinition:
    """A RuleDefinition from JSON, or GendanError rule.definition_invalid with a path per problem."""
    refused = input_issues(definition)
    if refused:
        raise invalid(refused)
    try:
        return load_rule(definition)
    except ValidationError as exc:
        raise invalid(schema_issues(exc)) from exc
    except ValueError as exc:
        raise GendanError("rule.definition_invalid", {"count": 1}, status=422,
                          fields={"schema_version": (str(exc).split(":")[0], {})}) from exc


def catalogue_for(session: Session) -> Catalogue:
    """Core and derived facts plus the designed fields of every published form."""
    rows = session.exec(select(FormDefinitionRow.definition).where(FormDefinitionRow.status == "published"))
    return catalogue_of([definition for (definition,) in rows])


def catalogue_of(definitions: Iterable[dict[str, Any] | None]) -> Catalogue:
    """`catalogue_for` from the published forms' definitions (the first form that names a key
    defines it)."""
    designed: dict[str, FieldSpec] = {}
    for definition in definitions:
        for form_field in (definition or {}).get("fields", ()):
            kind = fact_type_for_form_field(form_field.get("type", ""))
            key = form_field.get("key", "")
            if kind is None or not key or key in designed:
                continue
            label = form_field.get("label") or {}
            options = tuple(str(o.get("value")) for o in form_field.get("options") or () if isinstance(o, dict))
            designed[key] = FieldSpec(key, kind, "designed", label.get("zh-CN") or label.get("zh") or key,
                                      label.get("en") or key, options)
    catalogue = default_catalogue()
    for spec in designed.values():
        try:
            catalogue = catalogue.with_designed([spec])
        except ValueError:  # a key the catalogue refuses (not an identifier): rules cannot read it
            continue
    return catalogue


def fact_context(now: datetime, calendar: BusinessCalendar | None = None, *,
                 session: Session | None = None) -> FactContext:
    """Facts at `now` counted on `calendar`, else the installation's (read through `session`, else
    as this process last read it)."""
    if calendar is None:
        calendar = installation_calendar(session) if session is not None else installation_service.current().calendar
    return FactContext(now=now, calendar=calendar)


def order_values(order: Order) -> dict[str, Any]:
    return column_values(order, PREDICTIONS)


def people_for(session: Session, order: Order, rule: RuleDefinition) -> People:
    """Resolve only what the rule's actions ask for (each kind costs a query)."""
    return people_for_many(session, [order], rule)[order.id]


def people_for_many(session: Session, orders: list[Order], rule: RuleDefinition) -> dict[int, People]:
    """`people_for` of several orders at once (the dry run's counts): one query for their running
    approvals, each person's manager looked up once."""
    kinds = set()
    roles = set()
    for action in rule.actions:
        for assignee in _assignees(action):
            kinds.add(assignee.kind)
            if assignee.kind == "role" and assignee.role:
                roles.add(assignee.role)
    approvers: dict[int, list[int]] = {}
    if kinds & {"current_approver", "current_approver_manager"} and orders:
        rows = session.exec(
            select(InboxItem.order_id, InboxItem.assignee_id)
            .where(InboxItem.order_id.in_([o.id for o in orders]), InboxItem.kind == "approval",
                   InboxItem.state == "open")
            .order_by(InboxItem.id)
        ).all()
        for order_id, user_id in rows:
            approvers.setdefault(order_id, []).append(user_id)
    known: dict[int, int | None] = {}
    held = hold_people(session, [*(o.owner_id for o in orders), *(u for ids in approvers.values() for u in ids)]) \
        if kinds else []

    def manager(user_id: int) -> int | None:
        if user_id not in known:
            known[user_id] = org.manager_of(session, user_id)
        return known[user_id]

    members = {role: tuple(org.users_with_role(session, role)) for role in roles}
    out = {}
    for order in orders:
        mine = tuple(approvers.get(order.id, ()))
        managers = tuple(m for m in (manager(a) for a in mine) if m is not None)
        # also whenever someone is named: an alert for nobody falls back to the owner's manager
        owner_manager = manager(order.owner_id) if kinds and order.owner_id is not None else None
        # the manager's manager: head_above again from the manager (its walk stops at a loop); never
        # the owner themself (a department tree that comes back round)
        above = manager(owner_manager) if "owner_manager_manager" in kinds and owner_manager else None
        out[order.id] = People(
            owner_id=order.owner_id,
            owner_manager_id=owner_manager,
            owner_manager_manager_id=above if above != order.owner_id else None,
            current_approver_ids=tuple(dict.fromkeys(mine)),
            current_approver_manager_ids=tuple(dict.fromkeys(managers)),
            role_members=members,
        )
    del held
    return out


def hold_people(session: Session, user_ids: Iterable[int]) -> list[Any]:
    """The users the session does not hold yet, and their departments, in at most two queries,
    returned to be held (the session's identity map keeps rows only while someone does), so the
    manager walk's `session.get`s find them without a query each. Users already held cost nothing."""
    ids = sorted({u for u in user_ids if u is not None and identity_key(User, u) not in session.identity_map})
    if not ids:
        return []
    users = session.exec(select(User).where(User.id.in_(ids))).scalars().all()
    department_ids = sorted({u.department_id for u in users if u.department_id is not None
                             and identity_key(Department, u.department_id) not in session.identity_map})
    departments = session.exec(select(Department).where(Department.id.in_(department_ids))).scalars().all() \
        if department_ids else []
    return [*users, *departments]


# Stage names as the order pages show them (English msgids, translated in the catalogs; the pages'
# frontend/pages/common.py:STAGE_LABELS holds the same words, which the backend may not import).
STAGE_LABELS = {
    "draft": "Draft", "approval": "Approval", "tech_confirm": "Technical confirmation",
    "production": "Production", "shipping": "Shipping", "delivered": "Delivered",
    "invoicing": "Invoicing", "payment": "Payment", "completed": "Completed",
    "rejected": "Rejected", "returned": "Returned to the initiator",
}


def template_extras(session: Session, order: Order) -> TemplateExtras:
    """What a rule's templates read beyond the facts: customer, owner, the stage in both languages,
    the customer's tracking link (when the order has an active one; a firing creates none)."""
    from backend.foresight import words as foresight_words  # reads scores only: imported late
    from backend.tracking.service import get_active_link  # tracking builds on rules: imported late

    customer = session.get(Customer, order.customer_id) if order.customer_id else None
    owner = session.get(User, order.owner_id) if order.owner_id else None
    label = STAGE_LABELS.get(order.stage)
    labels = {"zh": i18n.translations("zh_CN").ugettext(label), "en": label} if label else {}
    link = get_active_link(session, order.id) if order.id else None
    settings = get_settings()
    return TemplateExtras(
        customer={"name": customer.name, "code": customer.code, "contact_name": customer.contact_name,
                  "tier": customer.tier} if customer else {},
        owner={"name": owner.display_name, "username": owner.username, "email": owner.email} if owner else {},
        stage_labels=labels,
        tracking_link=f"{settings.public_base_url}/t/{link.token}" if link is not None else "",
        zone=settings.timezone,
        delay_reasons=foresight_words.reasons_by_order(session, [order.id]).get(order.id, {}),
    )


def _assignees(action: Any) -> Iterable[Any]:
    for name in ("assignee", "to"):
        if getattr(action, name, None) is not None:
            yield getattr(action, name)
    yield from getattr(action, "cc", ())
    yield from getattr(action, "recipients", ())
