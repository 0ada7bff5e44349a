"""A conversion funnel's steps in the flow's stage order (engine/reports/funnel_order.py, pure)."""

from __future__ import annotations

from engine.reports.funnel_order import in_process_order, is_conversion_funnel

ORDER = ("draft", "approval", "tech_confirm", "production", "shipping")


def test_rows_follow_the_flow_not_the_counts():
    rows = [["draft", 10], ["production", 8], ["approval", 6], ["rejected", 2], ["cancelled_x", 3], ["shipping", 1]]
    assert in_process_order(rows, ORDER, 1) == [["draft", 10], ["approval", 6], ["production", 8], ["shipping", 1],
                                                ["cancelled_x", 3], ["rejected", 2]]


def test_unknown_stages_largest_first_then_by_name_and_none_last_of_equal():
    rows = [["b", 1], ["a", 1], [None, 5], ["draft", None]]
    assert in_process_order(rows, ORDER, 1) == [["draft", None], [None, 5], ["a", 1], ["b", 1]]


def test_only_a_conversion_funnel_over_a_stage_field():
    assert is_conversion_funnel({"type": "funnel", "conversion": True}, ["stage_to"])
    assert is_conversion_funnel({"type": "funnel", "conversion": True}, ["order.stage"])
    assert not is_conversion_funnel({"type": "funnel"}, ["stage_to"])
    assert not is_conversion_funnel({"type": "bar", "conversion": True}, ["stage_to"])
    assert not is_conversion_funnel({"type": "funnel", "conversion": True}, ["owner_id"])
    assert not is_conversion_funnel({"type": "funnel", "conversion": True}, [])
