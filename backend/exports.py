"""Cells written to CSV or Excel files that people open in a spreadsheet.

A cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return before one) is run as a
formula by Excel, LibreOffice and WPS: `=HYPERLINK("http://evil", "click")` in a customer name,
imported and exported again, becomes a live link or worse (CSV injection, OWASP). Every export
passes its cells through `neutralize_formula`, which puts an apostrophe in front, the spreadsheet
convention for "this is text". Plain numbers such as `-12.5` or `+8613800000000` are left as they
are: a spreadsheet reads them as numbers, never as formulas. The import error CSV uses
`neutralize_row`; .xlsx exports (the order list) use `workbook_bytes`, which also keeps numbers,
dates and booleans as themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL = 32_767  # Excel's limit on the characters of one cell
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralize_formula(value: Any) -> Any:
    """The value as a spreadsheet shows it as text; non-strings pass through unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralize_row(cells: Iterable[Any]) -> list[Any]:
    """`neutralize_formula` over one row of an export."""
    return [neutralize_formula(cell) for cell in cells]


def neutralize(value: Any) -> Any:
    """An .xlsx cell value that a spreadsheet shows as data, never runs as a formula."""
    if value is None or isinstance(value, bool | int | float | Decimal | date | datetime):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.replace(tzinfo=None)  # Excel has no time zones: the caller converts first
        return value
    return neutralize_formula(str(value)[:MAX_CELL])


def workbook_bytes(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """One sheet: a header row, then the rows, every cell neutralised."""
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
