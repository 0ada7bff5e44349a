"""Order data against a form: clean, compute, decide visibility and requiredness, collect errors.

One pass, the same for saving an order and for the live form's htmx round trips:
1. clean every input field (type, range, options) and every line-item row, computing the
   row's computed columns; read-only fields keep their previous (or default) value, computed
   fields ignore whatever the client sent;
2. walk the dependency graph in topological order: a field whose `visible_if` is false is
   hidden and its value dropped (kept when the condition reads only order facts such as `stage`),
   a computed field is evaluated from its inputs' final values;
3. check `required` / `required_if` on visible fields;
4. report every error at once, per field path (`items[2].qty`), with the message in `locale`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from engine.forms.definition import FieldType, FormDefinition, FormField
from engine.forms.expressions import ExpressionFailed, evaluate, is_truthy
from engine.forms.graph import context_gated, plan
from engine.forms.issues import Issue
from engine.forms.messages import render
from engine.forms.values import ExistsFn, clean_value, coerce_result, decimals_of, is_empty, normalize_number

MAX_ROWS = 1000


@dataclass(frozen=True)
class FieldError:
    path: str
    code: str
    params: dict[str, Any]
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "code": self.code, "params": self.params, "message": self.message}


@dataclass(frozen=True)
class FormResult:
    """What an order's data is after validation, plus what the form shows."""

    data: dict[str, Any]
    """Cleaned values to store: computed fields recomputed, hidden fields dropped, empties left out."""
    errors: tuple[FieldError, ...]
    visible: dict[str, bool]
    required: dict[str, bool]
    totals: dict[str, dict[str, float | int]] = field(default_factory=dict)
    """Per line-items field: column key -> sum over the rows."""

    @property
    def ok(self) -> bool:
        return not self.errors

    def errors_by_path(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in self.errors:
            out.setdefault(e.path, []).append(e.message)
        return out


def validate_data(
    defn: FormDefinition,
    data: Any,
    *,
    locale: str = "zh-CN",
    previous: Mapping[str, Any] | None = None,
    default_tz: tzinfo | None = None,
    exists: ExistsFn | None = None,
    context: Mapping[str, Any] | None = None,
) -> FormResult:
    """Validate submitted `data` against `defn`; every error at once, messages in `locale`.

    `previous` is the order's stored data on an update (read-only fields keep it, absent keys
    fall back to it); `default_tz` gives naive date-times a zone (the user's); `exists(kind, ids)`
    lets the caller check user / department / customer ids without the engine touching a DB;
    `context` holds the order facts expressions may read besides fields (`{"stage": "draft"}`)."""
    issues: list[Issue] = []
    if not isinstance(data, Mapping):
        issues.append(Issue("", "form.data_invalid", {}))
        data = {}
    known = {f.key for f in defn.data_fields()}
    for key in data:
        if key not in known:
            issues.append(Issue(str(key), "form.unknown_field", {"field": str(key)}))
    values, pending = _clean_inputs(defn, data, previous, default_tz)
    if exists is not None:
        _check_references(defn, values, pending, exists)
    values, visible, required = _resolve(defn, values, context)
    for f in defn.data_fields():
        if not visible[f.key]:
            continue
        field_issues = pending.get(f.key, [])
        if required[f.key] and not field_issues and _missing(f, values.get(f.key)):
            field_issues = [Issue(f.key, "form.must_be_checked" if f.type == FieldType.CHECKBOX
                                  else "form.required", {"field": f.key})]
        issues += field_issues
    totals = {f.key: line_totals(f, values.get(f.key) or []) for f in defn.data_fields()
              if f.type == FieldType.LINE_ITEMS and f.totals and visible[f.key]}
    errors = tuple(FieldError(i.path, i.code, i.params, render(i.code, i.params, locale)) for i in issues)
    return FormResult(values, errors, visible, required, totals)


def compute(defn: FormDefinition, data: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`data` with every computed field (and computed line-item column) recomputed in dependency
    order from the other values, and hidden fields dropped: exactly what validate_data stores."""
    values = dict(data)
    for f in defn.data_fields():
        if f.type == FieldType.LINE_ITEMS and isinstance(values.get(f.key), list):
            order = plan(defn)[1][f.key]
            values[f.key] = [_compute_row(f, dict(r), order) if isinstance(r, Mapping) else r
                             for r in values[f.key]]
    return _resolve(defn, values, context)[0]


def visibility(defn: FormDefinition, data: Mapping[str, Any],
               context: Mapping[str, Any] | None = None) -> dict[str, bool]:
    """Field key -> shown, evaluated over the computed data."""
    return validate_data(defn, dict(data), context=context).visible


def requiredness(defn: FormDefinition, data: Mapping[str, Any],
                 context: Mapping[str, Any] | None = None) -> dict[str, bool]:
    """Field key -> required now (`required`, or `required_if` true); hidden fields are never required."""
    return validate_data(defn, dict(data), context=context).required


def initial_data(defn: FormDefinition) -> dict[str, Any]:
    """A new order's data before anyone types: defaults, then computed values."""
    return validate_data(defn, {}).data


def line_totals(table: FormField, rows: list[Any]) -> dict[str, float | int]:
    """Sum of each `totals` column over the rows (empty cells count as 0)."""
    out: dict[str, float | int] = {}
    for key in table.totals:
        column = table.column(key)
        total = sum(r.get(key) or 0 for r in rows if isinstance(r, Mapping)
                    and isinstance(r.get(key) or 0, int | float))
        out[key] = normalize_number(total, decimals_of(column) if column else None)
    return out


def split_archived(defn: FormDefinition, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values of fields in `defn`, values of keys no longer in it): archived data stays readable."""
    known = {f.key for f in defn.data_fields()}
    current = {k: v for k, v in data.items() if k in known}
    archived = {k: v for k, v in data.items() if k not in known}
    return current, archived


# --- the pass ----------------------------------------------------------------------------------


def _clean_inputs(
    defn: FormDefinition, data: Mapping[str, Any], previous: Mapping[str, Any] | None,
    default_tz: tzinfo | None,
) -> tuple[dict[str, Any], dict[str, list[Issue]]]:
    values: dict[str, Any] = {}
    pending: dict[str, list[Issue]] = {}
    for f in defn.data_fields():
        if f.type == FieldType.COMPUTED:
            continue
        if f.read_only:
            raw = previous[f.key] if previous is not None and f.key in previous else f.default
        elif f.key in data:
            raw = data[f.key]
        elif previous is not None:
            raw = previous.get(f.key)
        else:
            raw = f.default
        if f.type == FieldType.LINE_ITEMS:
            value, issues = _clean_rows(f, raw, default_tz, plan(defn)[1][f.key])
        else:
            value, issues = clean_value(f, raw, f.key, default_tz=default_tz)
        if issues:
            pending[f.key] = issues
        if value is not None:
            values[f.key] = value
    return values, pending


def _clean_rows(table: FormField, raw: Any, default_tz: tzinfo | None,
                order: list[str]) -> tuple[Any, list[Issue]]:
    p = {"field": table.key}
    if is_empty(raw):
        return None, []
    if isinstance(raw, Mapping):  # an HTML form may post rows as {"0": {...}, "1": {...}}
        try:
            raw = [raw[k] for k in sorted(raw, key=int)]
        except (TypeError, ValueError):
            return None, [Issue(table.key, "form.rows_invalid", p)]
    if not isinstance(raw, list):
        return None, [Issue(table.key, "form.rows_invalid", p)]
    if len(raw) > min(MAX_ROWS, int(table.max) if table.max is not None else MAX_ROWS):
        most = min(MAX_ROWS, int(table.max) if table.max is not None else MAX_ROWS)
        return None, [Issue(table.key, "form.too_many_rows", {**p, "max": most})]
    issues: list[Issue] = []
    rows: list[dict[str, Any]] = []
    columns = {c.key for c in table.columns}
    raw = _without_trailing_empty_rows(table, raw)
    for i, row in enumerate(raw):
        rpath = f"{table.key}[{i}]"
        if not isinstance(row, Mapping):
            issues.append(Issue(rpath, "form.row_invalid", p))
            continue
        if _is_empty_row(table, row):  # between filled rows: the row numbers people see must stay
            issues.append(Issue(rpath, "form.row_empty", {**p, "row": i + 1}))
            continue
        for key in row:
            if key not in columns:
                issues.append(Issue(f"{rpath}.{key}", "form.unknown_field", {"field": str(key)}))
        clean: dict[str, Any] = {}
        row_issues: dict[str, list[Issue]] = {}
        for c in table.columns:
            if c.type == FieldType.COMPUTED:
                continue
            value, errs = clean_value(c, row.get(c.key, c.default), f"{rpath}.{c.key}", default_tz=default_tz)
            if not errs and c.min is None and c.type in _AMOUNTS and isinstance(value, int | float) and value < 0:
                # a line's quantity or price below zero is a typo, not a credit (a column may allow it: min)
                errs = [Issue(f"{rpath}.{c.key}", "form.number_too_small", {"field": c.key, "min": 0})]
                value = None
            if errs:
                row_issues[c.key] = errs
            if value is not None:
                clean[c.key] = value
        clean = _compute_row(table, clean, order)
        for c in table.columns:
            errs = row_issues.get(c.key, [])
            if not errs and c.type != FieldType.COMPUTED and _missing(c, clean.get(c.key)) and (
                c.required or (c.required_if is not None and _truthy(c.required_if, clean))
            ):
                errs = [Issue(f"{rpath}.{c.key}", "form.must_be_checked" if c.type == FieldType.CHECKBOX
                              else "form.required", {"field": c.key})]
            issues += errs
        rows.append(clean)
    if table.min is not None and len(rows) < table.min:
        issues.append(Issue(table.key, "form.too_few_rows", {**p, "min": int(table.min)}))
    return rows or None, issues


_AMOUNTS = frozenset({FieldType.NUMBER, FieldType.MONEY})


def _is_empty_row(table: FormField, row: Any) -> bool:
    return isinstance(row, Mapping) and all(is_empty(row.get(c.key)) for c in table.columns
                                            if c.type != FieldType.COMPUTED)


def _without_trailing_empty_rows(table: FormField, raw: list[Any]) -> list[Any]:
    """The form's starter row, or rows added and left blank at the end, are not lines of the order."""
    end = len(raw)
    while end and _is_empty_row(table, raw[end - 1]):
        end -= 1
    return raw[:end]


def _compute_row(table: FormField, row: dict[str, Any], order: list[str]) -> dict[str, Any]:
    for key in order:
        c = table.column(key)
        if c is not None and c.type == FieldType.COMPUTED:
            _set(row, key, _computed(c, row))
    return row


def _resolve(defn: FormDefinition, values: dict[str, Any], context: Mapping[str, Any] | None = None,
             ) -> tuple[dict[str, Any], dict[str, bool], dict[str, bool]]:
    fields = {f.key: f for f in defn.data_fields()}
    # order facts are read like fields while expressions run, and are not stored; a field wins
    facts = {k: v for k, v in (context or {}).items() if k not in fields and k not in values}
    values.update(facts)
    gated = context_gated(defn)
    visible: dict[str, bool] = {}
    for key in plan(defn)[0]:
        f = fields[key]
        if f.visible_if is not None and not _truthy(f.visible_if, values):
            visible[key] = False
            if key not in gated:
                values.pop(key, None)
            continue
        visible[key] = True
        if f.type == FieldType.COMPUTED:
            _set(values, key, _computed(f, values))
    required = {
        key: visible[key] and f.type != FieldType.COMPUTED and (
            f.required or (f.required_if is not None and _truthy(f.required_if, values)))
        for key, f in fields.items()
    }
    for key in facts:
        values.pop(key, None)
    return values, visible, required


def _computed(f: FormField, scope: Mapping[str, Any]) -> Any:
    try:
        return coerce_result(f, evaluate(f.expression, scope))
    except ExpressionFailed:
        return None  # e.g. a division by a quantity of 0: no value rather than a failed save


def _truthy(expr: Any, scope: Mapping[str, Any]) -> bool:
    try:
        return is_truthy(evaluate(expr, scope))
    except ExpressionFailed:
        return False


def _set(values: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        values.pop(key, None)
    else:
        values[key] = value


def _missing(f: FormField, value: Any) -> bool:
    return value is not True if f.type == FieldType.CHECKBOX else is_empty(value)


def _check_references(defn: FormDefinition, values: dict[str, Any], pending: dict[str, list[Issue]],
                      exists: ExistsFn) -> None:
    wanted: dict[str, set[int]] = {}
    for f in defn.data_fields():
        if f.type in (FieldType.USER, FieldType.DEPARTMENT, FieldType.CUSTOMER) and f.key in values:
            wanted.setdefault(f.type.value, set()).add(values[f.key])
    found = {kind: exists(kind, ids) for kind, ids in wanted.items()}
    for f in defn.data_fields():
        if f.type.value in found and f.key in values and values[f.key] not in found[f.type.value]:
            pending.setdefault(f.key, []).append(
                Issue(f.key, "form.reference_not_found", {"field": f.key, "id": values.pop(f.key)}))
