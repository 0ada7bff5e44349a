"""The audit trail as people read it: labelled fields, "before → after" in words, names instead
of ids, links to the changed entity. Built per request so every label is in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend.audit.schemas import ENTITY_TYPES, AuditRead
from backend.audit.service import REDACTED
from backend.customers.models import Customer
from backend.people.models import Department, User
from frontend.pages import definition_names
from frontend.pages.common import pgettext, role_label
from frontend.templating import _fmt_datetime

USER_FIELDS = ("owner_id", "head_id", "acts_as_id", "user_id")
DEPARTMENT_FIELDS = ("department_id", "parent_id")
ENTITY_URLS = {"customer": "/customers/{key}", "user": "/admin/users/{key}", "department": "/admin/departments/{key}",
               "rule": "/designer/rules/{key}", "flow": "/designer/flows/{key}", "report": "/designer/reports/{key}",
               "dashboard": "/dashboards/{key}"}


def entity_labels() -> dict[str, str]:
    return {
        "customer": pgettext("audit", "Customer"), "user": pgettext("audit", "User"),
        "department": pgettext("audit", "Department"), "api_key": pgettext("audit", "API key"),
        "inbound_source": pgettext("audit", "Inbound source"), "channel": pgettext("audit", "Notification channel"),
        "form": pgettext("audit", "Order form"), "flow": pgettext("audit", "Flow"), "rule": pgettext("audit", "Rule"),
        "external_party": pgettext("audit", "External party"), "portal_link": pgettext("audit", "Portal link"),
        "portal_user": pgettext("audit", "Portal user"),
        "dashboard": pgettext("audit", "Dashboard"), "report": pgettext("audit", "Report"),
    }


def action_labels() -> dict[str, str]:
    return {
        "create": pgettext("audit", "created"), "update": pgettext("audit", "changed"),
        "revoke": pgettext("audit", "revoked"), "rotate_secret": pgettext("audit", "secret renewed"),
        "publish": pgettext("audit", "published"), "enable": pgettext("audit", "enabled"),
        "disable": pgettext("audit", "disabled"),
        "issue": pgettext("audit", "issued"), "submit": pgettext("audit", "saved by the party"),
    }


def field_labels() -> dict[str, str]:
    return {
        "name": pgettext("audit", "Name"), "code": pgettext("audit", "Code"), "tier": pgettext("audit", "Tier"),
        "region": pgettext("audit", "Region"), "owner_id": pgettext("audit", "Owner"),
        "contact_name": pgettext("audit", "Contact person"), "email": pgettext("audit", "Email"),
        "phone": pgettext("audit", "Telephone"), "dingtalk_id": pgettext("audit", "DingTalk ID"),
        "wecom_id": pgettext("audit", "WeCom ID"), "preferred_locale": pgettext("audit", "Language"),
        "preferred_channel": pgettext("audit", "Preferred channel"),
        "is_unsubscribed": pgettext("audit", "Unsubscribed"), "username": pgettext("audit", "User name"),
        "display_name": pgettext("audit", "Display name"), "department_id": pgettext("audit", "Department"),
        "locale": pgettext("audit", "Language"), "is_active": pgettext("audit", "Can sign in"),
        "password_hash": pgettext("audit", "Password"), "roles": pgettext("audit", "Roles"),
        "parent_id": pgettext("audit", "Parent department"), "head_id": pgettext("audit", "Head"),
        "prefix": pgettext("audit", "Key prefix"), "scope": pgettext("audit", "Scope"),
        "user_id": pgettext("audit", "Acts as"), "acts_as_id": pgettext("audit", "Acts as"),
        "key_hash": pgettext("audit", "Key"), "revoked_at": pgettext("audit", "Revoked at"),
        "key": pgettext("audit", "Source key"), "secret": pgettext("audit", "Secret"),
        "kind": pgettext("audit", "Kind"), "target": pgettext("audit", "Address"),
        "options": pgettext("audit", "Options"), "is_enabled": pgettext("audit", "Enabled"),
        "enabled": pgettext("audit", "Enabled"), "version": pgettext("audit", "Version"),
        "via": pgettext("audit", "Via"),
        "party_id": pgettext("audit", "External party"), "order_id": pgettext("audit", "Order"),
        "node_key": pgettext("audit", "Flow step"), "expires_at": pgettext("audit", "Expires"),
    }


@dataclass
class Change:
    field: str
    before: str
    after: str


@dataclass
class AuditRow:
    id: int
    at: datetime
    actor: str
    entity_type: str
    entity: str
    url: str | None
    action: str
    changes: list[Change] = field(default_factory=list)


@dataclass
class _Names:
    users: dict[int, str]
    departments: dict[int, str]
    customers: dict[int, str]
    definitions: dict[tuple[str, str], str] = field(default_factory=dict)


def _ids(events: list[AuditRead], entity_type: str, fields: tuple[str, ...]) -> set[int]:
    out = {int(e.entity_key) for e in events if e.entity_type == entity_type and e.entity_key.isdigit()}
    for e in events:
        for side in (e.before, e.after):
            out.update(v for k, v in side.items() if k in fields and isinstance(v, int))
    return out


def _names(session: Session, events: list[AuditRead]) -> _Names:
    def lookup(model, label, ids: set[int]) -> dict[int, str]:
        return dict(session.exec(select(model.id, label).where(model.id.in_(ids))).all()) if ids else {}

    return _Names(users=lookup(User, User.display_name, _ids(events, "user", USER_FIELDS)),
                  departments=lookup(Department, Department.name, _ids(events, "department", DEPARTMENT_FIELDS)),
                  customers=lookup(Customer, Customer.name, _ids(events, "customer", ())),
                  definitions=_definition_names(session, events))


def _definition_names(session: Session, events: list[AuditRead]) -> dict[tuple[str, str], str]:
    """(entity type, key) → the definition's name in the reader's language (the audit log named rules
    `payment_due_reminder` and the order form `order` on a zh-CN page)."""
    out: dict[tuple[str, str], str] = {}
    for kind in definition_names.TABLES:
        keys = {e.entity_key for e in events if e.entity_type == kind}
        out.update(((kind, key), name) for key, name in definition_names.names(session, kind, keys).items())
    return out


def _value(name: str, value: Any, names: _Names) -> str:
    if value == REDACTED:
        return pgettext("audit", "(hidden)")
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return pgettext("audit", "yes") if value else pgettext("audit", "no")
    if name == "via" and isinstance(value, str):  # backend/ingest/via.py: "connector: <name>", "import: <file>", ...
        kind, _, what = value.partition(": ")
        label = {"connector": pgettext("audit", "connector"), "import": pgettext("audit", "import file"),
                 "webhook": pgettext("audit", "webhook"), "api": pgettext("audit", "API"),
                 "api key": pgettext("audit", "API key")}.get(kind)
        return f"{label} {what}" if label else value
    if name in USER_FIELDS and isinstance(value, int):
        return names.users.get(value, f"#{value}")
    if name in DEPARTMENT_FIELDS and isinstance(value, int):
        return names.departments.get(value, f"#{value}")
    if name == "roles" and isinstance(value, list):
        return ", ".join(role_label(r) for r in value)
    if name.endswith("_at") and isinstance(value, str):
        # stored as UTC ISO text: shown as every other time is, in the installation's zone
        try:
            return _fmt_datetime(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _entity(event: AuditRead, names: _Names) -> str:
    key = int(event.entity_key) if event.entity_key.isdigit() else None
    table = {"user": names.users, "department": names.departments, "customer": names.customers}.get(event.entity_type)
    if table is not None and key is not None:
        return table.get(key, f"#{key}")
    if event.entity_type in definition_names.TABLES:
        return names.definitions.get((event.entity_type, event.entity_key), event.entity_key)
    return event.entity_key if key is None else f"#{key}"


def rows(session: Session, events: list[AuditRead]) -> list[AuditRow]:
    names = _names(session, events)
    fields, entities, actions = field_labels(), entity_labels(), action_labels()
    out = []
    for e in events:
        # a creation has no "before": it lists the new values only
        changes = [Change(fields.get(k, k), "" if e.action == "create" else _value(k, e.before.get(k), names),
                          _value(k, e.after.get(k), names)) for k in dict.fromkeys([*e.before, *e.after])]
        url = ENTITY_URLS.get(e.entity_type)
        out.append(AuditRow(
            id=e.id, at=e.at, actor=e.actor_name or pgettext("audit", "command line"),
            entity_type=entities.get(e.entity_type, e.entity_type), entity=_entity(e, names),
            url=url.format(key=e.entity_key) if url else None, action=actions.get(e.action, e.action),
            changes=changes))
    return out


def entity_type_choices() -> list[tuple[str, str]]:
    labels = entity_labels()
    return [(t, labels[t]) for t in ENTITY_TYPES]
