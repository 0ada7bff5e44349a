"""Cells for spreadsheets: formulas neutralised, numbers and text left alone (backend/exports.py)."""

from __future__ import annotations

import pytest

from backend.exports import neutralize_formula, neutralize_row


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
