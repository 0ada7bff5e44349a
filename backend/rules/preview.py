"""Preview a rule's actions on one real order: the rendered texts, the people, the problems.

Why this exists: an admin writing "Order {{ order.number }} waits for approval" wants to read
the sentence a person will receive, not a template. The dry run answers "which orders match";
the preview answers "what exactly would each action say and to whom" for one order the admin
picks, whether or not the condition holds for it. Nothing is stored or sent.

Effects come from the engine's own `plan_actions`, so the preview shows what a firing would do.
An action the engine skips because nobody fits its assignee still shows its texts (rendered
with the same context), so a preview on an order without an approver is not blank.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.orders.models import Order
from backend.people.models import User
from backend.rules import service
from backend.rules.schemas import ActionPreview, PreviewProblem, PreviewRead
from engine.facts import build_facts
from engine.rules.actions import plan_actions
from engine.rules.definition import RuleDefinition
from engine.rules.templates import TemplateProblem, render_template

# The template attributes of an action, in reading order, and the effect attribute each becomes.
TEMPLATES = (("subject_template", "subject"), ("title_template", "title"), ("body_template", "body"),
             ("reason_template", "reason"))
# Effect attributes that hold user ids, shown as display names.
PEOPLE = ("assignee_ids", "cc_user_ids", "user_ids")
# How the designer names each assignee kind (the same msgids as its pickers), for problem sentences.
ASSIGNEE_LABELS = {
    "user": "A user", "role": "Everyone with a role", "owner": "The order owner", "owner_manager": "The owner's manager",
    "current_approver": "The current approver", "current_approver_manager": "The current approver's manager",
    "recipients": "Recipients",
}


def _require_designer(actor: Actor) -> None:
    if not (actor.is_admin or actor.has_role("designer")):
        raise GendanError("auth.forbidden")


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


def problem(code: str, params: dict[str, Any]) -> PreviewProblem:
    """A problem code of the engine as a sentence in the reader's language, people named as the designer names them."""
    shown = dict(params)
    for name in ("assignee", "to"):
        if shown.get(name) in ASSIGNEE_LABELS:
            shown[name] = i18n.gettext(ASSIGNEE_LABELS[shown[name]])
    return PreviewProblem(code=code, params=params, message=i18n.translate_error(code, shown))


def _texts(action: Any, context: dict[str, Any]) -> dict[str, str]:
    """Each template of the action rendered alone; one that fails is left out (the plan reports it)."""
    out = {}
    for attribute, name in TEMPLATES:
        source = getattr(action, attribute, None)
        if not source:
            continue
        try:
            out[name] = render_template(source, context)
        except TemplateProblem:
            continue
    return out


def preview_rule(session: Session, *, actor: Actor, definition: dict[str, Any], order: str | None,
                 now: datetime) -> PreviewRead:
    """Every action of `definition` as it would run on one order (by number or id; default the first)."""
    _require_designer(actor)
    rule: RuleDefinition = service.parse(definition)
    target = find_order(session, order)
    facts = build_facts(service.order_values(target), service.catalogue_for(session), service.fact_context(now))
    plan = plan_actions(rule, order_id=target.id, facts=facts, episode=1,
                        people=service.people_for(session, target, rule), now=now)
    planned = {int(e.dedupe_key.rsplit(":", 1)[1]): e for e in plan.effects}
    effects = {index: service.describe_effect(e) for index, e in planned.items()}
    problems: dict[int, list[PreviewProblem]] = {}
    for code, params in plan.problems:
        problems.setdefault(int(params.get("action", -1)), []).append(problem(code, params))
    names = _names(session, {u for e in effects.values() for key in PEOPLE for u in e.get(key, ())})
    # the same context plan_actions renders with, for actions it skipped
    context = {"order": facts, "rule": {"key": rule.key, "name": rule.name.zh or rule.name.en}}

    actions = []
    for index, action in enumerate(rule.actions):
        effect = effects.get(index)
        if index in planned:
            texts = {name: getattr(planned[index], name) for _, name in TEMPLATES
                     if getattr(planned[index], name, None)}
        else:
            texts = _texts(action, context)
        people = {key: [names.get(u, f"#{u}") for u in effect.get(key, ())] for key in PEOPLE
                  if effect is not None and effect.get(key)}
        actions.append(ActionPreview(index=index, type=action.type, texts=texts, people=people, effect=effect,
                                     problems=problems.get(index, [])))
    return PreviewRead(order_id=target.id, number=target.number, actions=actions)
