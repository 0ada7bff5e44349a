"""Validate a RuleDefinition: every issue with a path, a code and params (for the designer).

`validate` finds errors (nothing is published or enabled while there are any);
`warnings_before_enable` finds what an admin should confirm, such as a condition that matches
every order.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, String, column, table

from engine.facts import CORE_COLUMNS, Catalogue, FactContext, FactType
from engine.facts.catalogue import STORED_SCORES
from engine.jsonlogic import Issue, matches, validate_logic, var_names
from engine.rules.compiler import NotCompilable, compile_condition
from engine.rules.definition import (
    AddRiskFlagAction,
    Assignee,
    CreateTodoAction,
    EscalateAction,
    EventTrigger,
    LocalizedText,
    MessageCustomerAction,
    NotifyAction,
    RuleDefinition,
    SetFieldAction,
)
from engine.rules.limits import condition_issues, value_issues
from engine.rules.relative import relative_issues
from engine.rules.relative import resolve as resolve_relative
from engine.rules.template_context import LANGS
from engine.rules.templates import check_template

__all__ = ["compile_check", "input_issues", "matches_every_order", "template_issues", "validate",
           "warnings_before_enable"]

_SQL_TYPES = {
    FactType.NUMBER: Float,
    FactType.STRING: String,
    FactType.DATE: Date,
    FactType.DATETIME: DateTime,
    FactType.LIST: JSON,
    FactType.BOOL: String,
}
_READ_ONLY = {"id", "number", "created_at", "updated_at", "closed_at", "stage_entered_at", "stage", "status",
              *STORED_SCORES,
              # foresight_0001: scores the worker stores (backend/foresight/scoring.py)
              "predicted_stage_done_at", "predicted_completion_at", "delay_probability", "stage_p90_hours"}


def _probe_columns(catalogue: Catalogue) -> Any:
    cols = [column("data", JSON())]
    for name in CORE_COLUMNS:
        if name in catalogue and name != "data":
            cols.append(column(name, _SQL_TYPES[catalogue[name].type]()))
    return table("sales_order", *cols).c


PROBE_CONTEXT = FactContext(now=datetime(2026, 1, 1, tzinfo=UTC))

_COMPARISONS = {"==", "!=", "===", "!==", "<", "<=", ">", ">="}
#: what a relative date may be compared with
_RELATIVE_TYPES = {"today": "date", "now": "datetime"}


def comparison_issues(condition: Any, catalogue: Catalogue, path: str = "condition") -> list[Issue]:
    """Comparisons of two fields (or a field and a relative date) whose types do not fit:
    a number with a date, a date with a datetime, lists with anything. The builder only offers
    fields of the same type on the right; hand-written JSON gets this issue with both names."""
    issues: list[Issue] = []

    def kind(node: Any) -> tuple[str, str] | None:
        if not isinstance(node, dict) or len(node) != 1:
            return None
        op, raw = next(iter(node.items()))
        if op in _RELATIVE_TYPES:
            return op, _RELATIVE_TYPES[op]
        if op == "var":
            name = raw[0] if isinstance(raw, list) and raw else raw
            if isinstance(name, str) and name in catalogue:
                return name, str(catalogue[name].type)
        return None

    stack: list[tuple[Any, str]] = [(condition, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, list):
            stack.extend((item, f"{where}.{i}") for i, item in enumerate(node))
            continue
        if not isinstance(node, dict) or len(node) != 1:
            continue
        op, raw = next(iter(node.items()))
        here = f"{where}.{op}"
        args = raw if isinstance(raw, list) else [raw]
        if op in _COMPARISONS:
            for left, right in zip(args, args[1:], strict=False):
                a, b = kind(left), kind(right)
                if a is None or b is None or (a[1] == b[1] and a[1] != "list"):
                    continue
                if a[0] in _RELATIVE_TYPES and b[0] in _RELATIVE_TYPES:
                    continue
                issues.append(Issue(here, "rule.compare_types_incompatible",
                                    {"left": a[0], "left_type": a[1], "right": b[0], "right_type": b[1]}))
        if op not in _RELATIVE_TYPES:
            stack.append((raw, here))
    return sorted(issues, key=lambda i: i.path)


def compile_check(condition: Any, catalogue: Catalogue) -> NotCompilable | None:
    """Why the condition cannot run as a SQL scan, or None when it can."""
    try:
        compile_condition(condition, catalogue, _probe_columns(catalogue), PROBE_CONTEXT)
    except NotCompilable as exc:
        return exc
    return None


def _assignee_issues(assignee: Assignee, path: str) -> list[Issue]:
    if assignee.kind == "user" and assignee.user_id is None:
        return [Issue(f"{path}.user_id", "rule.assignee_user_missing", {})]
    if assignee.kind == "role" and not assignee.role:
        return [Issue(f"{path}.role", "rule.assignee_role_missing", {})]
    return []


def input_issues(definition: Any) -> list[Issue]:
    """What must be refused before a definition is parsed, stored or walked recursively: values
    that would not be saved as given (Infinity, NaN, NUL, lone surrogates) and a condition past
    the size limits (engine/rules/limits.py). Iterative: safe on any JSON."""
    issues = value_issues(definition)
    if isinstance(definition, dict) and not issues:
        issues = condition_issues(definition.get("condition"))
    return issues


def validate(rule: RuleDefinition, catalogue: Catalogue) -> list[Issue]:
    """Every error in the rule, each with a path into the definition's JSON."""
    issues: list[Issue] = value_issues(rule.condition, "condition") or condition_issues(rule.condition)
    if issues:
        return issues  # nothing below may walk (recursively) or compile a condition like this
    try:
        json.dumps(rule.condition, allow_nan=False)
    except (TypeError, ValueError):
        return [Issue("condition", "rule.condition_not_json", {})]
    if rule.condition is None or rule.condition == {}:
        issues.append(Issue("condition", "rule.condition_empty", {}))
    else:
        issues.extend(relative_issues(rule.condition))
        if not issues:  # relative dates as the constants they stand for: the checks below see dates
            resolved = resolve_relative(rule.condition, PROBE_CONTEXT)
            pairs = comparison_issues(rule.condition, catalogue)
            named = {i.path for i in pairs}  # two fields named beat "a date cannot be compared with {...}"
            issues.extend(i for i in validate_logic(resolved, catalogue.types(), path="condition")
                          if not (i.code == "logic.type_mismatch" and i.path in named))
            issues.extend(pairs)
    if not issues and rule.is_time_rule:
        problem = compile_check(rule.condition, catalogue)
        if problem is not None:
            issues.append(
                Issue(
                    "condition",
                    "rule.time_condition_not_compilable",
                    {"reason": problem.code, **problem.params},
                )
            )
    issues.extend(value_issues(rule.model_dump(exclude={"condition"})))
    if isinstance(rule.trigger, EventTrigger):
        if not rule.trigger.events:
            issues.append(Issue("trigger.events", "rule.trigger_without_events", {}))
        for index, name in enumerate(rule.trigger.fields):
            if name not in catalogue:
                issues.append(Issue(f"trigger.fields.{index}", "logic.unknown_field", {"field": name}))
    if rule.firing.mode == "every_n_hours" and rule.firing.every_hours is None:
        issues.append(Issue("firing.every_hours", "rule.every_hours_missing", {}))
    if rule.firing.mode == "every_time" and not isinstance(rule.trigger, EventTrigger):
        issues.append(Issue("firing.mode", "rule.every_time_needs_events", {}))
    if not rule.actions:
        issues.append(Issue("actions", "rule.no_actions", {}))
    for index, action in enumerate(rule.actions):
        path = f"actions.{index}"
        templates: list[tuple[str, LocalizedText]] = []
        if isinstance(action, CreateTodoAction):
            issues.extend(_assignee_issues(action.assignee, f"{path}.assignee"))
            for cc_index, cc in enumerate(action.cc):
                issues.extend(_assignee_issues(cc, f"{path}.cc.{cc_index}"))
            templates = [("title_template", action.title_template), ("body_template", action.body_template)]
            if action.title_template.is_empty():
                issues.append(Issue(f"{path}.title_template", "rule.title_empty", {}))
        elif isinstance(action, EscalateAction):
            issues.extend(_assignee_issues(action.to, f"{path}.to"))
            templates = [("title_template", action.title_template), ("body_template", action.body_template)]
        elif isinstance(action, NotifyAction):
            if not action.recipients:
                issues.append(Issue(f"{path}.recipients", "rule.no_recipients", {}))
            for r_index, recipient in enumerate(action.recipients):
                issues.extend(_assignee_issues(recipient, f"{path}.recipients.{r_index}"))
            templates = [("title_template", action.title_template), ("body_template", action.body_template)]
        elif isinstance(action, MessageCustomerAction):
            templates = [
                ("subject_template", action.subject_template),
                ("body_template", action.body_template),
            ]
        elif isinstance(action, AddRiskFlagAction):
            templates = [("reason_template", action.reason_template)]
        elif isinstance(action, SetFieldAction):
            issues.extend(_set_field_issues(action, catalogue, path))
        for attribute, template in templates:
            for lang in LANGS:
                source = getattr(template, lang)
                problem = check_template(source, catalogue, lang) if source else None
                if problem is not None:
                    issues.append(Issue(f"{path}.{attribute}.{lang}", problem.code, problem.params))
    return issues


def template_issues(rule: RuleDefinition, catalogue: Catalogue) -> list[Issue]:
    """The problems of the rule's message templates alone (unknown names, syntax, limits): what
    saving a draft refuses, so a typo in a variable is named while the admin is still editing.

    A designed field no published form has yet (`order.data.expected_completion` of a classic
    rule) is not refused here, as a condition reading it is not: publishing refuses both."""
    return [i for i in validate(rule, catalogue) if "_template." in i.path and not (
        i.code.startswith("rule.template_unknown_name") and str(i.params.get("name", "")).startswith("order.data."))]


def _set_field_issues(action: SetFieldAction, catalogue: Catalogue, path: str) -> list[Issue]:
    if (
        action.field not in catalogue
        or catalogue[action.field].source == "derived"
        or action.field in _READ_ONLY
    ):
        return [Issue(f"{path}.field", "rule.field_not_settable", {"field": action.field})]
    kind = catalogue[action.field].type
    value = action.value
    fits = (
        value is None
        or {
            FactType.NUMBER: isinstance(value, (int, float)) and not isinstance(value, bool),
            FactType.STRING: isinstance(value, str),
            FactType.BOOL: isinstance(value, bool),
            FactType.LIST: isinstance(value, list),
            FactType.DATE: isinstance(value, str) and _is_iso_date(value),
            FactType.DATETIME: isinstance(value, str),
        }[kind]
    )
    if not fits:
        return [
            Issue(f"{path}.value", "rule.value_type_mismatch", {"field": action.field, "type": str(kind)})
        ]
    return []


def _is_iso_date(text: str) -> bool:
    try:
        return date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _probe_orders(catalogue: Catalogue, names: set[str]) -> list[dict[str, Any]]:
    """Contrasting fact dicts: all empty, and low / middle / high values for every field read."""
    base_day = date(2026, 1, 15)
    variants: list[dict[str, Any]] = [{"data": {}}]
    samples = {
        FactType.NUMBER: [-1_000_000, 0, 1, 24.5, 1_000_000],
        FactType.STRING: ["", "0", "a", "approval", "zzzz"],
        FactType.DATE: [(base_day + timedelta(days=d)).isoformat() for d in (-4000, -1, 0, 1, 4000)],
        FactType.DATETIME: ["2000-01-01T00:00:00+00:00"] * 5,
        FactType.BOOL: [False, True, False, True, False],
        FactType.LIST: [[], ["a"], ["vip"], ["x", "y"], []],
    }
    for i in range(5):
        facts: dict[str, Any] = {"data": {}}
        for name in names:
            if name not in catalogue:
                continue
            value = samples[catalogue[name].type][i]
            if name.startswith("data."):
                facts["data"][name.removeprefix("data.")] = value
            else:
                facts[name] = value
        variants.append(facts)
    return variants


def matches_every_order(condition: Any, catalogue: Catalogue) -> bool:
    """True when the condition holds on an empty order and on low, middle and high values of every
    field it reads: then it most likely matches every order (a warning before enabling; the dry
    run's count confirms it on real data)."""
    names = var_names(condition)
    try:
        condition = resolve_relative(condition, PROBE_CONTEXT)
        return all(matches(condition, facts) for facts in _probe_orders(catalogue, names))
    except Exception:  # a condition that raises on a probe does not match everything
        return False


def warnings_before_enable(rule: RuleDefinition, catalogue: Catalogue) -> list[Issue]:
    """What to confirm before enabling (errors come from `validate`)."""
    out: list[Issue] = []
    if matches_every_order(rule.condition, catalogue):
        out.append(Issue("condition", "rule.matches_every_order", {}))
    if not rule.is_time_rule:
        problem = compile_check(rule.condition, catalogue)
        if problem is not None:
            out.append(Issue("condition", "rule.event_only", {"reason": problem.code, **problem.params}))
    return out
