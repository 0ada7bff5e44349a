"""Line items as people fill them in: blank rows left at the end are not lines, a blank row between
lines is refused by its number, a negative quantity or price is refused unless the column allows it
(min below 0), and numbers parsed as Decimal (exact JSON bodies) are accepted like JSON numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.forms import parse_definition, validate_data
from engine.forms.values import to_number

FORM = parse_definition({"key": "order", "fields": [
    {"key": "weight", "type": "number", "label": {"en": "Weight"}},
    {"key": "items", "type": "line_items", "label": {"en": "Items"}, "totals": ["amount"], "columns": [
        {"key": "product", "type": "text", "label": {"en": "Product"}, "required": True},
        {"key": "qty", "type": "number", "label": {"en": "Quantity"}},
        {"key": "price", "type": "money", "label": {"en": "Unit price"}},
        {"key": "credit", "type": "money", "label": {"en": "Credit"}, "min": -100},
        {"key": "amount", "type": "computed", "label": {"en": "Amount"}, "result_type": "money",
         "expression": {"*": [{"var": "qty"}, {"var": "price"}]}}]},
]})


def _codes(result) -> dict[str, str]:
    return {e.path: e.code for e in result.errors}


class TestRows:
    def test_trailing_blank_rows_are_dropped(self):
        result = validate_data(FORM, {"items": [{"product": "Bolt", "qty": 2, "price": 3}, {}, {"qty": ""}]},
                               locale="en")
        assert result.errors == ()
        assert result.data["items"] == [{"product": "Bolt", "qty": 2, "price": 3, "amount": 6}]
        assert result.totals == {"items": {"amount": 6}}

    def test_only_blank_rows_store_no_items(self):
        result = validate_data(FORM, {"items": [{}]}, locale="en")
        assert result.errors == () and "items" not in result.data

    def test_a_blank_row_between_lines_is_refused_by_its_number(self):
        result = validate_data(FORM, {"items": [{"product": "A", "qty": 1}, {}, {"product": "B", "qty": 1}]},
                               locale="en")
        assert _codes(result) == {"items[1]": "form.row_empty"}
        assert result.errors[0].message == "Row 2 is empty: fill it in or remove it."

    @pytest.mark.parametrize("column", ["qty", "price"])
    def test_negative_quantity_or_price_is_refused(self, column):
        result = validate_data(FORM, {"items": [{"product": "A", "qty": 1, "price": 1, column: -5}]}, locale="en")
        assert _codes(result) == {f"items[0].{column}": "form.number_too_small"}
        assert result.errors[0].message == "Must be at least 0."

    def test_a_column_with_a_negative_min_allows_it(self):
        result = validate_data(FORM, {"items": [{"product": "A", "credit": -20}]}, locale="en")
        assert result.errors == ()


class TestDecimal:
    @pytest.mark.parametrize(("raw", "expected"), [
        (Decimal("88.50"), 88.5), (Decimal("3"), 3), (Decimal("1E+2"), 100), (Decimal("NaN"), None),
        (Decimal("Infinity"), None)])
    def test_to_number(self, raw, expected):
        assert to_number(raw) == expected
        assert type(to_number(raw)) is type(expected)

    def test_a_decimal_in_a_number_field_is_valid(self):
        result = validate_data(FORM, {"weight": Decimal("12.5"), "items": [
            {"product": "A", "qty": Decimal("2"), "price": Decimal("0.10")}]}, locale="en")
        assert result.errors == ()
        assert result.data["weight"] == 12.5 and result.data["items"][0]["amount"] == 0.2
