"""Rule definitions: drafts, publish, enable with checks, disable, validate.

Drafts and publishing follow the lifecycle every designed definition shares
(backend/definitions/lifecycle.py); what is the rule's own is validation against the fact
catalogue, and enabling: enabling asks for confirmation when the condition would match every
order, and changes nothing unless every check passes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth.actor import Actor
from backend.definitions.lifecycle import Lifecycle, require_designer
from backend.errors import GendanError
from backend.rules.context import (
    catalogue_for,
    fact_context,
    invalid,
    issues_read,
    parse,
    schema_issues,
)
from backend.rules.matching import count_matches
from backend.rules.models import RuleDefinitionRow
from backend.rules.schemas import IssueRead, RuleRead
from engine.facts import Catalogue
from engine.jsonlogic import Issue
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.limits import printable
from engine.rules.validate import compile_check, input_issues, validate, warnings_before_enable

RULES = Lifecycle("rule", RuleDefinitionRow)


def to_read(row: RuleDefinitionRow, catalogue: Catalogue | None = None) -> RuleRead:
    """The row for the API; a draft read with a catalogue lists what blocks its publishing."""
    read = RuleRead.model_validate(row, from_attributes=True)
    read.definition = printable(read.definition)  # a row saved before NUL / lone surrogates were refused
    if catalogue is not None and row.status == "draft":
        try:
            read.issues = issues_read(validate(load_rule(row.definition), catalogue))
        except (ValidationError, ValueError):
            pass
    return read


def list_rules(session: Session, *, actor: Actor) -> list[RuleRead]:
    """The newest version of every rule key."""
    return [to_read(r) for r in RULES.newest_per_key(session)]


def get_rule(session: Session, *, actor: Actor, key: str) -> RuleRead:
    rows = RULES.versions(session, key)
    if not rows:
        raise GendanError("rule.not_found", {"key": key}, status=404)
    return to_read(rows[-1], catalogue_for(session))


def save_draft(session: Session, *, actor: Actor, definition: dict[str, Any], now: datetime) -> RuleRead:
    """Store the definition as the key's draft (a new version after the published one)."""
    require_designer(actor)
    rule = parse(definition)

    def build(version: int) -> dict[str, Any]:
        return rule.model_copy(update={"version": version, "status": "draft", "enabled": False}).model_dump(mode="json")

    draft = RULES.store_draft(session, actor=actor, key=rule.key, build=build, now=now)
    draft.is_time_rule = rule.is_time_rule
    session.flush()
    read = to_read(draft, catalogue_for(session))
    session.commit()
    return read


def publish_rule(session: Session, *, actor: Actor, key: str, now: datetime, confirm: bool = False) -> RuleRead:
    """Validate the draft and make it the published version (the previous one retires, and the new
    version stays enabled if the old one was, after the same checks as enabling). All or nothing."""
    require_designer(actor)
    draft = RULES.with_status(session, key, "draft")
    if draft is None:
        if not RULES.versions(session, key):
            raise GendanError("rule.not_found", {"key": key}, status=404)
        raise GendanError("rule.no_draft", {"key": key}, status=409)
    rule = parse(draft.definition)
    catalogue = catalogue_for(session)
    issues = validate(rule, catalogue)
    if issues:
        raise invalid(issues)
    current = RULES.with_status(session, key, "published")
    was_enabled = current is not None and current.enabled
    if was_enabled:
        _confirm_before_enabling(session, rule, catalogue, now, confirm)
    if current is not None:  # a retired version is never scanned or heard
        current.enabled, current.scan_slot, current.scan_ready = False, None, False
    draft.enabled = was_enabled
    draft.is_event_only = compile_check(rule.condition, catalogue) is not None
    draft.definition = rule.model_copy(update={"status": "published", "enabled": was_enabled}).model_dump(mode="json")
    RULES.publish(session, draft, actor=actor, now=now, recorded={"enabled": was_enabled})
    read = to_read(draft)
    session.commit()
    return read


def published(session: Session, key: str, *, for_update: bool = False) -> RuleDefinitionRow:
    """The key's published version, or rule.not_found / rule.not_published."""
    row = RULES.with_status(session, key, "published", for_update=for_update)
    if row is None:
        if not RULES.versions(session, key):
            raise GendanError("rule.not_found", {"key": key}, status=404)
        raise GendanError("rule.not_published", {"key": key}, status=409)
    return row


def check_enable(session: Session, *, actor: Actor, key: str, now: datetime) -> list[IssueRead]:
    """What enabling would warn about (matches every order, event-only), with nothing changed."""
    require_designer(actor)
    return issues_read(_enable_warnings(session, load_rule(published(session, key).definition),
                                        catalogue_for(session), now))


def _enable_warnings(session: Session, rule: RuleDefinition, catalogue: Catalogue, now: datetime) -> list[Issue]:
    warnings = list(warnings_before_enable(rule, catalogue))
    if not any(w.code == "rule.matches_every_order" for w in warnings):
        total, matched = count_matches(session, rule, catalogue, fact_context(now, session=session))
        if total > 0 and matched == total:
            warnings.append(Issue("condition", "rule.matches_every_order", {"orders": total}))
    return warnings


def _confirm_before_enabling(session: Session, rule: RuleDefinition, catalogue: Catalogue, now: datetime,
                             confirm: bool) -> None:
    """Enabling (and republishing an enabled rule) refuses a rule matching every order unless confirmed."""
    warnings = [w for w in _enable_warnings(session, rule, catalogue, now) if w.code == "rule.matches_every_order"]
    if warnings and not confirm:
        raise GendanError("rule.confirm_required", {"warnings": ", ".join(w.code for w in warnings)}, status=409,
                          fields={w.path: (w.code, w.params) for w in warnings})


def enable_rule(session: Session, *, actor: Actor, key: str, confirm: bool = False, now: datetime) -> RuleRead:
    """Enable the published version. Validation errors refuse; warnings refuse unless `confirm`."""
    require_designer(actor)
    row = published(session, key, for_update=True)
    rule = parse(row.definition)
    catalogue = catalogue_for(session)
    issues = validate(rule, catalogue)
    if issues:
        raise invalid(issues)
    _confirm_before_enabling(session, rule, catalogue, now, confirm)
    audit.record(session, actor, "rule", key, "enable", {"enabled": row.enabled}, {"enabled": True, "version": row.version}, now)
    row.enabled = True
    row.scan_slot, row.scan_ready = None, False  # the scan records a fresh baseline
    row.definition = rule.model_copy(update={"enabled": True}).model_dump(mode="json")
    row.updated_at = now
    session.flush()
    read = to_read(row)
    session.commit()
    return read


def disable_rule(session: Session, *, actor: Actor, key: str, now: datetime) -> RuleRead:
    require_designer(actor)
    row = published(session, key, for_update=True)
    audit.record(session, actor, "rule", key, "disable", {"enabled": row.enabled}, {"enabled": False, "version": row.version}, now)
    row.enabled = False
    row.scan_slot, row.scan_ready = None, False  # frees the scan's slot
    row.definition = {**row.definition, "enabled": False}
    row.updated_at = now
    session.flush()
    read = to_read(row)
    session.commit()
    return read


def validate_definition(session: Session, *, actor: Actor, definition: dict[str, Any]) -> list[IssueRead]:
    """Every issue that would block publishing (nothing is stored)."""
    refused = input_issues(definition)
    if refused:
        return issues_read(refused)
    try:
        rule = load_rule(definition)
    except ValidationError as exc:
        return issues_read(schema_issues(exc))
    return issues_read(validate(rule, catalogue_for(session)))
