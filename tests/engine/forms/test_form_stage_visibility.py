"""Fields shown by the order's stage (issue 17): `visible_if` may read the order fact `stage`;
a field hidden only by it is not required and keeps its value."""

from __future__ import annotations

import pytest

from engine.forms import parse_definition, validate_data, validate_definition

LATER = ["shipping", "delivered", "completed"]


def labelled(fields):
    return [{**f, "label": {"en": f["key"]}} for f in fields]


def form(**carrier):
    return parse_definition({"key": "order", "fields": labelled([
        {"key": "product", "type": "text", "required": True},
        {"key": "carrier", "type": "text", "required": True,
         "visible_if": {"in": [{"var": "stage"}, LATER]}, **carrier},
        {"key": "rush", "type": "checkbox"},
        {"key": "rush_reason", "type": "text", "visible_if": {"var": "rush"}},
    ])})


class TestStageIsAnOrderFact:
    def test_publishing_accepts_stage_in_a_condition(self):
        assert validate_definition(form()) == []

    def test_an_unknown_name_is_still_refused(self):
        bad = parse_definition({"key": "order", "fields": labelled([
            {"key": "carrier", "type": "text", "visible_if": {"in": [{"var": "stag"}, LATER]}}])})
        assert [i.code for i in validate_definition(bad)] == ["form.expression_unknown_field"]

    @pytest.mark.parametrize(("stage", "shown"), [("draft", False), ("production", False), ("shipping", True),
                                                  ("completed", True), (None, False)])
    def test_shown_from_its_stage_on(self, stage, shown):
        context = {"stage": stage} if stage else None
        result = validate_data(form(), {"product": "Bolt", "carrier": "SF"}, context=context)
        assert result.visible["carrier"] is shown
        assert result.required["carrier"] is shown

    def test_hidden_by_stage_is_not_required_on_a_new_order(self):
        result = validate_data(form(), {"product": "Bolt"}, context={"stage": "draft"})
        assert result.ok, result.errors

    def test_required_once_the_stage_is_reached(self):
        result = validate_data(form(), {"product": "Bolt"}, context={"stage": "shipping"})
        assert [e.path for e in result.errors] == ["carrier"]

    def test_hidden_by_stage_keeps_its_value(self):
        result = validate_data(form(), {"product": "Bolt"}, previous={"carrier": "SF"},
                               context={"stage": "production"})
        assert (result.data["carrier"], result.visible["carrier"], result.ok) == ("SF", False, True)

    def test_hidden_by_another_field_still_drops_its_value(self):
        result = validate_data(form(), {"product": "Bolt", "rush": False, "rush_reason": "x"},
                               context={"stage": "shipping"})
        assert "rush_reason" not in result.data and result.visible["rush_reason"] is False

    def test_the_fact_is_not_stored(self):
        result = validate_data(form(), {"product": "Bolt", "carrier": "SF"}, context={"stage": "shipping"})
        assert "stage" not in result.data

    def test_a_field_keyed_stage_wins_over_the_fact(self):
        defn = parse_definition({"key": "order", "fields": [
            {"key": "stage", "type": "text"},
            {"key": "note", "type": "text", "visible_if": {"==": [{"var": "stage"}, "mine"]}}]})
        result = validate_data(defn, {"stage": "mine", "note": "n"}, context={"stage": "draft"})
        assert result.visible["note"] and result.data == {"stage": "mine", "note": "n"}
