"""validate_definition: every problem that must block publishing a form, at once.

Each issue has a path into the definition (`fields[3].options`, `fields[5].columns[1].key`) and
names the field in `params["field"]`, so the designer can show it next to the field on the canvas.
Limits (docs/forms.md) keep a form small enough to render, validate and store comfortably.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from engine.forms.definition import (
    COLUMN_TYPES,
    COMPUTED_RESULT_TYPES,
    FILE_TYPES,
    LAYOUT_TYPES,
    LOCALES,
    NUMERIC_TYPES,
    SELECT_TYPES,
    TEXT_TYPES,
    UNIQUE_TYPES,
    FieldType,
    FormDefinition,
    FormField,
    parse_definition,
)
from engine.forms.expressions import Scope, check_expression
from engine.forms.graph import cycles, dependency_graph, form_scope, row_graph, row_scope
from engine.forms.issues import FormDefinitionError, Issue
from engine.forms.values import clean_value

MAX_FIELDS = 200
"""Fields and layout items of a form, line-item columns included."""
MAX_COLUMNS = 30
MAX_OPTIONS = 500
MAX_LABEL_LENGTH = 200
MAX_TEXT_LENGTH = 2_000
"""help and description content."""
MAX_PATTERN_LENGTH = 200
MAX_DEFINITION_BYTES = 256 * 1024

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
COLOR_NAMES = frozenset({"gray", "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink"})
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

_RANGE = NUMERIC_TYPES | {FieldType.MULTI_SELECT, FieldType.LINE_ITEMS} | FILE_TYPES
_DATES = frozenset({FieldType.DATE, FieldType.DATETIME})
_DATAFUL = frozenset(FieldType) - LAYOUT_TYPES
APPLIES_TO: dict[str, frozenset[FieldType]] = {
    "help": _DATAFUL,
    "placeholder": TEXT_TYPES | NUMERIC_TYPES | _DATES | SELECT_TYPES | frozenset(
        {FieldType.USER, FieldType.DEPARTMENT, FieldType.CUSTOMER}),
    "content": frozenset({FieldType.DESCRIPTION}),
    "required": _DATAFUL - {FieldType.COMPUTED},
    "required_if": _DATAFUL - {FieldType.COMPUTED},
    "default": _DATAFUL - {FieldType.COMPUTED, FieldType.LINE_ITEMS} - FILE_TYPES,
    "min": _RANGE,
    "max": _RANGE,
    "min_length": TEXT_TYPES,
    "max_length": TEXT_TYPES,
    "pattern": TEXT_TYPES,
    "min_date": _DATES,
    "max_date": _DATES,
    "options": SELECT_TYPES,
    "read_only": _DATAFUL - {FieldType.COMPUTED},
    "unique": UNIQUE_TYPES,
    "decimals": NUMERIC_TYPES | {FieldType.COMPUTED},
    "currency": frozenset({FieldType.MONEY, FieldType.COMPUTED}),
    "max_file_size": FILE_TYPES,
    "columns": frozenset({FieldType.LINE_ITEMS}),
    "totals": frozenset({FieldType.LINE_ITEMS}),
    "expression": frozenset({FieldType.COMPUTED}),
    "result_type": frozenset({FieldType.COMPUTED}),
}
_COLUMN_FORBIDDEN = ("visible_if", "unique")
"""A column shows in every row (no per-row visibility) and is not unique across orders."""


def validate_definition(defn: FormDefinition | dict[str, Any] | str | bytes) -> list[Issue]:
    """Every issue that blocks publishing; empty means the definition may be published.

    Accepts a parsed definition or raw JSON (then shape errors come back as issues too)."""
    if not isinstance(defn, FormDefinition):
        size = len(defn) if isinstance(defn, str | bytes) else len(json.dumps(defn, default=str))
        if size > MAX_DEFINITION_BYTES:
            return [Issue("", "form.too_large", {"bytes": size, "max": MAX_DEFINITION_BYTES})]
        try:
            defn = parse_definition(defn)
        except FormDefinitionError as exc:
            return exc.issues
    issues: list[Issue] = []
    if not KEY_RE.match(defn.key):
        issues.append(Issue("key", "form.key_invalid", {"key": defn.key}))
    if defn.version < 1:
        issues.append(Issue("version", "form.property_invalid", {"detail": "version must be >= 1"}))
    issues += _localized(defn.title, "title", None, MAX_LABEL_LENGTH)
    total = len(defn.fields) + sum(len(f.columns) for f in defn.fields)
    if total > MAX_FIELDS:
        issues.append(Issue("fields", "form.too_many_fields", {"count": total, "max": MAX_FIELDS}))
        return issues  # per-field checks of an oversized form would bury the one issue that matters
    if not any(f.holds_data for f in defn.fields):
        issues.append(Issue("fields", "form.no_fields", {}))
    issues += _keys(defn.fields, "fields")
    scope = form_scope(defn)
    for i, f in enumerate(defn.fields):
        issues += _field(f, f"fields[{i}]", scope, column=False)
    issues += _cycles(dependency_graph(defn), {f.key: i for i, f in enumerate(defn.fields)}, "fields")
    return issues


def check_definition(defn: FormDefinition | dict[str, Any] | str | bytes) -> FormDefinition:
    """Parse and validate; raise FormDefinitionError with every issue, else the definition."""
    issues = validate_definition(defn)
    if issues:
        raise FormDefinitionError(issues)
    return defn if isinstance(defn, FormDefinition) else parse_definition(defn)


def _keys(fields: tuple[FormField, ...], path: str) -> list[Issue]:
    issues = []
    seen: dict[str, int] = {}
    for i, f in enumerate(fields):
        if not KEY_RE.match(f.key):
            issues.append(Issue(f"{path}[{i}].key", "form.key_invalid", {"field": f.key, "key": f.key}))
        elif f.key in seen:
            issues.append(Issue(f"{path}[{i}].key", "form.key_duplicate",
                                {"field": f.key, "key": f.key, "first": seen[f.key]}))
        else:
            seen[f.key] = i
    return issues


def _localized(values: dict[str, str], path: str, key: str | None, limit: int) -> list[Issue]:
    issues = []
    params = {"field": key} if key else {}
    for locale, text in values.items():
        if locale not in LOCALES:
            issues.append(Issue(f"{path}.{locale}", "form.locale_unknown", {**params, "locale": locale}))
        elif len(text) > limit:
            issues.append(Issue(f"{path}.{locale}", "form.text_too_long",
                                {**params, "max": limit, "length": len(text)}))
    return issues


def _field(f: FormField, path: str, scope: Scope, *, column: bool) -> list[Issue]:
    issues: list[Issue] = []
    p = {"field": f.key}
    defaults = FormField(key=f.key, type=f.type)
    for prop, types in APPLIES_TO.items():
        if f.type not in types and getattr(f, prop) != getattr(defaults, prop):
            issues.append(Issue(f"{path}.{prop}", "form.property_not_applicable",
                                {**p, "property": prop, "type": f.type.value}))
    if column:
        if f.type not in COLUMN_TYPES:
            issues.append(Issue(f"{path}.type", "form.column_type_invalid", {**p, "type": f.type.value}))
        for prop in _COLUMN_FORBIDDEN:
            if getattr(f, prop) not in (None, False):
                issues.append(Issue(f"{path}.{prop}", "form.property_not_applicable",
                                    {**p, "property": prop, "type": "column"}))
    issues += _localized(f.label, f"{path}.label", f.key, MAX_LABEL_LENGTH)
    issues += _localized(f.help, f"{path}.help", f.key, MAX_TEXT_LENGTH)
    issues += _localized(f.placeholder, f"{path}.placeholder", f.key, MAX_LABEL_LENGTH)
    issues += _localized(f.content, f"{path}.content", f.key, MAX_TEXT_LENGTH)
    if f.type != FieldType.DESCRIPTION and not any(v.strip() for v in f.label.values()):
        issues.append(Issue(f"{path}.label", "form.label_missing", p))
    if f.type == FieldType.DESCRIPTION and not any(v.strip() for v in f.content.values()):
        issues.append(Issue(f"{path}.content", "form.content_missing", p))
    issues += _ranges(f, path)
    issues += _options(f, path)
    if f.pattern is not None:
        if len(f.pattern) > MAX_PATTERN_LENGTH:
            issues.append(Issue(f"{path}.pattern", "form.pattern_invalid", {**p, "detail": "too long"}))
        else:
            try:
                re.compile(f.pattern)
            except re.error as exc:
                issues.append(Issue(f"{path}.pattern", "form.pattern_invalid", {**p, "detail": str(exc)}))
    if f.currency is not None and not CURRENCY_RE.match(f.currency):
        issues.append(Issue(f"{path}.currency", "form.currency_invalid", {**p, "currency": f.currency}))
    if f.decimals is not None and not 0 <= f.decimals <= 6:
        issues.append(Issue(f"{path}.decimals", "form.decimals_invalid", {**p, "max": 6}))
    if f.max_file_size is not None and f.max_file_size <= 0:
        issues.append(Issue(f"{path}.max_file_size", "form.number_too_small", {**p, "min": 1}))
    for prop in ("visible_if", "required_if"):
        expr = getattr(f, prop)
        if expr is not None:
            issues += _with_field(check_expression(expr, scope, f"{path}.{prop}").issues, f.key)
    if f.type == FieldType.COMPUTED:
        if f.expression is None:
            issues.append(Issue(f"{path}.expression", "form.expression_missing", p))
        else:
            issues += _with_field(check_expression(f.expression, scope, f"{path}.expression").issues, f.key)
        if f.result_type is not None and f.result_type not in COMPUTED_RESULT_TYPES:
            issues.append(Issue(f"{path}.result_type", "form.result_type_invalid",
                                {**p, "result_type": f.result_type}))
    if f.type == FieldType.LINE_ITEMS:
        issues += _line_items(f, path)
    if f.default is not None and f.type in APPLIES_TO["default"] and f.type != FieldType.CHECKBOX:
        _, errors = clean_value(f, f.default, f"{path}.default")
        issues += [Issue(f"{path}.default", "form.default_invalid", {**p, "reason": e.code}) for e in errors]
    return issues


def _with_field(issues: list[Issue], key: str) -> list[Issue]:
    return [Issue(i.path, i.code, {"field": key, **i.params}) for i in issues]


def _ranges(f: FormField, path: str) -> list[Issue]:
    issues = []
    p = {"field": f.key}
    if f.min is not None and f.max is not None and f.min > f.max:
        issues.append(Issue(f"{path}.max", "form.range_invalid", {**p, "min": f.min, "max": f.max}))
    if f.type not in NUMERIC_TYPES:
        for prop in ("min", "max"):
            value = getattr(f, prop)
            if value is not None and (value < 0 or not float(value).is_integer()):
                issues.append(Issue(f"{path}.{prop}", "form.count_invalid", p))
    for prop in ("min_length", "max_length"):
        value = getattr(f, prop)
        if value is not None and value < 0:
            issues.append(Issue(f"{path}.{prop}", "form.count_invalid", p))
    if f.min_length is not None and f.max_length is not None and f.min_length > f.max_length:
        issues.append(Issue(f"{path}.max_length", "form.range_invalid",
                            {**p, "min": f.min_length, "max": f.max_length}))
    for prop in ("min_date", "max_date"):
        value = getattr(f, prop)
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                issues.append(Issue(f"{path}.{prop}", "form.date_invalid", p))
    return issues


def _options(f: FormField, path: str) -> list[Issue]:
    if f.type not in SELECT_TYPES:
        return []
    p = {"field": f.key}
    if not f.options:
        return [Issue(f"{path}.options", "form.select_without_options", p)]
    if len(f.options) > MAX_OPTIONS:
        return [Issue(f"{path}.options", "form.too_many_options", {**p, "count": len(f.options),
                                                                     "max": MAX_OPTIONS})]
    issues = []
    seen: set[str] = set()
    for i, o in enumerate(f.options):
        opath = f"{path}.options[{i}]"
        if not o.value.strip():
            issues.append(Issue(f"{opath}.value", "form.option_value_missing", p))
        elif o.value in seen:
            issues.append(Issue(f"{opath}.value", "form.option_duplicate", {**p, "value": o.value}))
        seen.add(o.value)
        if o.color is not None and not (COLOR_RE.match(o.color) or o.color in COLOR_NAMES):
            issues.append(Issue(f"{opath}.color", "form.color_invalid", {**p, "color": o.color}))
        issues += _localized(o.label, f"{opath}.label", f.key, MAX_LABEL_LENGTH)
    return issues


def _line_items(f: FormField, path: str) -> list[Issue]:
    p = {"field": f.key}
    if not f.columns:
        return [Issue(f"{path}.columns", "form.line_items_without_columns", p)]
    issues = []
    if len(f.columns) > MAX_COLUMNS:
        issues.append(Issue(f"{path}.columns", "form.too_many_columns",
                            {**p, "count": len(f.columns), "max": MAX_COLUMNS}))
    issues += _keys(f.columns, f"{path}.columns")
    scope = row_scope(f)
    for i, c in enumerate(f.columns):
        issues += _field(c, f"{path}.columns[{i}]", scope, column=True)
    for i, key in enumerate(f.totals):
        c = f.column(key)
        numeric = c is not None and (c.type in NUMERIC_TYPES or (
            c.type == FieldType.COMPUTED and (c.result_type or "number") in ("number", "money", "percent")))
        if not numeric:
            issues.append(Issue(f"{path}.totals[{i}]", "form.total_column_invalid", {**p, "column": key}))
    issues += _cycles(row_graph(f), {c.key: i for i, c in enumerate(f.columns)}, f"{path}.columns")
    return issues


def _cycles(graph: Any, index: dict[str, int], path: str) -> list[Issue]:
    issues = []
    for cycle in cycles(graph):
        for key in cycle:
            issues.append(Issue(f"{path}[{index[key]}]", "form.formula_cycle",
                                {"field": key, "fields": " → ".join([*cycle, cycle[0]])}))
    return issues
