"""validate_definition / parse_definition: what may be published, and what is refused."""

import copy
import json

import pytest
from formkit import load, load_raw
from pydantic import ValidationError

from engine.forms import (
    SCHEMA_VERSION,
    FieldType,
    FormDefinitionError,
    check_definition,
    parse_definition,
    render,
    validate_definition,
)
from engine.forms.validate import MAX_COLUMNS, MAX_DEFINITION_BYTES, MAX_FIELDS, MAX_OPTIONS


def codes(issues):
    return {(i.path, i.code) for i in issues}


class TestValidDefinitions:
    @pytest.mark.parametrize("name", ["every_type", "conditional"])
    def test_fixture_definitions_publish_cleanly(self, name):
        assert validate_definition(load(name)) == []

    def test_every_field_type_is_covered_by_the_fixture(self, every_type):
        used = {f.type for f in every_type.fields} | {c.type for f in every_type.fields for c in f.columns}
        assert used == set(FieldType)

    def test_json_round_trip_gives_an_equal_definition(self, every_type):
        again = parse_definition(json.dumps(every_type.to_json()))
        assert again == every_type
        assert again.field("items").columns[3].expression == {"*": [{"var": "qty"}, {"var": "price"}]}

    def test_definition_is_frozen(self, every_type):
        with pytest.raises(ValidationError):
            every_type.fields[0].key = "other"  # type: ignore[misc]

    def test_raw_json_is_accepted_by_validate(self):
        assert validate_definition(json.dumps(load_raw("conditional"))) == []


class TestBadDefinition:
    """bad.json holds one of each mistake; all are reported at once, each at its field."""

    @pytest.fixture
    def issues(self):
        return validate_definition(load("bad"))

    @pytest.mark.parametrize(
        ("path", "code"),
        [
            ("fields[1].key", "form.key_duplicate"),
            ("fields[2].key", "form.key_invalid"),
            ("fields[3].options", "form.select_without_options"),
            ("fields[4].expression.plus", "form.expression_unknown_operator"),
            ("fields[5].expression", "form.expression_unknown_field"),
            ("fields[6].visible_if", "form.expression_invalid"),
            ("fields[7].totals[0]", "form.total_column_invalid"),
            ("fields[7].columns[1].type", "form.column_type_invalid"),
            ("fields[7].columns[1].columns", "form.line_items_without_columns"),
            ("fields[8].expression", "form.expression_unknown_field"),
            ("fields[9].options", "form.property_not_applicable"),
            ("fields[9].default", "form.default_invalid"),
        ],
    )
    def test_issue_is_reported_at_its_path(self, issues, path, code):
        assert (path, code) in codes(issues)

    def test_issues_name_the_field(self, issues):
        by_path = {i.path: i for i in issues}
        assert by_path["fields[5].expression"].params == {"field": "ratio", "name": "nope"}
        assert by_path["fields[8].expression"].params["name"] == "current.weight"
        assert by_path["fields[1].key"].params["first"] == 0

    def test_check_definition_raises_with_every_issue(self, issues):
        with pytest.raises(FormDefinitionError) as exc:
            check_definition(load("bad"))
        assert len(exc.value.issues) == len(issues) >= 12


class TestKeys:
    @pytest.mark.parametrize("key", ["a", "order_no", "x1", "a" * 63])
    def test_good_keys(self, key):
        defn = parse_definition({"key": "f", "fields": [{"key": key, "type": "text", "label": {"en": "L"}}]})
        assert validate_definition(defn) == []

    @pytest.mark.parametrize("key", ["", "1a", "Order", "order-no", "订单", "a b", "_a", "a" * 64])
    def test_bad_keys(self, key):
        defn = parse_definition({"key": "f", "fields": [{"key": key, "type": "text", "label": {"en": "L"}}]})
        assert codes(validate_definition(defn)) == {("fields[0].key", "form.key_invalid")}

    def test_column_keys_are_unique_per_table_only(self):
        defn = parse_definition({"key": "f", "fields": [
            {"key": "qty", "type": "number", "label": {"en": "Q"}},
            {"key": "items", "type": "line_items", "label": {"en": "I"}, "columns": [
                {"key": "qty", "type": "number", "label": {"en": "Q"}},
                {"key": "qty", "type": "text", "label": {"en": "Q2"}}]}]})
        assert codes(validate_definition(defn)) == {("fields[1].columns[1].key", "form.key_duplicate")}


class TestCycles:
    def test_each_field_of_a_cycle_is_named(self):
        issues = [i for i in validate_definition(load("cycle")) if i.code == "form.formula_cycle"]
        assert {i.params["field"] for i in issues} == {"a", "b", "c", "d"}
        cycle = next(i for i in issues if i.params["field"] == "a").params["fields"]
        assert set(cycle.split(" → ")) == {"a", "b", "c"}

    def test_self_reference_in_visible_if_is_a_cycle(self):
        issues = validate_definition(load("cycle"))
        assert ("fields[3]", "form.formula_cycle") in codes(issues)

    def test_acyclic_fields_are_not_reported(self):
        issues = validate_definition(load("cycle"))
        assert not any(i.params.get("field") in ("ok", "x") for i in issues)

    def test_required_if_on_itself_is_not_a_cycle(self):
        defn = parse_definition({"key": "f", "fields": [
            {"key": "n", "type": "number", "label": {"en": "N"}, "required_if": {">": [{"var": "n"}, 1]}}]})
        assert validate_definition(defn) == []

    def test_cycle_among_line_item_columns(self):
        defn = parse_definition({"key": "f", "fields": [{"key": "items", "type": "line_items", "label": {"en": "I"},
            "columns": [
                {"key": "a", "type": "computed", "label": {"en": "A"}, "expression": {"var": "b"}},
                {"key": "b", "type": "computed", "label": {"en": "B"}, "expression": {"var": "a"}}]}]})
        assert {i.params["field"] for i in validate_definition(defn) if i.code == "form.formula_cycle"} == {"a", "b"}

    def test_cycle_message_names_the_fields(self):
        issue = next(i for i in validate_definition(load("cycle")) if i.params.get("field") == "d")
        assert render(issue.code, issue.params, "en") == "Formulas depend on each other in a circle: d → d."
        assert render(issue.code, issue.params, "zh-CN") == "公式之间存在循环依赖：d → d。"


def _form(*fields):
    return {"key": "f", "fields": list(fields)}


class TestExpressions:
    @pytest.mark.parametrize(
        ("expression", "code"),
        [
            ({"sum": [1]}, "form.expression_unknown_operator"),
            ({"+": [1], "-": [2]}, "form.expression_invalid"),
            ({"var": {"cat": ["q", "ty"]}}, "form.expression_dynamic_var"),
            ({"/": [1]}, "form.expression_arity"),
            ({"var": "missing_field"}, "form.expression_unknown_field"),
            ({"map": [{"var": "items"}, {"var": "colour"}]}, "form.expression_unknown_field"),
            ({"reduce": [{"var": "items"}, {"+": [{"var": "acc"}, 1]}, 0]}, "form.expression_unknown_field"),
            ({"var": "title"}, "form.expression_unknown_field"),  # a section holds no value
            ({"<": [{"var": "due"}, 5]}, "form.expression_type_mismatch"),  # a date is not a number
        ],
    )
    def test_bad_expression(self, expression, code):
        raw = _form(
            {"key": "title", "type": "section", "label": {"en": "T"}},
            {"key": "due", "type": "date", "label": {"en": "Due"}},
            {"key": "items", "type": "line_items", "label": {"en": "I"},
             "columns": [{"key": "qty", "type": "number", "label": {"en": "Q"}}]},
            {"key": "c", "type": "computed", "label": {"en": "C"}, "expression": expression},
        )
        assert code in {i.code for i in validate_definition(raw)}

    @pytest.mark.parametrize(
        "expression",
        [
            {"reduce": [{"filter": [{"var": "items"}, {">": [{"var": "qty"}, 1]}]},
                        {"+": [{"var": "accumulator"}, {"var": "current.qty"}]}, 0]},
            {"all": [{"var": "items"}, {">": [{"var": "qty"}, 0]}]},
            {"if": [{"missing": ["qty_total"]}, 0, {"var": "qty_total"}]},
            {"var": ["items.0.qty", 0]},
            {"map": [{"merge": [[1, 2]]}, {"var": "anything_goes_in_an_unknown_row"}]},
            {">": [{"var": "due"}, "2026-12-01"]},
        ],
    )
    def test_good_expression(self, expression):
        raw = _form(
            {"key": "qty_total", "type": "number", "label": {"en": "Q"}},
            {"key": "due", "type": "date", "label": {"en": "Due"}},
            {"key": "items", "type": "line_items", "label": {"en": "I"},
             "columns": [{"key": "qty", "type": "number", "label": {"en": "Q"}}]},
            {"key": "c", "type": "computed", "label": {"en": "C"}, "expression": expression},
        )
        assert validate_definition(raw) == []

    def test_computed_without_expression(self):
        raw = _form({"key": "c", "type": "computed", "label": {"en": "C"}})
        assert codes(validate_definition(raw)) == {("fields[0].expression", "form.expression_missing")}


class TestProperties:
    @pytest.mark.parametrize(
        ("field", "path", "code"),
        [
            ({"type": "text", "options": [{"value": "a"}]}, "fields[0].options", "form.property_not_applicable"),
            ({"type": "number", "min": 5, "max": 1}, "fields[0].max", "form.range_invalid"),
            ({"type": "text", "pattern": "(unclosed"}, "fields[0].pattern", "form.pattern_invalid"),
            ({"type": "money", "currency": "rmb"}, "fields[0].currency", "form.currency_invalid"),
            ({"type": "number", "decimals": 9}, "fields[0].decimals", "form.decimals_invalid"),
            ({"type": "multi_select", "min": 1.5, "options": [{"value": "a"}]}, "fields[0].min",
             "form.count_invalid"),
            ({"type": "date", "min_date": "2026-13-01"}, "fields[0].min_date", "form.date_invalid"),
            ({"type": "single_select", "options": [{"value": "a"}, {"value": "a"}]}, "fields[0].options[1].value",
             "form.option_duplicate"),
            ({"type": "single_select", "options": [{"value": "a", "color": "chartreuse"}]},
             "fields[0].options[0].color", "form.color_invalid"),
            ({"type": "single_select", "options": [{"value": "a"}], "default": "b"}, "fields[0].default",
             "form.default_invalid"),
            ({"type": "phone", "unique": True, "label": {"en": "P", "fr": "T"}}, "fields[0].label.fr",
             "form.locale_unknown"),
            ({"type": "checkbox", "unique": True}, "fields[0].unique", "form.property_not_applicable"),
            ({"type": "section", "required": True}, "fields[0].required", "form.property_not_applicable"),
            ({"type": "text", "label": {}}, "fields[0].label", "form.label_missing"),
            ({"type": "description", "label": {}}, "fields[0].content", "form.content_missing"),
            ({"type": "computed", "expression": 1, "result_type": "colour"}, "fields[0].result_type",
             "form.result_type_invalid"),
        ],
    )
    def test_property_issue(self, field, path, code):
        raw = _form({"key": "k", "label": {"en": "L"}, **field})
        assert (path, code) in codes(validate_definition(raw))

    def test_unknown_property_is_a_shape_issue(self):
        issues = validate_definition(_form({"key": "k", "type": "text", "label": {"en": "L"}, "colour": "red"}))
        assert codes(issues) == {("fields[0].colour", "form.property_unknown")}

    def test_unknown_type_is_a_shape_issue(self):
        issues = validate_definition(_form({"key": "k", "type": "slider", "label": {"en": "L"}}))
        assert codes(issues) == {("fields[0].type", "form.property_invalid")}

    def test_width_must_be_one_to_three(self):
        issues = validate_definition(_form({"key": "k", "type": "text", "label": {"en": "L"}, "width": 4}))
        assert codes(issues) == {("fields[0].width", "form.property_invalid")}

    def test_form_without_data_fields(self):
        issues = validate_definition(_form({"key": "k", "type": "section", "label": {"en": "L"}}))
        assert codes(issues) == {("fields", "form.no_fields")}


class TestLimits:
    def test_too_many_fields_is_one_clear_issue(self):
        raw = _form(*({"key": f"f{i}", "type": "text", "label": {"en": "L"}} for i in range(MAX_FIELDS + 1)))
        issues = validate_definition(raw)
        assert [(i.code, i.params) for i in issues] == [
            ("form.too_many_fields", {"count": MAX_FIELDS + 1, "max": MAX_FIELDS})]

    def test_max_fields_is_allowed(self):
        raw = _form(*({"key": f"f{i}", "type": "text", "label": {"en": "L"}} for i in range(MAX_FIELDS)))
        assert validate_definition(raw) == []

    def test_columns_count_toward_the_field_limit(self):
        columns = [{"key": f"c{i}", "type": "text", "label": {"en": "L"}} for i in range(MAX_COLUMNS)]
        raw = _form(*({"key": f"t{i}", "type": "line_items", "label": {"en": "L"}, "columns": columns}
                      for i in range(MAX_FIELDS // MAX_COLUMNS + 1)))
        assert [i.code for i in validate_definition(raw)] == ["form.too_many_fields"]

    def test_too_many_columns(self):
        columns = [{"key": f"c{i}", "type": "text", "label": {"en": "L"}} for i in range(MAX_COLUMNS + 1)]
        raw = _form({"key": "t", "type": "line_items", "label": {"en": "L"}, "columns": columns})
        assert codes(validate_definition(raw)) == {("fields[0].columns", "form.too_many_columns")}

    def test_too_many_options(self):
        options = [{"value": f"o{i}"} for i in range(MAX_OPTIONS + 1)]
        raw = _form({"key": "s", "type": "single_select", "label": {"en": "L"}, "options": options})
        assert codes(validate_definition(raw)) == {("fields[0].options", "form.too_many_options")}

    def test_oversized_json_is_refused_before_parsing(self):
        raw = _form({"key": "k", "type": "long_text", "label": {"en": "L"}, "help": {"en": "x" * MAX_DEFINITION_BYTES}})
        assert [i.code for i in validate_definition(raw)] == ["form.too_large"]

    def test_deeply_nested_expression(self):
        expr: object = 1
        for _ in range(40):
            expr = {"+": [expr, 1]}
        raw = _form({"key": "c", "type": "computed", "label": {"en": "C"}, "expression": expr})
        assert "form.expression_too_deep" in {i.code for i in validate_definition(raw)}

    def test_huge_expression(self):
        raw = _form({"key": "c", "type": "computed", "label": {"en": "C"}, "expression": {"+": list(range(600))}})
        assert "form.expression_too_large" in {i.code for i in validate_definition(raw)}


class TestSchemaVersions:
    def test_v1_upgrades_to_current(self):
        defn = parse_definition(load_raw("legacy_v1"))
        assert defn.schema_version == SCHEMA_VERSION == 2
        assert defn.title == {"zh-CN": "旧表单", "en": "旧表单"}
        kind = defn.field("kind")
        assert kind.type == FieldType.SINGLE_SELECT
        assert [(o.value, o.label["zh-CN"]) for o in kind.options] == [("a", "a"), ("b", "乙")]
        assert defn.field("rows").columns[0].label == {"zh-CN": "数量", "en": "数量"}
        assert validate_definition(defn) == []

    def test_upgrade_does_not_mutate_its_input(self):
        raw = load_raw("legacy_v1")
        before = copy.deepcopy(raw)
        parse_definition(raw)
        assert raw == before

    @pytest.mark.parametrize("version", [0, 3, "2"])
    def test_unknown_schema_version(self, version):
        with pytest.raises(FormDefinitionError) as exc:
            parse_definition({**load_raw("conditional"), "schema_version": version})
        assert exc.value.issues[0].code == "form.schema_version_unknown"

    def test_not_json(self):
        assert [i.code for i in validate_definition("{not json")] == ["form.json_invalid"]
