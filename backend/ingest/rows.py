"""One CSV row -> the values of an OrderCreate, or the list of what is wrong with it (per column).

Pure functions: no database. The service resolves the customer and calls create_order.
A designed field's cell is converted by the field's type (`DataField`, from the published order
form, or the mapping's `data_types` for keys no form has) into what the form engine stores:
dates `YYYY-MM-DD`, date-times in UTC `...Z` (read in the job's time zone, as `created` is),
numbers as numbers, options as their value (the file may hold the label in either language).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from backend.ingest.schemas import ImportMapping, RowError
from engine.connectors import jsonpath

_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?$")
_DMY = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")  # 31/12/2026 (day first, as Excel in zh/eu)
_MONEY_NOISE = re.compile(r"[\s¥￥$€]|CNY|RMB|USD|EUR|元")
_GROUPED = re.compile(r"-?\d{1,3}(,\d{3})+")


_TRUE = frozenset({"1", "true", "yes", "y", "x", "✓", "是", "对", "有"})
_FALSE = frozenset({"0", "false", "no", "n", "否", "不", "无"})
MAX_LINE_ITEMS = 500  # rows of one order's line items
MAX_LINE_CELL = 2000
_STAGE_KEY = re.compile(r"[A-Za-z0-9_\-]{1,40}")  # a stage named by its key in the file
_SPLIT = re.compile(r"\s*[,;|，；、]\s*")


@dataclass(frozen=True)
class DataField:
    """What the importer needs to know of a designed field: its type and, for selects, its options
    as (value, labels in every language)."""

    type: str
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    columns: tuple[tuple[str, DataField], ...] = ()  # line items: each row's columns by key


@dataclass
class ParsedRow:
    line: int
    values: dict[str, Any] = field(default_factory=dict)  # OrderCreate fields (without customer_id)
    customer_name: str | None = None
    customer_code: str | None = None
    created_at: datetime | None = None
    status: str | None = None
    errors: list[RowError] = field(default_factory=list)


class CellError(ValueError):
    def __init__(self, code: str, **params: Any):
        super().__init__(code)
        self.code = code
        self.params = params


def parse_datetime(text: str, tz: ZoneInfo) -> datetime:
    """'2026-12-31', '2026/12/31 08:30', '2026年12月31日', '31/12/2026' -> aware UTC datetime (local tz)."""
    match = _DATE.match(text)
    if match:
        y, m, d, hh, mm, ss = match.groups()
    else:
        match = _DMY.match(text)
        if not match:
            raise CellError("import.date_invalid", value=text)
        d, m, y = match.groups()
        hh = mm = ss = None
    try:
        local = datetime.combine(date(int(y), int(m), int(d)),
                                 time(int(hh or 0), int(mm or 0), int(ss or 0)), tzinfo=tz)
    except ValueError as exc:
        raise CellError("import.date_invalid", value=text) from exc
    return local.astimezone(ZoneInfo("UTC"))


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """Like parse_datetime, and also ISO 8601 with its own offset ('2026-12-31T08:30:00+08:00', '...Z')."""
    try:
        return parse_datetime(text, tz)
    except CellError:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise CellError("import.date_invalid", value=text) from None
        if value.tzinfo is None:
            raise CellError("import.date_invalid", value=text) from None
        return value.astimezone(UTC)


def parse_date(text: str, tz: ZoneInfo) -> date:
    match = _DATE.match(text) or _DMY.match(text)
    if not match:
        raise CellError("import.date_invalid", value=text)
    # a date column means a calendar day where the file was written: no timezone shift
    return parse_datetime(text, ZoneInfo("UTC")).date()


def parse_amount(text: str) -> Decimal:
    """'¥1,234.50', '1.234,50', '10,5' (decimal comma, as semicolon files write it), '1,200' (grouping)."""
    cleaned = _MONEY_NOISE.sub("", text)
    if "," in cleaned and "." in cleaned:
        if cleaned.rfind(",") > cleaned.rfind("."):  # 1.234,56
            cleaned = cleaned.replace(".", "").replace(",", ".")
        else:  # 1,234.56
            cleaned = cleaned.replace(",", "")
    elif "," in cleaned:
        # three digits after each comma is grouping (1,200); otherwise it is a decimal comma (10,00)
        cleaned = cleaned.replace(",", "") if _GROUPED.fullmatch(cleaned) else cleaned.replace(",", ".", 1)
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise CellError("import.amount_invalid", value=text) from exc
    if not value.is_finite():
        raise CellError("import.amount_invalid", value=text)
    if value < 0:
        raise CellError("import.amount_negative", value=text)
    return value


def parse_number(text: str) -> int | float:
    """A designed number: the amount's formats, a sign and a trailing % allowed; integral as int."""
    cleaned = text.strip().rstrip("%").strip()
    negative = cleaned.startswith("-")
    try:
        value = parse_amount(cleaned.lstrip("-"))
    except CellError:
        raise CellError("import.number_invalid", value=text) from None
    value = -value if negative else value
    return int(value) if value == value.to_integral_value() else float(value)


def convert_cell(text: str, spec: DataField, tz: ZoneInfo) -> Any:
    """One designed field's cell as the form engine stores it; CellError when it cannot be."""
    kind = spec.type
    if kind == "date":
        return parse_date(text, tz).isoformat()
    if kind == "datetime":
        return parse_instant(text, tz).isoformat().replace("+00:00", "Z")
    if kind in ("number", "money", "percent"):
        return parse_number(text)
    if kind == "checkbox":
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise CellError("import.checkbox_invalid", value=text)
    if kind in ("single_select", "multi_select"):
        by_word: dict[str, str] = {}
        for value, labels in spec.options:
            for word in (*labels, value):  # the option's value wins over another option's label
                by_word[word.strip().casefold()] = value
        words = [text] if kind == "single_select" else [w for w in _SPLIT.split(text) if w]
        chosen = []
        for word in words:
            value = by_word.get(word.strip().casefold())
            if value is None:
                raise CellError("import.option_unknown", value=word)
            chosen.append(value)
        if kind == "single_select":
            return chosen[0]
        order = [v for v, _ in spec.options]
        return sorted(set(chosen), key=order.index)
    return text


def parse_line_items(text: str, spec: DataField, paths: dict[str, str], tz: ZoneInfo,
                     ) -> tuple[list[dict[str, Any]], list[tuple[str, str, dict[str, Any]]]]:
    """A line-items field's cell (a JSON list of objects, as a connector hands a record's `lines`)
    -> the rows the form stores ({column key: value}), each column converted by its type and read at
    `paths[column]` inside the item (default: the column's own key). Every bad value is reported
    as (where, code, params), `where` naming the row from 1 and the column: `[2].quantity`."""
    try:
        items = json.loads(text)
    except ValueError:
        return [], [("", "import.line_items_invalid", {"value": text[:80]})]
    if isinstance(items, dict):
        items = [items]  # one line sent as an object
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return [], [("", "import.line_items_invalid", {"value": text[:80]})]
    if len(items) > MAX_LINE_ITEMS:
        return [], [("", "import.line_items_too_many", {"count": len(items), "max": MAX_LINE_ITEMS})]
    rows: list[dict[str, Any]] = []
    problems: list[tuple[str, str, dict[str, Any]]] = []
    for n, item in enumerate(items, start=1):
        row: dict[str, Any] = {}
        for key, column in spec.columns:
            try:
                raw = jsonpath.first(item, paths.get(key) or key)
            except jsonpath.PathError:
                raw = None
            cell = "" if raw is None else (json.dumps(raw, ensure_ascii=False) if isinstance(raw, (dict, list))
                                           else ("true" if raw is True else "false" if raw is False else str(raw)))
            cell = cell.strip()[:MAX_LINE_CELL]
            if not cell:
                row[key] = False if column.type == "checkbox" else None
                continue
            try:
                row[key] = convert_cell(cell, column, tz)
            except CellError as exc:
                problems.append((f"[{n}].{key}", exc.code, {**exc.params, "line_no": n}))
        rows.append(row)
    return rows, problems


def parse_row(line: int, cells: dict[str, str], mapping: ImportMapping, tz: ZoneInfo,
              fields: dict[str, DataField] | None = None) -> ParsedRow:
    """Values for one order; every bad cell is reported (not just the first). `fields` are the
    designed fields by key (their types convert the cells); a key without one is kept as text."""
    row = ParsedRow(line=line)
    columns, defaults, get = mapping.columns, mapping.defaults, cells.get  # read once per row, not per cell

    def cell(target: str) -> tuple[str | None, str]:
        column = columns.get(target)
        value = (get(column) or "").strip() if column else ""
        if not value:
            value = (defaults.get(target) or "").strip()
        return column, value

    def fail(target: str, column: str | None, code: str, **params: Any) -> None:
        row.errors.append(RowError(line=line, column=column, field=target, code=code, params=params))

    for target in ("external_id", "number", "currency"):
        column, value = cell(target)
        if value:
            row.values[target] = value
    column, value = cell("amount")
    if not value:
        fail("amount", column, "import.value_missing")
    else:
        try:
            row.values["amount"] = parse_amount(value)
        except CellError as exc:
            fail("amount", column, exc.code, **exc.params)
    column, value = cell("stage")
    if value:
        if value in mapping.status_map:
            row.status = mapping.status_map[value]
        if value in mapping.stage_map:
            row.values["stage"] = mapping.stage_map[value]
        elif value in mapping.status_map:
            pass  # only the status changes; the stage stays the default
        elif _STAGE_KEY.fullmatch(value):
            row.values["stage"] = value
        else:
            fail("stage", column, "import.stage_unknown", value=value)
    for target in ("planned_delivery", "payment_due"):
        column, value = cell(target)
        if value:
            try:
                row.values[target] = parse_date(value, tz)
            except CellError as exc:
                fail(target, column, exc.code, **exc.params)
    column, value = cell("created")
    if value:
        try:
            row.created_at = parse_datetime(value, tz)
        except CellError as exc:
            fail("created", column, exc.code, **exc.params)
    _, row.customer_name = cell("customer")
    _, row.customer_code = cell("customer_code")
    row.customer_name = row.customer_name or None
    row.customer_code = row.customer_code or None
    if not row.customer_name and not row.customer_code:
        fail("customer", mapping.columns.get("customer") or mapping.columns.get("customer_code"),
             "import.value_missing")
    data = {}
    for target, column in columns.items():
        if target[:5] == "data.":
            key = target[5:]
            value = (cells.get(column) or "").strip()
            spec = (fields or {}).get(key)
            if spec is None and key in mapping.data_types:
                spec = DataField(type=mapping.data_types[key])
            if not value and spec is not None and spec.type == "checkbox":
                data[key] = False  # as the form stores an unticked box
                continue
            if value and spec is not None and spec.type == "line_items":
                items, problems = parse_line_items(value, spec, mapping.line_columns.get(key, {}), tz)
                for where, code, params in problems:
                    fail(f"{target}{where}", column, code, **params)
                if not problems:
                    data[key] = items
                continue
            if value and spec is not None:
                try:
                    data[key] = convert_cell(value, spec, tz)
                except CellError as exc:
                    fail(target, column, exc.code, **exc.params)
                continue
            data[key] = value or None  # an empty cell is kept as "unknown", never dropped
    if data:
        row.values["data"] = data
    return row
