"""RuleDefinition: an admin's if-then alert rule, as versioned data.

A rule is a trigger (events, or time: scanned every few minutes), a scope, a JSON-logic
condition over facts (engine/facts), actions and a firing policy. Definitions are frozen pydantic
models stored as JSON (`model_dump(mode="json")`); running state (who fired when) lives in
`engine.rules.firing.FiringState`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

SCHEMA_VERSION = 1

EventType = Literal[
    "order_created",
    "field_changed",
    "stage_entered",
    "stage_left",
    "todo_overdue",
    "customer_urged",
    "inbound_message",
]
AssigneeKind = Literal[
    "user", "role", "owner", "owner_manager", "owner_manager_manager", "current_approver",
    "current_approver_manager",
]
Priority = Literal["low", "normal", "high", "urgent"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LocalizedText(_Frozen):
    zh: str = ""
    en: str = ""

    def for_reader(self, lang: str) -> tuple[str, str]:
        """(text, its language) for a reader of `lang` ("zh" / "en"): theirs, else the other one."""
        own, other = (self.zh, "zh"), (self.en, "en")
        if lang == "en":
            own, other = other, own
        return own if own[0].strip() else other

    def is_empty(self) -> bool:
        return not (self.zh.strip() or self.en.strip())


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _one_text_to_both(value: Any) -> Any:
    """A template stored before templates had languages (one text) is the Chinese version when it
    contains Chinese, else the English one; the reader of the other language falls back to it, so
    it reads exactly as before."""
    if isinstance(value, str):
        return {"zh": value} if _CJK.search(value) else {"en": value}
    return value


# A message template per reader language (`{"zh": "…", "en": "…"}`); an empty one falls back to the
# other language. Plain text (stored rules, API clients) is still read: see `_one_text_to_both`.
Template = Annotated[LocalizedText, BeforeValidator(_one_text_to_both)]


class EventTrigger(_Frozen):
    """Evaluate in process when one of these events happens to an order."""

    kind: Literal["event"] = "event"
    events: tuple[EventType, ...] = ()
    fields: tuple[str, ...] = ()  # field_changed: only these fields (empty: any)
    stages: tuple[str, ...] = ()  # stage_entered / stage_left: only these stages (empty: any)


class TimeTrigger(_Frozen):
    """Evaluate for all open orders by a compiled SQL scan, every `every_minutes`."""

    kind: Literal["time"] = "time"
    every_minutes: int = Field(default=1, ge=1, le=24 * 60)


Trigger = Annotated[EventTrigger | TimeTrigger, Field(discriminator="kind")]


class Scope(_Frozen):
    """Which orders the rule looks at (empty tuple: no restriction)."""

    form_keys: tuple[str, ...] = ()
    flow_keys: tuple[str, ...] = ()
    customer_tiers: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ("open",)


class Assignee(_Frozen):
    kind: AssigneeKind
    user_id: int | None = None  # kind == "user"
    role: str | None = None  # kind == "role"


class CreateTodoAction(_Frozen):
    type: Literal["create_todo"] = "create_todo"
    assignee: Assignee
    cc: tuple[Assignee, ...] = ()
    priority: Priority = "normal"
    due_in_hours: float | None = Field(default=None, ge=0)
    title_template: Template
    body_template: Template = LocalizedText()


class NotifyAction(_Frozen):
    type: Literal["notify"] = "notify"
    recipients: tuple[Assignee, ...]
    channels: tuple[Literal["in_app", "email", "chat", "webhook"], ...] = ("in_app",)
    title_template: Template
    body_template: Template = LocalizedText()


class MessageCustomerAction(_Frozen):
    type: Literal["message_customer"] = "message_customer"
    subject_template: Template
    body_template: Template
    channel: str | None = None  # None: the customer's preferred channel


class CallWebhookAction(_Frozen):
    type: Literal["call_webhook"] = "call_webhook"
    url: str = Field(pattern=r"^https?://")
    secret_ref: str | None = None


class SetFieldAction(_Frozen):
    type: Literal["set_field"] = "set_field"
    field: str
    value: Any = None


class AddTagAction(_Frozen):
    type: Literal["add_tag"] = "add_tag"
    tag: str = Field(min_length=1, max_length=60)


class AddRiskFlagAction(_Frozen):
    type: Literal["add_risk_flag"] = "add_risk_flag"
    flag: str = Field(min_length=1, max_length=60)
    reason_template: Template = LocalizedText()


class StartFlowAction(_Frozen):
    type: Literal["start_flow"] = "start_flow"
    flow_key: str = Field(min_length=1)


class EscalateAction(_Frozen):
    """An urgent to-do for someone higher up (default: the owner's manager)."""

    type: Literal["escalate"] = "escalate"
    to: Assignee = Assignee(kind="owner_manager")
    title_template: Template
    body_template: Template = LocalizedText()


Action = Annotated[
    CreateTodoAction
    | NotifyAction
    | MessageCustomerAction
    | CallWebhookAction
    | SetFieldAction
    | AddTagAction
    | AddRiskFlagAction
    | StartFlowAction
    | EscalateAction,
    Field(discriminator="type"),
]


class FiringPolicy(_Frozen):
    """once_per_order: at most once ever; once_per_episode: again only after the condition was
    false in between; every_n_hours: while true, at most every `every_hours`; every_time: on each
    event the rule hears while the condition holds (event rules only: "a to-do for every customer
    message"). With `quiet_hours`,
    firings outside the business calendar's working time wait for the next working moment."""

    mode: Literal["once_per_order", "once_per_episode", "every_n_hours", "every_time"] = "once_per_episode"
    every_hours: float | None = Field(default=None, gt=0)
    quiet_hours: bool = False


class RuleDefinition(_Frozen):
    schema_version: int = SCHEMA_VERSION
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,79}$")
    version: int = Field(default=1, ge=1)
    status: Literal["draft", "published", "retired"] = "draft"
    name: LocalizedText
    description: LocalizedText = LocalizedText()
    enabled: bool = False
    trigger: Trigger
    scope: Scope = Scope()
    condition: Any
    actions: tuple[Action, ...]
    firing: FiringPolicy = FiringPolicy()

    @property
    def is_time_rule(self) -> bool:
        return isinstance(self.trigger, TimeTrigger)


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring stored rule JSON to SCHEMA_VERSION (version 1 is the first; nothing to upgrade yet)."""
    version = data.get("schema_version", 1)
    if version > SCHEMA_VERSION:
        raise ValueError(f"rule.schema_too_new: {version}")
    return {**data, "schema_version": SCHEMA_VERSION}


def load_rule(data: dict[str, Any]) -> RuleDefinition:
    """A RuleDefinition from stored JSON (upgraded first). Raises pydantic.ValidationError."""
    return RuleDefinition.model_validate(upgrade(data))
