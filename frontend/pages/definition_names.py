"""What designers named their forms, flows, rules, reports and dashboards, in the reader's language.

These things are keyed by a short key (`payment_due_reminder`, `order`) and named per language in
their definition: a form by `title`, the others by `name` ({"zh-CN" or "zh": …, "en": …}). Pages
that spoke of them by key (the audit log, the what-if replays) showed `delay_risk` on a zh-CN page
where the rules list says 交期延误风险.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend import i18n
from backend.flows.models import FlowDefinitionRow
from backend.forms.models import FormDefinitionRow
from backend.reports.models import DashboardDefinitionRow, ReportDefinitionRow
from backend.rules.models import RuleDefinitionRow

TABLES = {"form": FormDefinitionRow, "flow": FlowDefinitionRow, "rule": RuleDefinitionRow,
          "report": ReportDefinitionRow, "dashboard": DashboardDefinitionRow}


def names(session: Session, kind: str, keys: Iterable[str]) -> dict[str, str]:
    """key → name of the newest version (draft or published) of each definition that has a name."""
    table, wanted = TABLES[kind], set(keys)
    if not wanted:
        return {}
    out: dict[str, str] = {}
    found = session.exec(select(table.key, table.definition).where(table.key.in_(wanted))
                         .order_by(table.version)).all()
    for key, definition in found:  # the newest version is read last and wins
        name = localized((definition or {}).get("name") or (definition or {}).get("title"))
        if name:
            out[key] = name
    return out


def name(session: Session, kind: str, key: str) -> str:
    """The definition's name, else its key (one that was never named, or is gone)."""
    return names(session, kind, [key]).get(key, key)


def localized(value: Any, locale: str | None = None) -> str | None:
    """A name in `locale` (the page's language by default), else in the other ("zh" or "zh-CN" for
    Chinese)."""
    if isinstance(value, str):
        return value or None
    if not isinstance(value, dict):
        return None
    zh, en = value.get("zh-CN") or value.get("zh"), value.get("en")
    return (zh or en) if (locale or i18n.get_locale()) == "zh_CN" else (en or zh)
