"""Which orders a rule looks at and matches: its scope, the dry run over all orders, and the
preview of its actions on one order. Nothing here is stored or sent.

The dry run answers "which orders match now, and what would happen"; the preview answers "what
exactly would each action say and to whom" for one order the admin picks, whether or not the
condition holds for it: an admin writing "Order {{ order.number }} waits for approval" wants to
read the sentence a person will receive, not a template. Both plan with the engine's own
`plan_actions`, so they show what a firing would do. An action the engine skips because nobody
fits its assignee still shows its texts in the preview, so it is not blank on an order without
an approver.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, true
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.definitions.lifecycle import require_designer
from backend.errors import GendanError
from backend.flows.models import FlowInstance
from backend.orders.models import Order, load_predictions
from backend.people.models import User
from backend.rules import sentences, summary
from backend.rules.context import (
    ORDER,
    ORDER_FACTS,
    catalogue_for,
    fact_context,
    invalid,
    issues_read,
    order_values,
    parse,
    people_for,
    template_extras,
)
from backend.rules.history import problem
from backend.rules.schemas import ActionPreview, DryRunMatch, DryRunRead, PreviewProblem, PreviewRead
from engine.facts import Catalogue, FactContext, build_facts
from engine.jsonlogic_compile import compiled_matches
from engine.rules.actions import describe_effect, plan_actions, read_text
from engine.rules.compiler import NotCompilable, compile_condition
from engine.rules.definition import RuleDefinition
from engine.rules.relative import resolve as resolve_relative
from engine.rules.template_context import LANGS, build_context
from engine.rules.templates import TemplateProblem, render_template
from engine.rules.validate import validate, warnings_before_enable

DRY_RUN_PYTHON_LIMIT = 20_000  # event-only rules are dry-run in Python over at most this many open orders
# The template attributes of an action, in reading order, and the effect attribute each becomes.
TEMPLATES = (("subject_template", "subject"), ("title_template", "title"), ("body_template", "body"),
             ("reason_template", "reason"))
# Effect attributes that hold user ids, shown as display names.
PEOPLE = ("assignee_ids", "cc_user_ids", "user_ids")


# --- scope -----------------------------------------------------------------------------------


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


# --- matches ---------------------------------------------------------------------------------


def count_matches(session: Session, rule: RuleDefinition, catalogue: Catalogue, ctx: FactContext) -> tuple[int, int]:
    """(orders in scope, orders matching); matching is -1 when the condition does not compile."""
    scope = scope_clause(rule)
    total = session.exec(select(func.count()).select_from(ORDER).where(scope)).scalar_one()
    try:
        condition = compile_condition(rule.condition, catalogue, ORDER_FACTS, ctx)
    except NotCompilable:
        return total, -1
    matched = session.exec(select(func.count()).select_from(ORDER).where(scope, condition)).scalar_one()
    return total, matched


def matching_order_ids(session: Session, rule: RuleDefinition, catalogue: Catalogue, ctx: FactContext,
                       *, limit: int | None = None) -> tuple[list[int], int, bool]:
    """(ids of matching orders in scope, how many match, whether SQL was used)."""
    scope = scope_clause(rule)
    try:
        condition = compile_condition(rule.condition, catalogue, ORDER_FACTS, ctx)
    except NotCompilable:
        ids = []
        count = 0
        orders = session.exec(select(Order).where(scope).order_by(Order.id).limit(DRY_RUN_PYTHON_LIMIT)).scalars().all()
        load_predictions(session, orders)
        holds = compiled_matches(resolve_relative(rule.condition, ctx))  # compiled once, up to 20,000 orders
        for order in orders:
            if holds(build_facts(order_values(order), catalogue, ctx)):
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
    """Which orders match now and what each action would do, in words, with the counts of
    `summary.summarize` (who gets how many, fallbacks and why); nothing is stored or sent."""
    require_designer(actor)
    rule = parse(definition)
    catalogue = catalogue_for(session)
    issues = validate(rule, catalogue)
    if any(i.path.startswith("condition") for i in issues):
        raise invalid([i for i in issues if i.path.startswith("condition")])
    ctx = fact_context(now, session=session)
    ids, count, used_sql = matching_order_ids(session, rule, catalogue, ctx, limit=max(limit, summary.SUMMARY_LIMIT))
    result = DryRunRead(count=count, compiled_to_sql=used_sql, orders=[],
                        warnings=issues_read(warnings_before_enable(rule, catalogue)),
                        summary=summary.summarize(session, rule, ids, count, catalogue, ctx, now))
    rows = []
    for order_id in ids[:limit]:
        order = session.get(Order, order_id)
        facts = build_facts(order_values(order), catalogue, ctx)
        plan = plan_actions(rule, order_id=order.id, facts=facts, episode=1, people=people_for(session, order, rule),
                            now=now, extras=template_extras(session, order))
        rows.append((order, [describe_effect(e, _reader_locale()) for e in plan.effects],
                     [{"code": c, "params": p} for c, p in plan.problems]))
    names = summary.names_of(session, {u for _, effects, _ in rows for u in sentences.people_ids(effects)})
    customers = summary.customers_of(session, {o.customer_id for o, _, _ in rows if o.customer_id is not None})
    for order, effects, problems in rows:
        result.orders.append(DryRunMatch(
            order_id=order.id, number=order.number, stage=order.stage, actions=effects, problems=problems,
            stage_label=sentences.stage_label(order.stage),
            words=sentences.sentences(effects, problems, rule, names=names, customer=customers.get(order.customer_id)),
            problem_words=[problem(p["code"], p["params"]).message for p in problems]))
    return result


# --- preview on one order --------------------------------------------------------------------


def first_order_number(session: Session) -> str | None:
    """The number the designer proposes for a preview: the oldest order's."""
    return session.exec(select(Order.number).order_by(Order.id).limit(1)).scalars().first()


def find_order(session: Session, reference: str | None) -> Order:
    """The order with this number (or, failing that, this id); the first order when empty."""
    text = (reference or "").strip()
    if not text:
        order = session.exec(select(Order).order_by(Order.id).limit(1)).scalars().first()
    else:
        order = session.exec(select(Order).where(Order.number == text)).scalars().first()
        if order is None and text.isdigit():
            order = session.get(Order, int(text))
    if order is None:
        raise GendanError("order.not_found", {"id": text}, status=404)
    return order


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.exec(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    return {user_id: name for user_id, name in rows}


def _reader_locale() -> str:
    """The designer's language as effects name it ("zh-CN" / "en")."""
    return "en" if i18n.get_locale() == "en" else "zh-CN"


def _texts(action: Any, contexts: dict[str, dict[str, Any]], lang: str) -> dict[str, str]:
    """Each template of the action rendered alone for a reader of `lang`; one that fails is left out
    (the plan reports it)."""
    out = {}
    for attribute, name in TEMPLATES:
        template = getattr(action, attribute, None)
        if template is None or template.is_empty():
            continue
        source, written_in = template.for_reader(lang)
        try:
            out[name] = render_template(source, contexts[written_in], missing=[])
        except TemplateProblem:
            continue
    return out


def preview_rule(session: Session, *, actor: Actor, definition: dict[str, Any], order: str | None,
                 now: datetime) -> PreviewRead:
    """Every action of `definition` as it would run on one order (by number or id; default the first)."""
    require_designer(actor)
    rule = parse(definition)
    target = find_order(session, order)
    facts = build_facts(order_values(target), catalogue_for(session), fact_context(now, session=session))
    extras = template_extras(session, target)
    plan = plan_actions(rule, order_id=target.id, facts=facts, episode=1,
                        people=people_for(session, target, rule), now=now, extras=extras)
    planned = {int(e.dedupe_key.rsplit(":", 1)[1]): e for e in plan.effects}
    locale = _reader_locale()
    effects = {index: describe_effect(e, locale) for index, e in planned.items()}
    problems: dict[int, list[PreviewProblem]] = {}
    for code, params in plan.problems:
        problems.setdefault(int(params.get("action", -1)), []).append(problem(code, params))
    names = _names(session, {u for e in effects.values() for key in PEOPLE for u in e.get(key, ())})
    # the same contexts plan_actions renders with, for actions it skipped
    contexts = {lang: build_context(facts, lang=lang, extras=extras, rule_key=rule.key,
                                    rule_name={"zh": rule.name.zh, "en": rule.name.en}, now=now) for lang in LANGS}

    actions = []
    for index, action in enumerate(rule.actions):
        effect = effects.get(index)
        if index in planned:
            texts = {name: read_text(getattr(planned[index], name), locale) for _, name in TEMPLATES
                     if getattr(planned[index], name, None)}
            texts = {name: text for name, text in texts.items() if text}
        else:
            texts = _texts(action, contexts, "en" if locale == "en" else "zh")
        people = {key: [names.get(u, f"#{u}") for u in effect.get(key, ())] for key in PEOPLE
                  if effect is not None and effect.get(key)}
        actions.append(ActionPreview(index=index, type=action.type, texts=texts, people=people, effect=effect,
                                     problems=problems.get(index, [])))
    return PreviewRead(order_id=target.id, number=target.number, actions=actions)
