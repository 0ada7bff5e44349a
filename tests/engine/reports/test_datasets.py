"""The data sets' catalogues and the pieces the compiler decides with (pure: no database)."""

from __future__ import annotations

import pytest

from engine.facts import FactType, default_catalogue
from engine.reports.datasets import (
    DATASETS,
    LineItemsField,
    condition_vars,
    dataset_catalogue,
    only_order_fields,
)
from engine.reports.definition import ReportProblem, load_report


@pytest.mark.parametrize("name", [d for d in DATASETS if d != "orders"])
def test_every_field_is_labelled_in_both_languages_and_customers_carry_no_order_fields(name):
    catalogue = dataset_catalogue(name)
    assert all(spec.label_zh and spec.label_en for spec in catalogue.fields.values())
    has_order = any(n.startswith("order.") for n in catalogue.fields)
    assert has_order == (name != "customers")


def test_condition_vars_and_early_narrowing():
    month = {"<=": [{"now": [-30, "days"]}, {"var": "order.created_at"}, {"now": [0, "days"]}]}
    assert condition_vars({"and": [month, {"==": [{"var": ["type", None]}, "urged"]}]}) == {"order.created_at", "type"}
    assert only_order_fields(month)
    assert not only_order_fields({"and": [month, {"==": [{"var": "type"}, "urged"]}]})
    assert not only_order_fields({"==": [1, 1]})  # reads nothing: nothing to narrow by


def test_line_item_columns_are_found_by_their_keys():
    spec = LineItemsField.of("lines", [("sku", "text"), ("qty", "number"), ("price", "money"), ("note", "text")])
    assert (spec.product, spec.quantity, spec.unit_price, spec.amount) == ("sku", "qty", "price", None)
    typed_wrong = LineItemsField.of("lines", [("product", "number"), ("quantity", "text")])
    assert typed_wrong.product is None and typed_wrong.quantity is None


def test_a_report_reads_its_own_data_sets_fields():
    orders = default_catalogue()
    assert load_report({"dataset": "todos", "dimensions": [{"field": "order.created_at", "bucket": "week"}],
                        "measures": [{"op": "p90", "field": "open_age_hours"}]}, orders).dataset == "todos"
    with pytest.raises(ReportProblem) as caught:
        load_report({"dataset": "todos", "dimensions": [{"field": "created_at"}]}, orders)  # a time needs a bucket
    assert caught.value.code == "report.bucket_needs_date"
    with pytest.raises(ReportProblem):
        load_report({"dataset": "firings", "measures": [{"op": "sum", "field": "rule_key"}]}, orders)
    assert dataset_catalogue("todos")["is_overdue"].type is FactType.BOOL


def test_a_distinct_count_reads_any_known_field_but_lists_and_stage_hours():
    orders = default_catalogue()
    report = load_report({"dataset": "order_events", "dimensions": [{"field": "stage_to"}],
                          "measures": [{"op": "count_distinct", "field": "order.number"}]}, orders)
    assert report.measures[0].op == "count_distinct"
    for field in (None, "number", "stage_hours.approval"):  # orders' `number` is not an order event field
        with pytest.raises(ReportProblem) as caught:
            load_report({"dataset": "order_events", "measures": [{"op": "count_distinct", "field": field}]}, orders)
        assert caught.value.code == "report.unknown_field"
