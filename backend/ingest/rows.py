"""One CSV row -> the values of an OrderCreate, or the list of what is wrong with it (per column).

Pure functions: no database. The service resolves the customer and calls create_order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from backend.ingest.schemas import ImportMapping, RowError

_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?$")
_DMY = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")  # 31/12/2026 (day first, as Excel in zh/eu)
_MONEY_NOISE = re.compile(r"[\s¥￥$€]|CNY|RMB|USD|EUR|元")
_GROUPED = re.compile(r"-?\d{1,3}(,\d{3})+")


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


def parse_row(line: int, cells: dict[str, str], mapping: ImportMapping, tz: ZoneInfo) -> ParsedRow:
    """Values for one order; every bad cell is reported (not just the first)."""
    row = ParsedRow(line=line)

    def cell(target: str) -> tuple[str | None, str]:
        column = mapping.columns.get(target)
        value = (cells.get(column) or "").strip() if column else ""
        if not value:
            value = (mapping.defaults.get(target) or "").strip()
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
        elif re.fullmatch(r"[A-Za-z0-9_\-]{1,40}", value):
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
    for target, column in mapping.columns.items():
        if target.startswith("data."):
            value = (cells.get(column) or "").strip()
            data[target[5:]] = value or None  # an empty cell is kept as "unknown", never dropped
    if data:
        row.values["data"] = data
    return row
