"""A rule's effects, problems and issue paths as sentences in the reader's language.

Why this exists: the dry run and the firing history showed the engine's names (`CreateTodo`,
`MessageCustomer`, `approval`, `open`, `failed`) and paths like `actions.0.title_template`. An
admin deciding whether to enable a rule wants to read "to-do “…” for 王经理 (the current approver)"
and "action 1 (to-do), title". The engine stays language-free; the words are made here, from the
effect summaries `engine.rules.actions.describe_effect` writes and the rule's own actions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backend import i18n
from engine.rules.definition import RuleDefinition


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated where shown."""
    return message


# The kind of each action, as the designer's "Add …" buttons name it.
ACTION_KINDS = {
    "create_todo": N_("to-do"), "notify": N_("notification"), "message_customer": N_("message to the customer"),
    "escalate": N_("escalation"), "set_field": N_("field update"), "add_tag": N_("tag"),
    "add_risk_flag": N_("risk flag"), "start_flow": N_("flow start"), "call_webhook": N_("webhook call"),
}
# Who an assignee kind is, inside a sentence ("for 王经理 (the current approver)").
WHO = {
    "user": N_("the chosen user"), "role": N_("everyone with the role"), "owner": N_("the order owner"),
    "owner_manager": N_("the owner's manager"), "current_approver": N_("the current approver"),
    "current_approver_manager": N_("the current approver's manager"), "recipients": N_("the recipients"),
}
# Why nobody fits an assignee kind on an order, completing "%(n)s of %(total)s orders …".
WHY_NOBODY = {
    "current_approver": N_("have no running approval"),
    "current_approver_manager": N_("have no running approval (or its approver has no manager)"),
    "owner_manager": N_("have an owner without a manager"), "owner": N_("have no owner"),
    "role": N_("find nobody with the role"), "user": N_("name no user"),
    "recipients": N_("find none of the recipients"),
}
# The part of an action a definition path names (actions.N.<attribute>).
ATTRIBUTES = {
    "title_template": N_("title"), "body_template": N_("message"), "subject_template": N_("subject"),
    "reason_template": N_("reason"), "assignee": N_("assignee"), "to": N_("escalate to"), "cc": N_("copy to"),
    "recipients": N_("recipients"), "channels": N_("channels"), "channel": N_("channel"), "url": N_("webhook URL"),
    "field": N_("field to set"), "value": N_("new value"), "tag": N_("tag"), "flag": N_("flag"),
    "flow_key": N_("flow to start"), "due_in_hours": N_("due in hours"), "priority": N_("priority"),
}
SECTIONS = {
    "condition": N_("Condition"), "trigger": N_("Trigger"), "scope": N_("Which orders"), "firing": N_("Fire"),
    "key": N_("Rule key"), "name": N_("Name"), "actions": N_("Actions"),
}
CHANNELS = {"email": N_("Email"), "sms": N_("SMS"), "dingtalk": N_("DingTalk"), "wecom": N_("WeCom"),
            "in_app": N_("In the app"), "chat": N_("Chat robot"), "webhook": N_("Webhook"), "none": N_("No channel")}
TODO_STATES = {"open": N_("to-do open"), "done": N_("to-do done"), "cancelled": N_("to-do cancelled"),
               "superseded": N_("to-do superseded")}
DELIVERY_STATES = {"pending": N_("waiting to be sent"), "sending": N_("being sent"), "sent": N_("sent"),
                   "failed": N_("failed, will retry"), "dead": N_("failed for good")}
STAGES = {
    "draft": N_("Draft"), "approval": N_("Approval"), "tech_confirm": N_("Technical confirmation"),
    "production": N_("Production"), "shipping": N_("Shipping"), "delivered": N_("Delivered"),
    "invoicing": N_("Invoicing"), "payment": N_("Payment"), "completed": N_("Completed"),
    "rejected": N_("Rejected"), "returned": N_("Returned to the initiator"),
}


def _t(labels: Mapping[str, str], key: str | None) -> str:
    return i18n.gettext(labels[key]) if key in labels else (key or "")


def stage_label(stage: str) -> str:
    return _t(STAGES, stage)


def action_kind(action_type: str) -> str:
    return _t(ACTION_KINDS, action_type)


def who(kind: str, role: str | None = None) -> str:
    text = _t(WHO, kind)
    return f"{text} {role}" if kind == "role" and role else text


def state_words(todo_states: Sequence[str], delivery_states: Sequence[str]) -> list[str]:
    return [_t(TODO_STATES, s) for s in todo_states] + [_t(DELIVERY_STATES, s) for s in delivery_states]


def place(path: str, definition: Mapping[str, Any] | None) -> str:
    """Where an issue is, in words: `actions.0.title_template` -> "Action 1 (to-do), title"."""
    parts = (path or "").split(".")
    if parts and parts[0] == "actions" and len(parts) > 1 and parts[1].isdigit():
        index = int(parts[1])
        actions = (definition or {}).get("actions") if isinstance(definition, Mapping) else None
        action = actions[index] if isinstance(actions, list) and index < len(actions) else None
        kind = action_kind(action.get("type", "")) if isinstance(action, Mapping) else ""
        head = (i18n.gettext("Action %(n)s (%(kind)s)", n=index + 1, kind=kind) if kind
                else i18n.gettext("Action %(n)s", n=index + 1))
        rest = parts[2] if len(parts) > 2 else ""
        return i18n.gettext("%(action)s, %(part)s", action=head, part=_t(ATTRIBUTES, rest)) if rest else head
    if parts and parts[0] in SECTIONS:
        return i18n.gettext(SECTIONS[parts[0]])
    return path


def _names(ids: Sequence[int], names: Mapping[int, str]) -> str:
    return i18n.gettext(", ").join(names.get(u, f"#{u}") for u in ids)


def _people(ids: Sequence[int], names: Mapping[int, str], asked: str, fallback: str | None) -> str:
    """"王经理 (the current approver)", or with a fallback "李四 (the order owner, as nobody is the current approver)"."""
    if fallback is not None:
        role = i18n.gettext("%(to)s, as nobody is %(asked)s", to=who(fallback), asked=asked)
    else:
        role = asked
    return i18n.gettext("%(names)s (%(who)s)", names=_names(ids, names), who=role) if role else _names(ids, names)


def effect_sentence(effect: Mapping[str, Any], action: Any | None, *, names: Mapping[int, str],
                    fallback: str | None = None, customer: tuple[str, str, str] | None = None) -> str:
    """One effect in words. `action` is the rule's action that made it (None when unknown),
    `fallback` the assignee kind used instead of the asked one, `customer` (name, locale, preferred
    channel) for a message to the customer."""
    kind = effect.get("type")
    if kind == "CreateTodo":
        target = getattr(action, "assignee", None) or getattr(action, "to", None)
        asked = who(target.kind, target.role) if target is not None else ""
        people = _people(effect.get("assignee_ids", ()), names, asked, fallback)
        if effect.get("kind") == "escalation" or getattr(action, "type", "") == "escalate":
            text = i18n.gettext("Escalation “%(title)s” to %(people)s", title=effect.get("title", ""), people=people)
        else:
            text = i18n.gettext("To-do “%(title)s” for %(people)s", title=effect.get("title", ""), people=people)
        if effect.get("cc_user_ids"):
            text = i18n.gettext("%(text)s; copy to %(names)s", text=text, names=_names(effect["cc_user_ids"], names))
        return text
    if kind == "Notify":
        people = _people(effect.get("user_ids", ()), names, "", fallback)
        channels = i18n.gettext(", ").join(_t(CHANNELS, c) for c in effect.get("channels", ()))
        return i18n.gettext("Notification “%(title)s” to %(people)s (%(channels)s)", title=effect.get("title", ""),
                            people=people, channels=channels)
    if kind == "MessageCustomer":
        name, locale, preferred = customer or (i18n.gettext("without a customer"), "", "")
        channel = _t(CHANNELS, effect.get("channel") or preferred) or i18n.gettext("Message")
        return i18n.gettext("%(channel)s to customer %(customer)s (%(language)s): “%(subject)s”", channel=channel,
                            customer=name, language=locale.replace("_", "-"), subject=effect.get("subject", ""))
    if kind == "CallWebhook":
        return i18n.gettext("Webhook call to %(url)s", url=effect.get("url", ""))
    if kind == "SetField":
        return i18n.gettext("Set %(field)s to %(value)s", field=effect.get("field", ""),
                            value="" if effect.get("value") is None else effect.get("value"))
    if kind == "AddTag":
        return i18n.gettext("Tag “%(tag)s”", tag=effect.get("tag", ""))
    if kind == "AddRiskFlag":
        return i18n.gettext("Risk flag “%(flag)s”: %(reason)s", flag=effect.get("flag", ""),
                            reason=effect.get("reason", ""))
    if kind == "StartFlow":
        return i18n.gettext("Start flow %(flow)s", flow=effect.get("flow_key", ""))
    return str(kind or "")


def action_index(effect: Mapping[str, Any]) -> int:
    """The action an effect came from (its dedupe key ends with the action's index)."""
    tail = str(effect.get("dedupe_key", "")).rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def fallbacks_of(problems: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """Action index -> the assignee kind a fallback used, from a plan's or firing's problems."""
    out = {}
    for p in problems:
        params = p.get("params") or {}
        if p.get("code") == "rule.assignee_fallback" and isinstance(params.get("action"), int):
            out[params["action"]] = str(params.get("to", ""))
    return out


def sentences(effects: Sequence[Mapping[str, Any]], problems: Sequence[Mapping[str, Any]], rule: RuleDefinition | None,
              *, names: Mapping[int, str], customer: tuple[str, str, str] | None) -> list[str]:
    """Every effect of one firing (or planned firing) in words."""
    fallbacks = fallbacks_of(problems)
    out = []
    for effect in effects:
        index = action_index(effect)
        action = rule.actions[index] if rule is not None and 0 <= index < len(rule.actions) else None
        out.append(effect_sentence(effect, action, names=names, fallback=fallbacks.get(index), customer=customer))
    return out


def people_ids(effects: Sequence[Mapping[str, Any]]) -> set[int]:
    return {u for e in effects for key in ("assignee_ids", "cc_user_ids", "user_ids") for u in e.get(key, ())
            if isinstance(u, int)}
