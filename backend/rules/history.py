"""What a rule did: its firings, newest first, with the state of the to-dos and deliveries each
one made, and why a firing (or a preview) did less than asked, in the reader's language."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.definitions.lifecycle import require_designer
from backend.inbox.models import InboxItem
from backend.notify.models import OutboxMessage
from backend.orders.models import Order
from backend.rules import sentences, summary
from backend.rules.models import RuleDefinitionRow, RuleFiring
from backend.rules.schemas import FiringRead, PreviewProblem
from engine.rules.definition import RuleDefinition, load_rule

# How the designer names each assignee kind (the same msgids as its pickers), for problem sentences.
ASSIGNEE_LABELS = {
    "user": "A user", "role": "Everyone with a role", "owner": "The order owner", "owner_manager": "The owner's manager",
    "current_approver": "The current approver", "current_approver_manager": "The current approver's manager",
    "owner_manager_manager": "The owner's manager's manager",
    "recipients": "Recipients",
}


def problem(code: str, params: dict[str, Any]) -> PreviewProblem:
    """A problem code of the engine as a sentence in the reader's language, people named as the designer names them."""
    shown = dict(params)
    shown.setdefault("name", params.get("message", ""))  # recorded before templates named the full name
    for name in ("assignee", "to"):
        if shown.get(name) in ASSIGNEE_LABELS:
            shown[name] = i18n.gettext(ASSIGNEE_LABELS[shown[name]])
    return PreviewProblem(code=code, params=params, message=i18n.translate_error(code, shown))


def list_firings(session: Session, *, actor: Actor, key: str, limit: int = 100) -> list[FiringRead]:
    """The rule's firings, newest first, with the delivery state of its to-dos."""
    require_designer(actor)
    rows = session.exec(
        select(RuleFiring, Order.number).join(Order, Order.id == RuleFiring.order_id)
        .where(RuleFiring.rule_key == key).order_by(RuleFiring.fired_at.desc(), RuleFiring.id.desc()).limit(limit)
    ).all()
    rules = _versions(session, key, {f.rule_version for f, _ in rows})
    names = summary.names_of(session, {u for f, _ in rows for u in sentences.people_ids(f.effects)})
    customers = summary.customers_of(session, set(session.exec(select(Order.customer_id).where(
        Order.id.in_({f.order_id for f, _ in rows}), Order.customer_id.is_not(None))).scalars()) if rows else set())
    customer_of = dict(session.exec(select(Order.id, Order.customer_id).where(
        Order.id.in_({f.order_id for f, _ in rows}))).all()) if rows else {}
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
                              problems=firing.problems, todo_states=todo_states, delivery_states=deliveries,
                              words=sentences.sentences(firing.effects, firing.problems, rules.get(firing.rule_version),
                                                        names=names, customer=customers.get(customer_of.get(firing.order_id))),
                              state_words=sentences.state_words(todo_states, deliveries),
                              problem_words=[problem(p["code"], p.get("params") or {}).message for p in firing.problems]))
    return out


def _versions(session: Session, key: str, versions: set[int]) -> dict[int, RuleDefinition]:
    """The definitions that made the firings, to name who each action asked for."""
    out = {}
    if not versions:
        return out
    for version, definition in session.exec(select(RuleDefinitionRow.version, RuleDefinitionRow.definition).where(
            RuleDefinitionRow.key == key, RuleDefinitionRow.version.in_(versions))).all():
        try:
            out[version] = load_rule(definition)
        except (ValidationError, ValueError):
            continue  # stored under an older schema: the sentences go without "who was asked"
    return out
