"""backend/exports.py: what a spreadsheet would run as a formula is written as text; numbers and
text are left alone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook

from backend.exports import neutralize, neutralize_formula, neutralize_row, workbook_bytes


@pytest.mark.parametrize("value, expected", [
    ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("-12.5", "-12.5"),
    ("+8613800000000", "+8613800000000"),
    ("1e5", "1e5"),
    ("上海精工", "上海精工"),
    ("a=b", "a=b"),
    ("", ""),
    (12, 12),
    (None, None),
])
def test_neutralize_formula(value, expected):
    assert neutralize_formula(value) == expected


def test_neutralize_row_keeps_order_and_length():
    assert neutralize_row(["=1", 2, "x"]) == ["'=1", 2, "x"]


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
