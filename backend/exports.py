"""Spreadsheet exports (.xlsx via openpyxl), safe to open in Excel, WPS or LibreOffice.

A cell whose text starts with = + - @ (or a tab / carriage return before one) is read as a formula by
spreadsheet programs: an order note "=HYPERLINK(...)" typed by a customer would run on the exporting
admin's machine (CSV/formula injection), and openpyxl itself stores such a string as a formula. Every
such text gets a leading apostrophe (OWASP's advice): it shows, and the cell is text that never runs. Numbers, dates and booleans are written as
themselves (a negative number is a number, not a formula).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL = 32_767  # Excel's limit on the characters of one cell


def neutralize(value: Any) -> Any:
    """A cell value that a spreadsheet shows as data, never runs as a formula."""
    if value is None or isinstance(value, bool | int | float | Decimal | date | datetime):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.replace(tzinfo=None)  # Excel has no time zones: the caller converts first
        return value
    text = str(value)[:MAX_CELL]
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def workbook_bytes(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """One sheet: a bold header row, then the rows, every cell neutralised."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31] or "Sheet1")
    widths = [min(max(len(str(h)), 8), 40) for h in headers]
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width + 2
    sheet.append([neutralize(h) for h in headers])
    for row in rows:
        sheet.append([neutralize(v) for v in row])
    out = BytesIO()
    book.save(out)
    return out.getvalue()
