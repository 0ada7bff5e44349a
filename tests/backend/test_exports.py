"""backend/exports.py: what a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook

from backend.exports import neutralize, workbook_bytes


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"), ("+1+2", "'+1+2"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("plain", "plain"), ("a=b", "a=b"), (Decimal("-5.50"), Decimal("-5.50")), (-3, -3), (None, None),
    (date(2026, 12, 6), date(2026, 12, 6)),
])
def test_neutralize(value, expected):
    assert neutralize(value) == expected


def test_the_workbook_holds_every_cell_as_data():
    data = workbook_bytes("Orders", ["No.", "Note"], [["SO1", "=cmd|' /C calc'!A0"], ["SO2", Decimal("-1")]])
    sheet = load_workbook(BytesIO(data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows == [["No.", "Note"], ["SO1", "'=cmd|' /C calc'!A0"], ["SO2", -1]]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
