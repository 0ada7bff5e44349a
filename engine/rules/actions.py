"""Turn a rule's actions into effects for one order and one firing.

Pure: the caller resolves people (owner, managers, current approvers, role members) and passes
them in; templates render over the order's facts. Every effect's dedupe_key derives from
(rule key, order id, episode, action index), so re-running a firing stores nothing twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from engine import effects as fx
from engine.rules.definition import (
    AddRiskFlagAction,
    AddTagAction,
    Assignee,
    CallWebhookAction,
    CreateTodoAction,
    EscalateAction,
    LocalizedText,
    MessageCustomerAction,
    NotifyAction,
    RuleDefinition,
    SetFieldAction,
    StartFlowAction,
)
from engine.rules.template_context import EFFECT_LOCALE, LANGS, TemplateExtras, build_context
from engine.rules.templates import KnownNames, TemplateProblem, render_template

__all__ = ["ActionPlan", "People", "describe_effect", "plan_actions", "firing_key", "read_text"]


@dataclass(frozen=True)
class People:
    """Who is who for one order, resolved by the backend from the org chart and the flow."""

    owner_id: int | None = None
    owner_manager_id: int | None = None
    owner_manager_manager_id: int | None = None  # the head above the owner's manager (org.head_above)
    current_approver_ids: tuple[int, ...] = ()
    current_approver_manager_ids: tuple[int, ...] = ()
    role_members: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionPlan:
    effects: tuple[fx.Effect, ...]
    # (code, params): actions that could not run, or ran for someone else than asked (fallback)
    problems: tuple[tuple[str, dict[str, Any]], ...] = ()


def firing_key(rule_key: str, order_id: int, episode: int) -> str:
    """The unique key of one firing: what the backend's rule_firing row is unique on."""
    return f"rule:{rule_key}:{order_id}:{episode}"


def resolve(assignee: Assignee, people: People) -> tuple[int, ...]:
    kind = assignee.kind
    if kind == "user":
        return (assignee.user_id,) if assignee.user_id is not None else ()
    if kind == "role":
        return tuple(people.role_members.get(assignee.role or "", ()))
    if kind == "owner":
        return (people.owner_id,) if people.owner_id is not None else ()
    if kind == "owner_manager":
        return (people.owner_manager_id,) if people.owner_manager_id is not None else ()
    if kind == "owner_manager_manager":
        return (people.owner_manager_manager_id,) if people.owner_manager_manager_id is not None else ()
    if kind == "current_approver":
        return tuple(people.current_approver_ids)
    return tuple(people.current_approver_manager_ids)


FALLBACK = ("owner_manager", "owner")  # who gets an alert whose assignee is nobody on this order


def resolve_or_fall_back(targets: tuple[Assignee, ...], people: People) -> tuple[tuple[int, ...], str | None]:
    """The people `targets` name on this order; when that is nobody, the owner's manager, else the
    owner (an alert that reaches nobody is the silent failure rules exist to prevent). Returns
    (user ids, the fallback kind used or None)."""
    ids = _unique(tuple(u for t in targets for u in resolve(t, people)))
    if ids:
        return ids, None
    for kind in FALLBACK:
        ids = _unique(resolve(Assignee(kind=kind), people))
        if ids:
            return ids, kind
    return (), None


def _unique(ids: tuple[int, ...], exclude: tuple[int, ...] = ()) -> tuple[int, ...]:
    seen: list[int] = []
    for user_id in ids:
        if user_id not in seen and user_id not in exclude:
            seen.append(user_id)
    return tuple(seen)


def plan_actions(
    rule: RuleDefinition,
    *,
    order_id: int,
    facts: Mapping[str, Any],
    episode: int,
    people: People,
    now: datetime,
    extras: TemplateExtras | None = None,
) -> ActionPlan:
    """The effects of one firing of `rule` on order `order_id` (facts from engine.facts.build_facts).

    Texts come per reader language ({"zh-CN": …, "en": …}, engine.effects.Text): each rendered
    from that language's template in that language's context (stage label, money, dates), or from
    the other language's when it is empty. A value missing on this order renders empty and is
    recorded (`rule.template_missing_value`); the firing goes on."""
    contexts = {lang: build_context(facts, lang=lang, extras=extras, rule_key=rule.key,
                                    rule_name={"zh": rule.name.zh, "en": rule.name.en}, now=now)
                for lang in LANGS}
    names = {lang: KnownNames(context) for lang, context in contexts.items()}  # once, and only if a value is missing
    base = firing_key(rule.key, order_id, episode)
    out: list[fx.Effect] = []
    problems: list[tuple[str, dict[str, Any]]] = []

    def text(template: LocalizedText, index: int) -> dict[str, str] | None:
        texts: dict[str, str] = {}
        missing: list[str] = []
        rendered: dict[tuple[str, str], str] = {}  # a text written in one language reads the same to both
        for lang in LANGS:
            source, written_in = template.for_reader(lang)
            if (source, written_in) not in rendered:
                try:
                    rendered[source, written_in] = render_template(source, contexts[written_in], missing=missing,
                                                                   names=names[written_in])
                except TemplateProblem as problem:
                    problems.append((problem.code, {**problem.params, "action": index}))
                    return None
            texts[EFFECT_LOCALE[lang]] = rendered[source, written_in]
        if missing:
            problems.append(("rule.template_missing_value", {"action": index, "names": ", ".join(missing)}))
        return texts

    for index, action in enumerate(rule.actions):
        key = f"{base}:{index}"
        if isinstance(action, (CreateTodoAction, EscalateAction)):
            target = action.assignee if isinstance(action, CreateTodoAction) else action.to
            assignees, fallback = resolve_or_fall_back((target,), people)
            cc = _unique(tuple(u for c in getattr(action, "cc", ()) for u in resolve(c, people)), assignees)
            title, body = text(action.title_template, index), text(action.body_template, index)
            if title is None or body is None:
                continue
            if not assignees:
                problems.append(("rule.assignee_unresolved", {"action": index, "assignee": target.kind}))
                continue
            if fallback is not None:
                problems.append(("rule.assignee_fallback", {"action": index, "assignee": target.kind, "to": fallback}))
            # a copy-to that names nobody on this order (no owner, an empty role): said, not dropped
            problems.extend(("rule.cc_unresolved", {"action": index, "assignee": c.kind})
                            for c in getattr(action, "cc", ()) if not resolve(c, people))
            due = getattr(action, "due_in_hours", None)
            out.append(
                fx.CreateTodo(
                    dedupe_key=key,
                    kind="escalation" if isinstance(action, EscalateAction) else "rule_alert",
                    title=title,
                    body=body,
                    assignee_ids=assignees,
                    cc_user_ids=cc,
                    priority="urgent" if isinstance(action, EscalateAction) else action.priority,
                    due_at=now + timedelta(hours=due) if due is not None else None,
                    payload={"rule_key": rule.key, "rule_version": rule.version, "episode": episode},
                )
            )
        elif isinstance(action, NotifyAction):
            users, fallback = resolve_or_fall_back(action.recipients, people)
            title, body = text(action.title_template, index), text(action.body_template, index)
            if title is None or body is None:
                continue
            if not users:
                problems.append(("rule.assignee_unresolved", {"action": index, "assignee": "recipients"}))
                continue
            if fallback is not None:
                problems.append(("rule.assignee_fallback", {"action": index, "assignee": "recipients", "to": fallback}))
            out.append(
                fx.Notify(dedupe_key=key, user_ids=users, title=title, body=body, channels=action.channels)
            )
        elif isinstance(action, MessageCustomerAction):
            subject, body = text(action.subject_template, index), text(action.body_template, index)
            if subject is not None and body is not None:
                out.append(
                    fx.MessageCustomer(dedupe_key=key, subject=subject, body=body, channel=action.channel)
                )
        elif isinstance(action, CallWebhookAction):
            payload = {"rule": rule.key, "episode": episode, "order_id": order_id, "order": dict(facts)}
            out.append(
                fx.CallWebhook(dedupe_key=key, url=action.url, payload=payload, secret_ref=action.secret_ref)
            )
        elif isinstance(action, SetFieldAction):
            out.append(fx.SetField(dedupe_key=key, field=action.field, value=action.value))
        elif isinstance(action, AddTagAction):
            out.append(fx.AddTag(dedupe_key=key, tag=action.tag))
        elif isinstance(action, AddRiskFlagAction):
            reason = text(action.reason_template, index)
            if reason is not None:  # stored on the order once: the Chinese text, else the English
                out.append(fx.AddRiskFlag(dedupe_key=key, flag=action.flag,
                                          reason=reason.get("zh-CN") or reason.get("en") or ""))
        elif isinstance(action, StartFlowAction):
            out.append(fx.StartFlow(dedupe_key=key, flow_key=action.flow_key))
    return ActionPlan(tuple(out), tuple(problems))


# The effect attributes a summary shows, in this order (an effect type has only some of them).
_DESCRIBED = ("title", "body", "subject", "assignee_ids", "cc_user_ids", "user_ids", "priority", "tag", "flag",
              "field", "value", "url", "flow_key", "channels")


@lru_cache(maxsize=64)
def _described(kind: type) -> tuple[str, ...]:
    """The `_DESCRIBED` attributes an effect type has (effects are dataclasses: every instance has
    its type's fields), found once per type, not with 14 `hasattr`s per effect."""
    names = {f.name for f in dataclasses.fields(kind)} if dataclasses.is_dataclass(kind) else None
    return tuple(n for n in _DESCRIBED if (n in names if names is not None else hasattr(kind, n)))


def read_text(value: fx.Text, locale: str = "zh-CN") -> str:
    """One locale's text of an effect's Text ("zh-CN" / "en"), else the other's; plain text as is."""
    if isinstance(value, str):
        return value
    return value.get(locale) or next((v for v in value.values() if v), "")


def describe_effect(effect: fx.Effect, locale: str = "zh-CN") -> dict[str, Any]:
    """A JSON summary of an effect (type, dedupe key, what it says and to whom), as dry runs,
    previews and the firing history show it: texts in `locale`, all languages under `i18n`."""
    out: dict[str, Any] = {"type": type(effect).__name__, "dedupe_key": effect.dedupe_key}
    for name in _described(type(effect)):
        value = getattr(effect, name)
        if name in ("title", "body", "subject") and not isinstance(value, str):
            out.setdefault("i18n", {})[name] = dict(value)
            value = read_text(value, locale)
        out[name] = list(value) if isinstance(value, tuple) else value
    if isinstance(effect, fx.CreateTodo) and effect.due_at is not None:
        out["due_at"] = effect.due_at.isoformat()
    return out
