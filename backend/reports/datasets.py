"""What the report service needs for data sets other than orders: the tables, the designed
line-items fields, display names of their values, and the rows behind a cell.

The SQL is built by engine/reports/datasets.py; this module only hands it the tables and reads
the forms. Row-level access is applied by the engine through the caller's order clause.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.forms.models import FormDefinitionRow
from backend.inbox.models import InboxItem
from backend.orders.models import Order, OrderEvent, OrderStageVisit
from backend.people.models import User, UserRole
from backend.people.org import team_user_ids
from backend.rules.models import RuleDefinitionRow, RuleFiring
from engine.reports.datasets import LineItemsField

TABLES = {"order": Order.__table__, "event": OrderEvent.__table__, "visit": OrderStageVisit.__table__,
          "todo": InboxItem.__table__,
          "firing": RuleFiring.__table__, "customer": Customer.__table__, "user_role": UserRole.__table__}
ROLE_MSGIDS = {"admin": "Administrator", "designer": "Designer", "sales": "Sales", "approver": "Approver",
               "warehouse": "Warehouse", "finance": "Finance", "viewer": "Viewer"}
STATE_MSGIDS = {"open": "Open", "done": "Done", "cancelled": "Cancelled", "superseded": "Superseded"}
MAX_LINE_FIELDS = 20


def orderless_todos_clause(session: Session, actor: Actor) -> ColumnElement[bool]:
    """Which to-dos without an order a reader's report counts (a clause over the to-do table), as
    the order rule reads people: admins and viewers all of them, a sales rep those assigned to them
    or their team (the org chart below them), anyone else their own."""
    todo = InboxItem.__table__
    if actor.has_role("admin", "viewer"):
        return true()
    if actor.has_role("sales"):
        return todo.c.assignee_id.in_(sorted(team_user_ids(session, actor.user_id)))
    return todo.c.assignee_id == actor.user_id


def line_fields(session: Session) -> tuple[LineItemsField, ...]:
    """The line-items fields of every published form (one per key), with the columns read as
    product, quantity, unit price and amount."""
    found: dict[str, LineItemsField] = {}
    rows = session.exec(select(FormDefinitionRow.definition).where(FormDefinitionRow.status == "published"))
    for (definition,) in rows:
        for form_field in (definition or {}).get("fields", ()):
            key = form_field.get("key", "")
            if form_field.get("type") != "line_items" or not key or key in found:
                continue
            columns = [(c.get("key", ""), c.get("type", "")) for c in form_field.get("columns") or ()
                       if isinstance(c, dict)]
            found[key] = LineItemsField.of(key, columns)
    return tuple(sorted(found.values(), key=lambda f: f.key))[:MAX_LINE_FIELDS]


def value_labels(session: Session, field: str, present: list[Any]) -> dict[str, str] | None:
    """Display names of the values of a data-set field; None: the orders' rules apply
    (`order.owner_id` is read as `owner_id`, and so on)."""
    if field in ("assignee_id", "actor_id") and present:
        ids = [v for v in present if isinstance(v, int)]
        return {str(i): n for i, n in session.exec(select(User.id, User.display_name).where(User.id.in_(ids))).all()}
    if field == "role":
        table = i18n.translations(i18n.get_locale())
        return {str(v): table.upgettext("role", ROLE_MSGIDS[v]) for v in present if v in ROLE_MSGIDS}
    if field == "state":
        table = i18n.translations(i18n.get_locale())
        return {str(v): table.upgettext("todo_state", STATE_MSGIDS[v]) for v in present if v in STATE_MSGIDS}
    if field == "rule_key" and present:
        names = {}
        for key, definition in session.exec(select(RuleDefinitionRow.key, RuleDefinitionRow.definition)
                                            .where(RuleDefinitionRow.key.in_([str(v) for v in present]))
                                            .order_by(RuleDefinitionRow.version)).all():
            name = (definition or {}).get("name")
            if isinstance(name, dict):
                zh, en = name.get("zh-CN") or name.get("zh"), name.get("en")
                names[key] = (zh if i18n.get_locale() == "zh_CN" else en) or en or zh or key
            elif isinstance(name, str) and name:
                names[key] = name
        return names
    return None  # stage_from / stage_to read as stages, order.* as the order's fields (label_field)


def label_field(field: str) -> str:
    """The orders' field whose labels a data-set field shares (`order.stage` -> `stage`)."""
    if field.startswith("order."):
        return field.removeprefix("order.")
    return {"stage_from": "stage", "stage_to": "stage"}.get(field, field)
