"""The features backend/foresight/history.py reads from an order: the designed `supplier` field, bounded."""

from __future__ import annotations

from backend.foresight.history import _features


def test_the_supplier_is_read_from_the_designed_field():
    row = _features("Acme", "西南", "rep", {"supplier": " 成都西部重工 ", "category": "阀门"}, 1200)
    assert row["supplier"] == "成都西部重工" and row["region"] == "西南" and row["category"] == "阀门"
    assert _features("Acme", None, "rep", {"supplier": "x" * 500}, None)["supplier"] == "x" * 80
    for odd in ({"supplier": ""}, {"supplier": 7}, {"supplier": ["a"]}, {}, None, "text"):
        assert _features("Acme", None, "rep", odd, None)["supplier"] is None
