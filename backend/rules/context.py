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
from sqlmodel import Session

from backend.errors import GendanError
from backend.forms.models import FormDefinitionRow
from backend.inbox.models import InboxItem
from backend.installation import service as installation_service
from backend.installation.service import installation_calendar
from backend.orders.models import Order
from backend.people import org
from backend.rules.schemas import IssueRead
from engine.calendar import BusinessCalendar
from engine.facts import Catalogue, FactContext, FieldSpec, default_catalogue, fact_type_for_form_field
from engine.jsonlogic import Issue
from engine.rules.actions import People
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.validate import input_issues

ORDER = Order.__table__


def issues_read(issues: Iterable[Issue]) -> list[IssueRead]:
    return [IssueRead(path=i.path, code=i.code, params=i.params) for i in issues]


def invalid(issues: list[Issue], code: str = "rule.definition_invalid") -> GendanError:
    """One error for all of a definition's issues, each under its path (the designer marks them)."""
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    for issue in issues:
        fields.setdefault(issue.path or "_", (issue.code, issue.params))
    return GendanError(code, {"count": len(issues)}, status=422, fields=fields)


def schema_issues(exc: ValidationError) -> list[Issue]:
    return [Issue(".".join(str(p) for p in err["loc"]), "rule.schema_" + err["type"], {"message": err["msg"]})
            for err in exc.errors()]


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
    designed: dict[str, FieldSpec] = {}
    rows = session.exec(select(FormDefinitionRow.definition).where(FormDefinitionRow.status == "published"))
    for (definition,) in rows:
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
    return {c.key: getattr(order, c.key) for c in ORDER.columns}


def people_for(session: Session, order: Order, rule: RuleDefinition) -> People:
    """Resolve only what the rule's actions ask for (each kind costs a query)."""
    kinds = set()
    roles = set()
    for action in rule.actions:
        for assignee in _assignees(action):
            kinds.add(assignee.kind)
            if assignee.kind == "role" and assignee.role:
                roles.add(assignee.role)
    approvers: tuple[int, ...] = ()
    if kinds & {"current_approver", "current_approver_manager"}:
        approvers = tuple(
            session.exec(
                select(InboxItem.assignee_id)
                .where(InboxItem.order_id == order.id, InboxItem.kind == "approval", InboxItem.state == "open")
                .order_by(InboxItem.id)
            ).scalars()
        )
    managers = tuple(m for m in (org.manager_of(session, a) for a in approvers) if m is not None)
    return People(
        owner_id=order.owner_id,
        # also whenever someone is named: an alert for nobody falls back to the owner's manager
        owner_manager_id=org.manager_of(session, order.owner_id) if kinds and order.owner_id is not None else None,
        current_approver_ids=tuple(dict.fromkeys(approvers)),
        current_approver_manager_ids=tuple(dict.fromkeys(managers)),
        role_members={role: tuple(org.users_with_role(session, role)) for role in roles},
    )


def _assignees(action: Any) -> Iterable[Any]:
    for name in ("assignee", "to"):
        if getattr(action, name, None) is not None:
            yield getattr(action, name)
    yield from getattr(action, "cc", ())
    yield from getattr(action, "recipients", ())
