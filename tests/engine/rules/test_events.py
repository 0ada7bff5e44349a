"""Which events an order change is, and which event triggers hear them (engine/rules/events.py)."""

from __future__ import annotations

import pytest

from engine.rules.definition import EventTrigger
from engine.rules.events import detail_matches, events_of, heard_event


class TestEventsOf:
    def test_a_new_order_is_created_and_enters_its_stage(self):
        assert events_of({"stage": "draft", "data": {}}, {}, is_new=True) == [
            ("order_created", None), ("stage_entered", "draft")]

    def test_a_stage_change_leaves_the_old_stage_and_enters_the_new(self):
        events = events_of({"stage": "approval"}, {"stage": "draft"}, is_new=False)
        assert events == [("field_changed", {"stage"}), ("stage_left", "draft"), ("stage_entered", "approval")]

    def test_designed_data_names_each_field_that_differs(self):
        after = {"data": {"weight": 5, "incoterm": "FOB", "new": 1}}
        before = {"data": {"weight": 4, "incoterm": "FOB", "gone": 2}}
        ((event, fields),) = events_of(after, before, is_new=False)
        assert event == "field_changed" and fields == {"data.weight", "data.new", "data.gone"}

    def test_data_rewritten_unchanged_is_no_event(self):
        assert events_of({"data": {"a": 1}}, {"data": {"a": 1}}, is_new=False) == []

    def test_an_urge_is_the_customer_urging(self):
        events = events_of({"urge_count": 2}, {"urge_count": 1}, is_new=False)
        assert ("customer_urged", None) in events and ("field_changed", {"urge_count"}) in events

    def test_no_change_no_event(self):
        assert events_of({"stage": "draft"}, {}, is_new=False) == []


class TestHeard:
    @pytest.mark.parametrize(("trigger", "event", "detail", "heard"), [
        (EventTrigger(events=("field_changed",)), "field_changed", {"amount"}, True),
        (EventTrigger(events=("field_changed",), fields=("data.weight",)), "field_changed", {"amount"}, False),
        (EventTrigger(events=("field_changed",), fields=("data.weight",)), "field_changed",
         {"amount", "data.weight"}, True),
        (EventTrigger(events=("stage_entered",), stages=("shipping",)), "stage_entered", "approval", False),
        (EventTrigger(events=("stage_entered",), stages=("shipping",)), "stage_entered", "shipping", True),
        (EventTrigger(events=("stage_left",)), "stage_left", "draft", True),
    ])
    def test_the_filter_lets_through_only_what_it_names(self, trigger, event, detail, heard):
        assert detail_matches(event, detail, trigger) is heard

    def test_the_first_event_the_trigger_hears_is_recorded(self):
        trigger = EventTrigger(events=("stage_entered", "field_changed"), stages=("shipping",))
        events = [("field_changed", {"stage"}), ("stage_left", "production"), ("stage_entered", "shipping")]
        assert heard_event(trigger, events) == "field_changed"
        assert heard_event(trigger, events[1:]) == "stage_entered"
        assert heard_event(EventTrigger(events=("customer_urged",)), events) is None
