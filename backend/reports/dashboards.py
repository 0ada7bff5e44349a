"""Dashboards: report tiles on a grid, shared with roles and departments, with the reader's filters
(date range, team, customer tier) applied to every tile on top of row-level access.

Who sees a dashboard: admins and designers always; others when one of their roles or their
department is in `shared_with`. Whoever sees it, each tile counts only the orders they may see
(backend/orders/access.py), so sharing a dashboard never shares another team's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, delete, select, true
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.definitions.lifecycle import Lifecycle, require_designer
from backend.errors import GendanError
from backend.installation.service import get_installation
from backend.orders.models import Order
from backend.people.models import Department
from backend.people.org import team_user_ids
from backend.reports import service
from backend.reports.models import DashboardDefinitionRow, ReportDefinitionRow, ReportSchedule
from engine.reports.builtin import BUILTIN_DASHBOARD, BUILTIN_REPORTS, SUPERSEDED
from engine.reports.dashboard import DashboardDefinition, load_dashboard

LIFECYCLE: Lifecycle[DashboardDefinitionRow] = Lifecycle("dashboard", DashboardDefinitionRow)
TIERS = ("key", "standard", "small")
NAME_LIMIT = 80  # characters of a dashboard's name, in each language


@dataclass(frozen=True)
class DashboardFilters:
    date_from: date | None = None
    date_to: date | None = None
    team: int | None = None  # a department: its head's team (the department and those below)
    tier: str | None = None

    def key(self) -> tuple[Any, ...]:
        return (self.date_from, self.date_to, self.team, self.tier)


def parse_filters(params: dict[str, str]) -> DashboardFilters:
    """Filters from GET parameters; a value that does not parse is 422 in the reader's language."""
    def day(name: str) -> date | None:
        raw = (params.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise GendanError("dashboard.bad_filter", {"name": name}, status=422) from exc
    team_raw = (params.get("team") or "").strip()
    if team_raw and not team_raw.isdigit():
        raise GendanError("dashboard.bad_filter", {"name": "team"}, status=422)
    tier = (params.get("tier") or "").strip() or None
    if tier is not None and tier not in TIERS:
        raise GendanError("dashboard.bad_filter", {"name": "tier"}, status=422)
    return DashboardFilters(day("from"), day("to"), int(team_raw) if team_raw else None, tier)


def filters_clause(session: Session, filters: DashboardFilters) -> Any:
    """The filters over the order table: created in the date range (the installation's days),
    owned by the team, for customers of the tier; None when the dashboard sets none (then a to-dos
    report also counts the to-dos without an order, which no order filter can choose)."""
    parts = []
    zone = get_installation(session).zone
    if filters.date_from:
        parts.append(Order.created_at >= datetime.combine(filters.date_from, time(), zone))
    if filters.date_to:
        parts.append(Order.created_at < datetime.combine(filters.date_to + timedelta(days=1), time(), zone))
    if filters.team is not None:
        department = session.get(Department, filters.team)
        members = team_user_ids(session, department.head_id) if department and department.head_id else set()
        parts.append(Order.owner_id.in_(sorted(members) or [-1]))
    if filters.tier:
        parts.append(Order.customer_id.in_(select(Customer.id).where(Customer.tier == filters.tier)))
    return and_(true(), *parts) if parts else None


def ensure_builtin(session: Session, now: datetime) -> None:
    """Store the shipped day-one reports and dashboard (published, version 1) when missing."""
    changed = False
    for definition in BUILTIN_REPORTS:
        versions = service.LIFECYCLE.versions(session, definition["key"])
        if versions:
            changed = _upgrade_builtin(session, definition, versions, now) or changed
            continue
        row = ReportDefinitionRow(key=definition["key"], version=1, status="published", definition=definition,
                                  created_at=now, updated_at=now, published_at=now)
        session.add(row)
        changed = True
    if not LIFECYCLE.versions(session, BUILTIN_DASHBOARD["key"]):
        session.add(DashboardDefinitionRow(key=BUILTIN_DASHBOARD["key"], version=1, status="published",
                                           definition=BUILTIN_DASHBOARD, created_at=now, updated_at=now,
                                           published_at=now))
        changed = True
    if changed:
        session.commit()


def _upgrade_builtin(session: Session, definition: dict[str, Any], versions: list, now: datetime) -> bool:
    """A shipped report still exactly as an older release shipped it (nobody changed it, no draft)
    moves to the new definition as a new published version; the old one is retired, kept."""
    newest = max(versions, key=lambda r: r.version)
    if newest.status != "published" or newest.definition not in SUPERSEDED.get(definition["key"], []):
        return False
    newest.status = "retired"
    session.flush()
    session.add(ReportDefinitionRow(key=definition["key"], version=newest.version + 1, status="published",
                                    definition=definition, created_at=now, updated_at=now, published_at=now))
    return True


def can_view(actor: Actor, definition: dict[str, Any]) -> bool:
    if actor.is_admin or actor.has_role("designer"):
        return True
    shared = definition.get("shared_with") or {}
    return bool(set(shared.get("roles") or ()) & set(actor.roles)) or (
        actor.department_id is not None and actor.department_id in (shared.get("departments") or ()))


def current(session: Session, key: str) -> DashboardDefinitionRow | None:
    return LIFECYCLE.with_status(session, key, "published") or LIFECYCLE.working_copy(session, key)


def visible(session: Session, actor: Actor) -> list[DashboardDefinitionRow]:
    rows = [current(session, r.key) for r in LIFECYCLE.newest_per_key(session)]
    return [r for r in rows if r is not None and can_view(actor, r.definition)]


def get_visible(session: Session, actor: Actor, key: str) -> DashboardDefinitionRow:
    row = current(session, key)
    if row is None or not can_view(actor, row.definition):
        raise GendanError("dashboard.not_found", {"key": key}, status=404)
    return row


def save_and_publish(session: Session, *, actor: Actor, definition: dict[str, Any], now: datetime) -> DashboardDefinitionRow:
    """Store the layout as the key's draft and publish it (a dashboard has nothing to dry-run)."""
    require_designer(actor)
    try:
        dashboard: DashboardDefinition = load_dashboard(definition)
    except ValidationError as exc:
        raise GendanError("dashboard.definition_invalid", {"count": len(exc.errors())}, status=422) from exc
    dashboard.name = checked_name(dashboard.name)
    for tile in dashboard.tiles:
        if service.LIFECYCLE.working_copy(session, tile.report) is None:
            raise GendanError("report.not_found", {"key": tile.report, "version": ""}, status=404)
    draft = LIFECYCLE.store_draft(session, actor=actor, key=dashboard.key,
                                  build=lambda _v: dashboard.model_dump(mode="json"), now=now)
    LIFECYCLE.publish(session, draft, actor=actor, now=now)
    session.commit()
    return draft


def checked_name(name: dict[str, str]) -> dict[str, str]:
    """The names with their spaces collapsed; a dashboard renamed to nothing (every language given
    blank) or past the limit is refused in words: the list and the page would show a bare key. A
    definition with no name at all (the JSON import's choice, as before) stays as it is."""
    names = {lang: " ".join(str(value).split()) for lang, value in name.items()}
    if (names and not any(names.values())) or any(len(v) > NAME_LIMIT for v in names.values()):
        raise GendanError("dashboard.name_invalid", {"limit": NAME_LIMIT}, status=422)
    return names


def delete_dashboard(session: Session, *, actor: Actor, key: str, now: datetime) -> None:
    """Take a dashboard away (designers): every version retired — kept, so its key is never handed
    to a new dashboard and the audit trail still reads — and its scheduled deliveries deleted (they
    would only fail at each moment). Readers then get 404 like for a dashboard never made."""
    require_designer(actor)
    if current(session, key) is None:
        raise GendanError("dashboard.not_found", {"key": key}, status=404)
    versions = [r for r in LIFECYCLE.versions(session, key) if r.status != "retired"]
    for row in versions:
        row.status, row.updated_at = "retired", now
    session.execute(delete(ReportSchedule).where(ReportSchedule.dashboard_key == key))
    audit.record(session, actor, "dashboard", key, "delete", {"versions": [r.version for r in versions]},
                 {"status": "retired"}, now)
    session.commit()


def run_tile(session: Session, *, actor: Actor, key: str, index: int, filters: DashboardFilters,
             now: datetime) -> tuple[dict[str, Any], service.ReportResult]:
    """One tile's report (its published version) with the dashboard's filters, as `actor` may see it."""
    row = get_visible(session, actor, key)
    tiles = row.definition.get("tiles") or []
    if not 0 <= index < len(tiles):
        raise GendanError("dashboard.not_found", {"key": key}, status=404)
    report = service.published(session, tiles[index]["report"])
    result = service.run(session, actor=actor, definition=report.definition, now=now,
                         version=(report.key, report.version), extra=filters_clause(session, filters),
                         extra_key=filters.key())
    return report.definition, result
