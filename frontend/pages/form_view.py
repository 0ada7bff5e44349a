"""A designed form as the pages show it: HTML form posts -> order data, and data -> a view model.

Both the "New order" page and the designer's live preview render `orders/_form.html` from the
view model built here, and both send every keystroke's form state back to `evaluate`, which runs
the same engine pass that validates on save.

Input names: a top-level field is its key; a line-item cell is `<table>.<row>.<column>`; a
multi select repeats its key; an attachment field holds one hidden input per file, each the JSON
reference returned by the upload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from backend import i18n
from backend.installation.service import current as current_installation
from engine.forms import FieldType, FormDefinition, FormField, FormResult

"""The zone people type date-times in (the app shows times in Shanghai time, see frontend/templating)."""
_CELL = re.compile(r"^([a-z][a-z0-9_]*)\.(\d{1,4})\.([a-z][a-z0-9_]*)$")
MAX_FORM_ROWS = 200


class FormInput:
    """The parts of a Starlette FormData we use (multi_items), so tests can pass plain lists."""

    def __init__(self, items: list[tuple[str, Any]]):
        self.items = [(k, v) for k, v in items if isinstance(v, str)]

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.items if k == key), None)

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self.items if k == key]

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.items)


def _files(values: list[str]) -> list[Any]:
    out = []
    for v in values:
        try:
            out.append(json.loads(v))
        except ValueError:
            out.append(v)  # the engine reports form.file_invalid
    return out


def _cell_value(f: FormField, form: FormInput, name: str) -> Any:
    if f.type == FieldType.MULTI_SELECT:
        return form.getlist(name)
    if f.type == FieldType.CHECKBOX:
        return form.get(name)  # absent = unchecked
    if f.type in (FieldType.ATTACHMENT, FieldType.IMAGE):
        return _files(form.getlist(name))
    if f.type == FieldType.DATETIME:
        return _aware(form.get(name))
    return form.get(name)


def _aware(value: str | None) -> str | None:
    """A datetime-local input's value (no zone) as ISO 8601 in the local zone."""
    if not value:
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value  # the engine reports form.datetime_invalid
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=current_installation().zone)).isoformat()


def parse_form(defn: FormDefinition, form: FormInput) -> dict[str, Any]:
    """Order data from an HTML form post (computed fields and unknown names are ignored)."""
    data: dict[str, Any] = {}
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for name, _ in form.items:
        m = _CELL.match(name)
        if m:
            rows.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})
    for f in defn.data_fields():
        if f.type == FieldType.COMPUTED:
            continue
        if f.type == FieldType.LINE_ITEMS:
            indexes = sorted(rows.get(f.key, {}))[:MAX_FORM_ROWS]
            data[f.key] = [
                {c.key: _cell_value(c, form, f"{f.key}.{i}.{c.key}") for c in f.columns
                 if c.type != FieldType.COMPUTED}
                for i in indexes
            ]
            continue
        data[f.key] = _cell_value(f, form, f.key)
    return data


def apply_action(defn: FormDefinition, data: dict[str, Any], action: str | None) -> dict[str, Any]:
    """`add_row:<table>` / `remove_row:<table>:<index>` from the row buttons."""
    if not action:
        return data
    parts = action.split(":")
    table = defn.field(parts[1]) if len(parts) > 1 else None
    if table is None or table.type != FieldType.LINE_ITEMS:
        return data
    rows = list(data.get(table.key) or [])
    if parts[0] == "add_row" and len(rows) < MAX_FORM_ROWS:
        rows.append({})
    elif parts[0] == "remove_row" and len(parts) == 3 and parts[2].isdigit() and int(parts[2]) < len(rows):
        rows.pop(int(parts[2]))
    return {**data, table.key: rows}


# --- view model --------------------------------------------------------------------------------


@dataclass
class Choice:
    value: str
    label: str
    color: str | None
    selected: bool


@dataclass
class FieldView:
    key: str
    type: str
    name: str
    id: str
    label: str
    help: str = ""
    placeholder: str = ""
    content: str = ""
    width: int = 1
    required: bool = False
    visible: bool = True
    read_only: bool = False
    value: Any = None
    display: str = ""
    errors: list[str] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    columns: list[FieldView] = field(default_factory=list)
    rows: list[list[FieldView]] = field(default_factory=list)
    totals: dict[str, str] = field(default_factory=dict)
    step: str = "any"
    min: Any = None
    max: Any = None


@dataclass
class FormView:
    key: str
    version: int
    title: str
    fields: list[FieldView]
    hidden_keys: list[str]
    required_keys: list[str]
    has_errors: bool
    computed: list[FieldView]
    """Computed values (with ids) the live round trip refreshes out of band."""


def engine_locale() -> str:
    return "zh-CN" if i18n.get_locale() == "zh_CN" else "en"


def format_value(f: FormField, value: Any, currency: str | None = None) -> str:
    """A stored value as people read it (locale-aware numbers, option labels, yes / no)."""
    if value is None or value == "" or value == []:
        return ""
    locale = i18n.get_locale()
    kind = f.result_type if f.type == FieldType.COMPUTED else f.type.value
    try:
        if kind == "money" and isinstance(value, int | float):
            return format_currency(value, f.currency or currency or "CNY", locale=locale)
        if kind == "percent" and isinstance(value, int | float):
            return format_percent(value / 100, "#,##0.##%", locale=locale)
        if kind in ("number", None) and isinstance(value, int | float):
            return format_decimal(value, locale=locale)
    except (ValueError, ArithmeticError):
        return str(value)
    if kind == "date" and isinstance(value, str):
        try:
            return format_date(date.fromisoformat(value), format="medium", locale=locale)
        except ValueError:
            return value
    if kind == "datetime" and isinstance(value, str):
        try:
            return format_datetime(datetime.fromisoformat(value), format="short", tzinfo=current_installation().zone, locale=locale)
        except ValueError:
            return value
    if kind == "checkbox" or isinstance(value, bool):
        return i18n.gettext("Yes") if value else i18n.gettext("No")
    if f.type in (FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT):
        labels = {o.value: (o.label.get(engine_locale()) or o.value) for o in f.options}
        values = value if isinstance(value, list) else [value]
        return "、".join(labels.get(v, v) for v in values) if locale == "zh_CN" else ", ".join(
            labels.get(v, v) for v in values)
    if f.type in (FieldType.ATTACHMENT, FieldType.IMAGE) and isinstance(value, list):
        return ", ".join(str(v.get("name")) for v in value if isinstance(v, dict))
    return str(value)


def _input_value(f: FormField, raw: Any, clean: Any) -> Any:
    """What the input shows: the clean value when there is one, else what the user typed."""
    value = clean if clean is not None else raw
    if f.type == FieldType.DATETIME and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return (parsed.astimezone(current_installation().zone) if parsed.tzinfo else parsed).strftime("%Y-%m-%dT%H:%M")
    return value


def _field_view(f: FormField, name: str, raw: Any, clean: Any, errors: dict[str, list[str]],
                *, required: bool, visible: bool) -> FieldView:
    locale = engine_locale()
    element_id = "form-" + name.replace(".", "-")
    view = FieldView(
        key=f.key, type=f.type.value, name=name, id=element_id, label=f.text("label", locale),
        help=f.text("help", locale), placeholder=f.text("placeholder", locale), content=f.text("content", locale),
        width=f.width, required=required, visible=visible, read_only=f.read_only,
        value=_input_value(f, raw, clean), display=format_value(f, clean), errors=errors.get(name, []),
        min=f.min, max=f.max,
    )
    if f.decimals is not None:
        view.step = "1" if f.decimals == 0 else "0." + "0" * (f.decimals - 1) + "1"
    elif f.type == FieldType.MONEY:
        view.step = "0.01"
    if f.type in (FieldType.SINGLE_SELECT, FieldType.MULTI_SELECT):
        chosen = view.value if isinstance(view.value, list) else [view.value]
        view.choices = [Choice(o.value, o.label.get(locale) or o.value, o.color, o.value in chosen) for o in f.options]
    if f.type in (FieldType.ATTACHMENT, FieldType.IMAGE):
        view.files = [v for v in (view.value or []) if isinstance(v, dict)]
    return view


def build_view(defn: FormDefinition, raw: Mapping[str, Any], result: FormResult, *,
               errors: dict[str, list[str]] | None = None) -> FormView:
    """The view model of `defn` filled with `raw` (as typed) and `result` (engine output)."""
    errors = errors or {}
    locale = engine_locale()
    views: list[FieldView] = []
    computed: list[FieldView] = []
    for f in defn.fields:
        if not f.holds_data:
            views.append(FieldView(key=f.key, type=f.type.value, name=f.key, id=f"form-{f.key}",
                                   label=f.text("label", locale), content=f.text("content", locale),
                                   width=f.width, help=f.text("help", locale)))
            continue
        visible = result.visible.get(f.key, True)
        view = _field_view(f, f.key, raw.get(f.key), result.data.get(f.key), errors,
                           required=result.required.get(f.key, False), visible=visible)
        if f.type == FieldType.COMPUTED:
            computed.append(view)
        if f.type == FieldType.LINE_ITEMS:
            raw_rows = raw.get(f.key) if isinstance(raw.get(f.key), list) else []
            clean_rows = result.data.get(f.key) or []
            view.columns = [_field_view(c, f"{f.key}.__.{c.key}", None, None, {}, required=c.required,
                                        visible=True) for c in f.columns]
            for i, raw_row in enumerate(raw_rows):
                clean_row = clean_rows[i] if i < len(clean_rows) else {}
                cells = []
                for c in f.columns:
                    cell = _field_view(c, f"{f.key}.{i}.{c.key}", (raw_row or {}).get(c.key),
                                       clean_row.get(c.key), errors, required=c.required, visible=True)
                    cells.append(cell)
                    if c.type == FieldType.COMPUTED:
                        computed.append(cell)
                view.rows.append(cells)
            view.errors = errors.get(f.key, [])
            for col, total in result.totals.get(f.key, {}).items():
                column = f.column(col)
                view.totals[col] = format_value(column, total) if column else str(total)
        views.append(view)
    return FormView(
        key=defn.key, version=defn.version, title=defn.title.get(locale) or "",
        fields=views, hidden_keys=[k for k, v in result.visible.items() if not v],
        required_keys=[k for k, v in result.required.items() if v], has_errors=bool(errors),
        computed=computed,
    )


def error_messages(fields: Mapping[str, tuple[str, dict[str, Any]]]) -> dict[str, list[str]]:
    """GendanError.fields (engine paths `items[2].qty`) -> messages by input name (`items.2.qty`)."""
    out: dict[str, list[str]] = {}
    for path, (code, params) in fields.items():
        name = re.sub(r"\[(\d+)\]", r".\1", path)
        name = re.sub(r"^(\w+\.\d+\.\w+)\.\d+$", r"\1", name)  # a file inside a cell
        name = re.sub(r"^(\w+)\.\d+$", r"\1", name)  # a file of a top-level field
        out.setdefault(name, []).append(i18n.translate_error(code, params))
    return out
