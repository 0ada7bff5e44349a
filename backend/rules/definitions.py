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
from sqlalchemy import delete, exists, insert, literal, select, true, update
from sqlmodel import Session

from backend import i18n
from backend.audit import service as audit
from backend.auth.actor import Actor
from backend.definitions.lifecycle import Lifecycle, require_designer
from backend.errors import GendanError
from backend.orders.models import Order, load_predictions
from backend.rules import due_build, due_index, summary
from backend.rules.context import (
    ORDER,
    ORDER_FACTS,
    catalogue_for,
    fact_context,
    invalid,
    issues_read,
    order_values,
    parse,
    schema_issues,
)
from backend.rules.matching import count_matches, matching_order_ids, scope_clause
from backend.rules.models import RuleDefinitionRow, RuleOrderState
from backend.rules.schemas import DryRunSummary, EnablePreviewRead, IssueRead, RuleRead
from engine.facts import Catalogue, build_facts
from engine.jsonlogic import Issue
from engine.jsonlogic_compile import compiled_matches
from engine.rules.compiler import NotCompilable, compile_condition
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.due import rule_kind
from engine.rules.limits import printable
from engine.rules.validate import (
    compile_check,
    input_issues,
    template_issues,
    validate,
    warnings_before_enable,
)

RULES = Lifecycle("rule", RuleDefinitionRow)
FROM_NOW, INCLUDE_MATCHING = "from_now", "include_matching"
STARTS = (FROM_NOW, INCLUDE_MATCHING)


def to_read(row: RuleDefinitionRow, catalogue: Catalogue | None = None) -> RuleRead:
    """The row for the API; a draft read with a catalogue lists what blocks its publishing."""
    read = RuleRead.model_validate(row, from_attributes=True)
    read.definition = printable(read.definition)  # a row saved before NUL / lone surrogates were refused
    try:
        read.kind = rule_kind(load_rule(row.definition), compiles=not row.is_event_only)
    except (ValidationError, ValueError):
        pass
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
    read = to_read(rows[-1], catalogue_for(session))
    live = next((r for r in rows if r.status == "published" and r.enabled), None)
    read.due_build_percent = due_build.progress(session, live.id) if live is not None else None
    return read


def save_draft(session: Session, *, actor: Actor, definition: dict[str, Any], now: datetime) -> RuleRead:
    """Store the definition as the key's draft (a new version after the published one)."""
    require_designer(actor)
    rule = parse(definition)
    refused = template_issues(rule, catalogue_for(session))
    if refused:
        # named in the toast too, not only under the action: "“order.customer_nme” … did you mean …"
        first = refused[0]
        error = invalid(refused, code="rule.template_invalid")
        error.params = {**error.params, "message": i18n.translate_error(first.code, first.params)}
        raise error

    def build(version: int) -> dict[str, Any]:
        return rule.model_copy(update={"version": version, "status": "draft", "enabled": False}).model_dump(mode="json")

    draft = RULES.store_draft(session, actor=actor, key=rule.key, build=build, now=now)
    draft.is_time_rule = rule.is_time_rule
    session.flush()
    read = to_read(draft, catalogue_for(session))
    session.commit()
    return read


def publish_rule(session: Session, *, actor: Actor, key: str, now: datetime, confirm: bool = False,
                 start: str = INCLUDE_MATCHING) -> RuleRead:
    """Validate the draft and make it the published version (the previous one retires, and the new
    version stays enabled if the old one was, after the same checks as enabling, with `start`
    deciding as for enabling whether the orders matching now fire). All or nothing."""
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
        _confirm_before_enabling(session, rule, catalogue, now, confirm, start)
    if current is not None:  # a retired version is never scanned or heard
        current.enabled, current.scan_slot, current.scan_ready = False, None, False
    draft.enabled = was_enabled
    draft.is_event_only = compile_check(rule.condition, catalogue) is not None
    draft.definition = rule.model_copy(update={"status": "published", "enabled": was_enabled}).model_dump(mode="json")
    draft.start_from_now = was_enabled and start == FROM_NOW
    if was_enabled:
        _apply_start(session, rule, catalogue, now, start)
    if current is not None:
        due_index.drop_rule(session, current.id)
    RULES.publish(session, draft, actor=actor, now=now,
                  recorded={"enabled": was_enabled, **({"start": start} if was_enabled else {})})
    building = due_build.queue_build(session, draft, now, skip_matching=draft.start_from_now)
    read = to_read(draft)
    read.due_build_percent = 0 if building else None
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
                             confirm: bool, start: str = INCLUDE_MATCHING) -> None:
    """Enabling (and republishing an enabled rule) refuses unless confirmed: a rule matching every
    order, and, when the orders matching now fire too, one giving a person more than
    `summary.HEAVY_TODOS` to-dos at once (named, with the number)."""
    if start not in STARTS:
        raise GendanError("rule.start_invalid", {"start": str(start)[:40]}, status=400)
    if confirm:
        return
    warnings = [w for w in _enable_warnings(session, rule, catalogue, now) if w.code == "rule.matches_every_order"]
    if start == INCLUDE_MATCHING:
        load = _summary(session, rule, catalogue, now).heavy
        warnings += [Issue("actions", "rule.heavy_load", {"name": h.name, "count": h.count}) for h in load[:1]]
    if warnings:
        said = "; ".join(i18n.translate_error(w.code, w.params).rstrip(".。") for w in warnings)
        raise GendanError("rule.confirm_required", {"warnings": said}, status=409,
                          fields={w.path: (w.code, w.params) for w in warnings})


def enable_rule(session: Session, *, actor: Actor, key: str, confirm: bool = False, now: datetime,
                start: str = INCLUDE_MATCHING) -> RuleRead:
    """Enable the published version. Validation errors refuse; warnings refuse unless `confirm`.

    `start`: FROM_NOW records the orders matching now as the baseline, so only matches starting
    after enabling fire (time rules: the scan's first pass stores their bits without firing; event
    rules: a baseline state per matching order); INCLUDE_MATCHING also fires on the orders matching
    now. The API and the designer default to FROM_NOW; callers inside Gendan name their choice."""
    require_designer(actor)
    row = published(session, key, for_update=True)
    rule = parse(row.definition)
    catalogue = catalogue_for(session)
    issues = validate(rule, catalogue)
    if issues:
        raise invalid(issues)
    _confirm_before_enabling(session, rule, catalogue, now, confirm, start)
    audit.record(session, actor, "rule", key, "enable", {"enabled": row.enabled},
                 {"enabled": True, "version": row.version, "start": start}, now)
    row.enabled = True
    row.scan_slot, row.scan_ready = None, False  # the scan records a fresh baseline
    row.start_from_now = start == FROM_NOW
    _apply_start(session, rule, catalogue, now, start)
    row.definition = rule.model_copy(update={"enabled": True}).model_dump(mode="json")
    row.updated_at = now
    session.flush()
    building = due_build.queue_build(session, row, now, skip_matching=row.start_from_now)
    read = to_read(row)
    read.due_build_percent = 0 if building else None
    session.commit()
    return read


def _summary(session: Session, rule: RuleDefinition, catalogue: Catalogue, now: datetime) -> DryRunSummary:
    ctx = fact_context(now, session=session)
    ids, count, _ = matching_order_ids(session, rule, catalogue, ctx, limit=summary.SUMMARY_LIMIT)
    return summary.summarize(session, rule, ids, count, catalogue, ctx, now)


def enable_preview(session: Session, *, actor: Actor, key: str, now: datetime) -> EnablePreviewRead:
    """For the enable dialog: how many orders match now (fired only with "also the orders matching
    now") and who would get too many to-dos at once if they were. Nothing changes."""
    require_designer(actor)
    rule = load_rule(published(session, key).definition)
    found = _summary(session, rule, catalogue_for(session), now)
    return EnablePreviewRead(matching=found.matching, summary=found)


def _apply_start(session: Session, rule: RuleDefinition, catalogue: Catalogue, now: datetime, start: str) -> None:
    """Event rules: "from now on" records the baseline; "also the orders matching now" drops an
    earlier baseline, so those orders fire at the next event they hear. (Time rules: the scan reads
    `start_from_now` while it records the rule's baseline.)"""
    if start == FROM_NOW:
        if not rule.is_time_rule or rule_kind(rule, compiles=True) == "indexed":
            # an indexed time rule too: the index fires on a state-less order whose condition
            # holds at its next change, so the orders matching now need their baseline state
            baseline_event_rule(session, rule, catalogue, now)
        return
    state = RuleOrderState.__table__
    session.execute(delete(state).where(state.c.rule_key == rule.key, state.c.episode == 0))


def baseline_event_rule(session: Session, rule: RuleDefinition, catalogue: Catalogue, now: datetime) -> None:
    """"From now on" for an event rule: every order in scope matching now gets a baseline state
    (episode 0, active) unless it already has one, and a state whose episode had ended is active
    again. The event path fires on neither until its condition was false in between
    (backend/rules/firing.py). `every_time` rules need none: each event is its own episode."""
    if rule.firing.mode == "every_time":
        return
    ctx = fact_context(now, session=session)
    state = RuleOrderState.__table__
    try:
        condition = compile_condition(rule.condition, catalogue, ORDER_FACTS, ctx)
    except NotCompilable:
        condition = None
    if condition is not None:
        matching = select(ORDER.c.id).where(scope_clause(rule), condition)
        session.execute(update(state).where(state.c.rule_key == rule.key, state.c.active.is_(False),
                                            state.c.order_id.in_(matching)).values(active=True))
        session.execute(insert(state).from_select(
            ["rule_key", "order_id", "episode", "active", "fired_count"],
            select(literal(rule.key), ORDER.c.id, literal(0), true(), literal(0)).where(
                scope_clause(rule), condition,
                ~exists(select(state.c.id).where(state.c.rule_key == rule.key, state.c.order_id == ORDER.c.id)))))
        return
    # a condition only Python can evaluate: in batches of orders in scope, compiled once
    holds = compiled_matches(rule.condition)
    after = 0
    while True:
        orders = list(session.exec(select(Order).where(scope_clause(rule), Order.id > after)
                                   .order_by(Order.id).limit(500)).scalars())
        if not orders:
            return
        after = orders[-1].id
        load_predictions(session, orders)
        held = [o.id for o in orders if holds(build_facts(order_values(o), catalogue, ctx))]
        if not held:
            continue
        known = {s.order_id: s for s in session.exec(select(RuleOrderState).where(
            RuleOrderState.rule_key == rule.key, RuleOrderState.order_id.in_(held))).scalars()}
        for order_id in held:
            if order_id in known:
                known[order_id].active = True
            else:
                session.add(RuleOrderState(rule_key=rule.key, order_id=order_id, episode=0, active=True))
        session.flush()


def disable_rule(session: Session, *, actor: Actor, key: str, now: datetime) -> RuleRead:
    require_designer(actor)
    row = published(session, key, for_update=True)
    audit.record(session, actor, "rule", key, "disable", {"enabled": row.enabled}, {"enabled": False, "version": row.version}, now)
    row.enabled = False
    row.scan_slot, row.scan_ready = None, False  # frees the scan's slot
    due_index.drop_rule(session, row.id)
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
