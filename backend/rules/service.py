"""Rule use cases: drafts, publish, enable with checks, dry run, history, and the firing machinery.

Publishing validates with the engine; enabling asks for confirmation when the condition would
match every order, and changes nothing unless every check passes. Firing (used by the scan in
tasks.py and by the event hook) records a `rule_firing` row under its unique key (rule, order,
episode) in a SAVEPOINT, then applies the effects (to-dos, notifications, outbox rows) in the same
transaction: a second worker's identical firing fails on the unique key and applies nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Text, and_, cast, exists, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.effects import apply_effects
from backend.errors import GendanError
from backend.flows.models import FlowInstance
from backend.forms.models import FormDefinitionRow
from backend.inbox.models import InboxItem
from backend.notify.models import OutboxMessage
from backend.orders.models import Order
from backend.people import org
from backend.rules.models import RuleDefinitionRow, RuleFiring, RuleOrderState
from backend.rules.schemas import DryRunMatch, DryRunRead, FiringRead, IssueRead, RuleRead
from engine import effects as fx
from engine.calendar import BusinessCalendar
from engine.facts import (
    Catalogue,
    FactContext,
    FieldSpec,
    build_facts,
    default_catalogue,
    fact_type_for_form_field,
)
from engine.jsonlogic import Issue, matches
from engine.rules.actions import People, plan_actions
from engine.rules.compiler import NotCompilable, compile_condition
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.firing import FiringDecision, FiringState, decide_firing
from engine.rules.validate import compile_check, validate, warnings_before_enable

ORDER = Order.__table__
STATE = RuleOrderState.__table__
DRY_RUN_PYTHON_LIMIT = 20_000  # event-only rules are dry-run in Python over at most this many open orders


# --- context ---------------------------------------------------------------------------------


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


def fact_context(now: datetime, calendar: BusinessCalendar | None = None) -> FactContext:
    return FactContext(now=now, calendar=calendar or BusinessCalendar())


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


# --- definitions -----------------------------------------------------------------------------


def _require_admin(actor: Actor) -> None:
    if not (actor.is_admin or actor.has_role("designer")) or not actor.can_write:
        raise GendanError("auth.forbidden")


def _issues_read(issues: list[Issue]) -> list[IssueRead]:
    return [IssueRead(path=i.path, code=i.code, params=i.params) for i in issues]


def _invalid(issues: list[Issue], code: str = "rule.definition_invalid") -> GendanError:
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    for issue in issues:
        fields.setdefault(issue.path or "_", (issue.code, issue.params))
    return GendanError(code, {"count": len(issues)}, status=422, fields=fields)


def parse(definition: dict[str, Any]) -> RuleDefinition:
    """A RuleDefinition from JSON, or GendanError rule.definition_invalid with a path per problem."""
    try:
        return load_rule(definition)
    except ValidationError as exc:
        issues = [
            Issue(".".join(str(p) for p in err["loc"]), "rule.schema_" + err["type"], {"message": err["msg"]})
            for err in exc.errors()
        ]
        raise _invalid(issues) from exc
    except ValueError as exc:
        raise GendanError("rule.definition_invalid", {"count": 1}, status=422,
                          fields={"schema_version": (str(exc).split(":")[0], {})}) from exc


def _rows(session: Session, key: str) -> list[RuleDefinitionRow]:
    return list(
        session.exec(select(RuleDefinitionRow).where(RuleDefinitionRow.key == key).order_by(RuleDefinitionRow.version))
        .scalars()
    )


def _to_read(row: RuleDefinitionRow, catalogue: Catalogue | None = None) -> RuleRead:
    read = RuleRead.model_validate(row, from_attributes=True)
    if catalogue is not None and row.status == "draft":
        try:
            read.issues = _issues_read(validate(load_rule(row.definition), catalogue))
        except (ValidationError, ValueError):
            pass
    return read


def list_rules(session: Session, *, actor: Actor) -> list[RuleRead]:
    """The newest version of every rule key."""
    newest = (
        select(RuleDefinitionRow.key, func.max(RuleDefinitionRow.version).label("version"))
        .group_by(RuleDefinitionRow.key)
        .subquery()
    )
    rows = session.exec(
        select(RuleDefinitionRow)
        .join(newest, and_(newest.c.key == RuleDefinitionRow.key, newest.c.version == RuleDefinitionRow.version))
        .order_by(RuleDefinitionRow.key)
    ).scalars()
    return [_to_read(r) for r in rows]


def get_rule(session: Session, *, actor: Actor, key: str) -> RuleRead:
    rows = _rows(session, key)
    if not rows:
        raise GendanError("rule.not_found", {"key": key}, status=404)
    return _to_read(rows[-1], catalogue_for(session))


def save_draft(session: Session, *, actor: Actor, definition: dict[str, Any], now: datetime) -> RuleRead:
    """Store the definition as the key's draft (a new version after the published one)."""
    _require_admin(actor)
    rule = parse(definition)
    rows = _rows(session, rule.key)
    draft = next((r for r in rows if r.status == "draft"), None)
    version = draft.version if draft else (rows[-1].version + 1 if rows else 1)
    data = rule.model_copy(update={"version": version, "status": "draft", "enabled": False}).model_dump(mode="json")
    if draft is None:
        draft = RuleDefinitionRow(key=rule.key, version=version, status="draft", author_id=actor.user_id,
                                  created_at=now, updated_at=now, definition=data)
        session.add(draft)
    draft.definition = data
    draft.is_time_rule = rule.is_time_rule
    draft.updated_at = now
    session.flush()
    read = _to_read(draft, catalogue_for(session))
    session.commit()
    return read


def publish_rule(session: Session, *, actor: Actor, key: str, now: datetime) -> RuleRead:
    """Validate the draft and make it the published version (the previous one retires, and the new
    version stays enabled if the old one was). All or nothing."""
    _require_admin(actor)
    rows = _rows(session, key)
    if not rows:
        raise GendanError("rule.not_found", {"key": key}, status=404)
    draft = next((r for r in rows if r.status == "draft"), None)
    if draft is None:
        raise GendanError("rule.no_draft", {"key": key}, status=409)
    rule = parse(draft.definition)
    catalogue = catalogue_for(session)
    issues = validate(rule, catalogue)
    if issues:
        raise _invalid(issues)
    was_enabled = False
    for row in rows:
        if row.status == "published":
            was_enabled = row.enabled
            row.status, row.enabled, row.updated_at = "retired", False, now
            row.scan_slot, row.scan_ready = None, False
    session.flush()
    draft.status = "published"
    draft.enabled = was_enabled
    draft.is_event_only = compile_check(rule.condition, catalogue) is not None
    draft.definition = rule.model_copy(update={"status": "published", "enabled": was_enabled}).model_dump(mode="json")
    draft.published_at = draft.updated_at = now
    audit.record(session, actor, "rule", key, "publish", {}, {"version": draft.version, "enabled": was_enabled}, now)
    session.flush()
    read = _to_read(draft)
    session.commit()
    return read


def _published(session: Session, key: str, *, for_update: bool = False) -> RuleDefinitionRow:
    stmt = select(RuleDefinitionRow).where(RuleDefinitionRow.key == key, RuleDefinitionRow.status == "published")
    if for_update:
        stmt = stmt.with_for_update()
    row = session.exec(stmt).scalars().first()
    if row is None:
        if not _rows(session, key):
            raise GendanError("rule.not_found", {"key": key}, status=404)
        raise GendanError("rule.not_published", {"key": key}, status=409)
    return row


def check_enable(session: Session, *, actor: Actor, key: str, now: datetime) -> list[IssueRead]:
    """What enabling would warn about (matches every order, event-only), with nothing changed."""
    _require_admin(actor)
    row = _published(session, key)
    rule = load_rule(row.definition)
    catalogue = catalogue_for(session)
    warnings = list(warnings_before_enable(rule, catalogue))
    if not any(w.code == "rule.matches_every_order" for w in warnings):
        total, matched = _count_matches(session, rule, catalogue, fact_context(now))
        if total > 0 and matched == total:
            warnings.append(Issue("condition", "rule.matches_every_order", {"orders": total}))
    return _issues_read(warnings)


def enable_rule(session: Session, *, actor: Actor, key: str, confirm: bool = False, now: datetime) -> RuleRead:
    """Enable the published version. Validation errors refuse; warnings refuse unless `confirm`."""
    _require_admin(actor)
    row = _published(session, key, for_update=True)
    rule = parse(row.definition)
    catalogue = catalogue_for(session)
    issues = validate(rule, catalogue)
    if issues:
        raise _invalid(issues)
    warnings = [w for w in check_enable(session, actor=actor, key=key, now=now) if w.code == "rule.matches_every_order"]
    if warnings and not confirm:
        raise GendanError("rule.confirm_required", {"warnings": ", ".join(w.code for w in warnings)}, status=409,
                          fields={w.path: (w.code, w.params) for w in warnings})
    audit.record(session, actor, "rule", key, "enable", {"enabled": row.enabled}, {"enabled": True, "version": row.version}, now)
    row.enabled = True
    row.scan_slot, row.scan_ready = None, False  # the scan records a fresh baseline
    row.definition = rule.model_copy(update={"enabled": True}).model_dump(mode="json")
    row.updated_at = now
    session.flush()
    read = _to_read(row)
    session.commit()
    return read


def disable_rule(session: Session, *, actor: Actor, key: str, now: datetime) -> RuleRead:
    _require_admin(actor)
    row = _published(session, key, for_update=True)
    audit.record(session, actor, "rule", key, "disable", {"enabled": row.enabled}, {"enabled": False, "version": row.version}, now)
    row.enabled = False
    row.scan_slot, row.scan_ready = None, False  # frees the scan's slot
    row.definition = {**row.definition, "enabled": False}
    row.updated_at = now
    session.flush()
    read = _to_read(row)
    session.commit()
    return read


def validate_definition(session: Session, *, actor: Actor, definition: dict[str, Any]) -> list[IssueRead]:
    """Every issue that would block publishing (nothing is stored)."""
    try:
        rule = load_rule(definition)
    except ValidationError as exc:
        return [IssueRead(path=".".join(str(p) for p in e["loc"]), code="rule.schema_" + e["type"],
                          params={"message": e["msg"]}) for e in exc.errors()]
    return _issues_read(validate(rule, catalogue_for(session)))


# --- matching --------------------------------------------------------------------------------


def scope_clause(rule: RuleDefinition) -> Any:
    """The rule's scope over the order table: statuses, forms, flows the order runs (or ran) in,
    its customer's tier."""
    parts = []
    if rule.scope.statuses:
        parts.append(ORDER.c.status.in_(rule.scope.statuses))
    if rule.scope.form_keys:
        parts.append(ORDER.c.form_key.in_(rule.scope.form_keys))
    if rule.scope.flow_keys:
        parts.append(exists(select(FlowInstance.id).where(FlowInstance.order_id == ORDER.c.id,
                                                          FlowInstance.flow_key.in_(rule.scope.flow_keys))))
    if rule.scope.customer_tiers:
        parts.append(ORDER.c.customer_id.in_(select(Customer.id).where(Customer.tier.in_(rule.scope.customer_tiers))))
    return and_(*parts) if parts else true()


def in_scope(session: Session, rule: RuleDefinition, order: Order) -> bool:
    """`scope_clause` for one order in memory (the event path)."""
    scope = rule.scope
    if scope.statuses and order.status not in scope.statuses:
        return False
    if scope.form_keys and order.form_key not in scope.form_keys:
        return False
    if scope.flow_keys and session.exec(select(FlowInstance.id).where(
            FlowInstance.order_id == order.id, FlowInstance.flow_key.in_(scope.flow_keys)).limit(1)).first() is None:
        return False
    if scope.customer_tiers:
        customer = session.get(Customer, order.customer_id) if order.customer_id is not None else None
        return customer is not None and customer.tier in scope.customer_tiers
    return True


def _count_matches(session: Session, rule: RuleDefinition, catalogue: Catalogue, ctx: FactContext) -> tuple[int, int]:
    scope = scope_clause(rule)
    total = session.exec(select(func.count()).select_from(ORDER).where(scope)).scalar_one()
    try:
        condition = compile_condition(rule.condition, catalogue, ORDER.c, ctx)
    except NotCompilable:
        return total, -1
    matched = session.exec(select(func.count()).select_from(ORDER).where(scope, condition)).scalar_one()
    return total, matched


def matching_order_ids(session: Session, rule: RuleDefinition, catalogue: Catalogue, ctx: FactContext,
                       *, limit: int | None = None) -> tuple[list[int], int, bool]:
    """(ids of matching orders in scope, how many match, whether SQL was used)."""
    scope = scope_clause(rule)
    try:
        condition = compile_condition(rule.condition, catalogue, ORDER.c, ctx)
    except NotCompilable:
        ids = []
        count = 0
        orders = session.exec(select(Order).where(scope).order_by(Order.id).limit(DRY_RUN_PYTHON_LIMIT)).scalars()
        for order in orders:
            if matches(rule.condition, build_facts(order_values(order), catalogue, ctx)):
                count += 1
                if limit is None or len(ids) < limit:
                    ids.append(order.id)
        return ids, count, False
    count = session.exec(select(func.count()).select_from(ORDER).where(scope, condition)).scalar_one()
    stmt = select(ORDER.c.id).where(scope, condition).order_by(ORDER.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.exec(stmt).scalars()), count, True


def dry_run(session: Session, *, actor: Actor, definition: dict[str, Any], now: datetime,
            limit: int = 20) -> DryRunRead:
    """Which orders match now and what each action would do; nothing is stored or sent."""
    _require_admin(actor)
    rule = parse(definition)
    catalogue = catalogue_for(session)
    issues = validate(rule, catalogue)
    if any(i.path.startswith("condition") for i in issues):
        raise _invalid([i for i in issues if i.path.startswith("condition")])
    ctx = fact_context(now)
    ids, count, used_sql = matching_order_ids(session, rule, catalogue, ctx, limit=limit)
    result = DryRunRead(count=count, compiled_to_sql=used_sql, orders=[],
                        warnings=_issues_read(warnings_before_enable(rule, catalogue)))
    for order_id in ids:
        order = session.get(Order, order_id)
        facts = build_facts(order_values(order), catalogue, ctx)
        plan = plan_actions(rule, order_id=order.id, facts=facts, episode=1, people=people_for(session, order, rule),
                            now=now)
        result.orders.append(DryRunMatch(order_id=order.id, number=order.number, stage=order.stage,
                                         actions=[describe_effect(e) for e in plan.effects],
                                         problems=[{"code": c, "params": p} for c, p in plan.problems]))
    return result


def describe_effect(effect: Any) -> dict[str, Any]:
    """A JSON summary of an effect for dry runs and firing history."""
    out: dict[str, Any] = {"type": type(effect).__name__, "dedupe_key": effect.dedupe_key}
    for name in ("title", "body", "subject", "assignee_ids", "cc_user_ids", "user_ids", "priority", "tag", "flag",
                 "field", "value", "url", "flow_key", "channels"):
        if hasattr(effect, name):
            value = getattr(effect, name)
            out[name] = list(value) if isinstance(value, tuple) else value
    if isinstance(effect, fx.CreateTodo) and effect.due_at is not None:
        out["due_at"] = effect.due_at.isoformat()
    return out


# --- firing ----------------------------------------------------------------------------------


def fire(session: Session, *, row: RuleDefinitionRow, rule: RuleDefinition, order: Order,
         state_row: RuleOrderState | None, decision: FiringDecision, trigger: str, catalogue: Catalogue,
         ctx: FactContext) -> RuleFiring | None:
    """Record one firing and apply its effects (flush only). None when someone else recorded it."""
    now = ctx.now
    facts = build_facts(order_values(order), catalogue, ctx)
    plan = plan_actions(rule, order_id=order.id, facts=facts, episode=decision.episode,
                        people=people_for(session, order, rule), now=now)
    try:
        with session.begin_nested():
            firing = RuleFiring(rule_key=rule.key, rule_version=row.version, order_id=order.id,
                                episode=decision.episode, trigger=trigger[:20], fired_at=now,
                                effects=[describe_effect(e) for e in plan.effects],
                                problems=[{"code": c, "params": p} for c, p in plan.problems])
            session.add(firing)
            store_state(session, rule.key, order.id, state_row, decision.state)
            session.flush()
            apply_effects(session, list(plan.effects), order=order, actor=None, now=now, source="rule")
            session.flush()
    except IntegrityError:
        return None  # the same (rule, order, episode) was recorded by another worker or an earlier run
    return firing


def store_state(session: Session, rule_key: str, order_id: int, row: RuleOrderState | None,
                 state: FiringState) -> None:
    if row is None:
        row = RuleOrderState(rule_key=rule_key, order_id=order_id)
        session.add(row)
    row.episode, row.active = state.episode, state.active
    row.last_fired_at, row.fired_count = state.last_fired_at, state.fired_count


def state_of(row: RuleOrderState | None) -> FiringState | None:
    if row is None:
        return None
    return FiringState(episode=row.episode, active=row.active, last_fired_at=row.last_fired_at,
                       fired_count=row.fired_count)


_PARSED: dict[str, RuleDefinition] = {}


def _enabled_event_rules(session: Session) -> list[tuple[int, RuleDefinition]]:
    """(row id, definition) of the enabled event rules. A definition is parsed once per distinct
    stored text (the cache key is the JSON text itself, so it can never be stale): validating a
    hundred definitions on every order change cost more than evaluating them."""
    table = RuleDefinitionRow.__table__
    rows = session.execute(select(table.c.id, cast(table.c.definition, Text)).where(
        table.c.enabled.is_(True), table.c.status == "published", table.c.is_time_rule.is_(False),
    ).order_by(table.c.id)).all()
    out = []
    for row_id, stored in rows:
        rule = _PARSED.get(stored)
        if rule is None:
            if len(_PARSED) > 5000:
                _PARSED.clear()
            rule = _PARSED[stored] = load_rule(json.loads(stored))
        out.append((row_id, rule))
    return out


def evaluate_event_rules(session: Session, order: Order, *, changes: dict[str, Any], actor: Actor | None,
                         now: datetime, is_new: bool, events: list[tuple[str, Any]] | None = None) -> None:
    """Order hook: enabled event rules whose trigger matches this change, evaluated in process.

    `events` overrides the events derived from the change (the overdue-to-do job passes its own).
    One query for the rules, one for this order's states; facts are built once.
    """
    rows = _enabled_event_rules(session)
    if not rows:
        return
    events = events if events is not None else _events_of(order, changes, is_new)
    heard = []
    for row_id, rule in rows:
        hit = [e for e, detail in events if e in rule.trigger.events and _detail_matches(e, detail, rule.trigger)]
        if hit and in_scope(session, rule, order):
            heard.append((row_id, rule, hit[0]))
    if not heard:
        return
    catalogue = catalogue_for(session)
    ctx = fact_context(now)
    facts = build_facts(order_values(order), catalogue, ctx)
    # all of the order's states (one per rule at most): a plain query, cheaper than naming 100 keys
    states = {s.rule_key: s for s in session.exec(select(RuleOrderState).where(
        RuleOrderState.order_id == order.id)).scalars()}
    for row_id, rule, event in heard:
        state_row = states.get(rule.key)
        holds = matches(rule.condition, facts)
        if not holds and state_row is None:
            continue  # never fired, still false: nothing to decide or remember
        decision = decide_firing(rule.firing, state_of(state_row), holds, now, ctx.calendar)
        if decision.fire:
            fire(session, row=session.get(RuleDefinitionRow, row_id), rule=rule, order=order, state_row=state_row, decision=decision, trigger=event,
                 catalogue=catalogue, ctx=ctx)
        elif decision.state != state_of(state_row) and (state_row is not None or decision.state.active):
            store_state(session, rule.key, order.id, state_row, decision.state)
            session.flush()


def _events_of(order: Order, changes: dict[str, Any], is_new: bool) -> list[tuple[str, Any]]:
    if is_new:
        return [("order_created", None), ("stage_entered", order.stage)]
    events: list[tuple[str, Any]] = []
    changed_fields = set(changes) - {"data"}
    if "data" in changes:
        before = changes.get("data") or {}
        changed_fields |= {f"data.{k}" for k in set(before) | set(order.data or {})
                           if before.get(k) != (order.data or {}).get(k)}
    if changed_fields:
        events.append(("field_changed", changed_fields))
    if "stage" in changes:
        events.append(("stage_left", changes["stage"]))
        events.append(("stage_entered", order.stage))
    if "urge_count" in changes:
        events.append(("customer_urged", None))
    return events


def _detail_matches(event: str, detail: Any, trigger: Any) -> bool:
    if event == "field_changed" and trigger.fields:
        return bool(set(trigger.fields) & set(detail))
    if event in ("stage_entered", "stage_left") and trigger.stages:
        return detail in trigger.stages
    return True


def list_firings(session: Session, *, actor: Actor, key: str, limit: int = 100) -> list[FiringRead]:
    """The rule's firings, newest first, with the delivery state of its to-dos."""
    _require_admin(actor)
    rows = session.exec(
        select(RuleFiring, Order.number).join(Order, Order.id == RuleFiring.order_id)
        .where(RuleFiring.rule_key == key).order_by(RuleFiring.fired_at.desc(), RuleFiring.id.desc()).limit(limit)
    ).all()
    out = []
    for firing, number in rows:
        keys = [e["dedupe_key"] for e in firing.effects if e.get("type") == "CreateTodo"]
        todo_states = []
        if keys:
            todo_states = list(session.exec(select(InboxItem.state).where(InboxItem.dedupe_key.in_(keys))).scalars())
        outbox_keys = [e["dedupe_key"] for e in firing.effects if e.get("type") in ("MessageCustomer", "CallWebhook")]
        deliveries = []
        if outbox_keys:
            deliveries = list(session.exec(
                select(OutboxMessage.state).where(OutboxMessage.dedupe_key.in_(outbox_keys))
            ).scalars())
        out.append(FiringRead(id=firing.id, rule_key=firing.rule_key, rule_version=firing.rule_version,
                              order_id=firing.order_id, order_number=number, episode=firing.episode,
                              trigger=firing.trigger, fired_at=firing.fired_at, effects=firing.effects,
                              problems=firing.problems, todo_states=todo_states, delivery_states=deliveries))
    return out

