"""Cells written to CSV or Excel files that people open in a spreadsheet.

A cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return before one) is run as a
formula by Excel, LibreOffice and WPS: `=HYPERLINK("http://evil", "click")` in a customer name,
imported and exported again, becomes a live link or worse (CSV injection, OWASP). Every export
passes its cells through `neutralize_formula`, which puts an apostrophe in front, the spreadsheet
convention for "this is text". Plain numbers such as `-12.5` or `+8613800000000` are left as they
are: a spreadsheet reads them as numbers, never as formulas.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralize_formula(value: Any) -> Any:
    """The value as a spreadsheet shows it as text; non-strings pass through unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralize_row(cells: Iterable[Any]) -> list[Any]:
    """`neutralize_formula` over one row of an export."""
    return [neutralize_formula(cell) for cell in cells]
