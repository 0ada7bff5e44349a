"""validate_data / compute / visibility / requiredness over order data."""

from datetime import timedelta, timezone

import pytest
from formkit import load

from engine.forms import (
    compute,
    initial_data,
    parse_definition,
    requiredness,
    split_archived,
    validate_data,
    visibility,
)

CST = timezone(timedelta(hours=8))
FILE = {"id": "f1", "name": "contract.pdf", "size": 800, "content_type": "application/pdf"}
PNG = {"id": "p1", "name": "shot.png", "size": 10, "content_type": "image/png"}

# (field, submitted value, stored value) — every field type, canonical shapes
GOOD = [
    ("subject", "  Spring batch ", "Spring batch"),
    ("po_number", "PO-1234", "PO-1234"),
    ("notes", "line 1\nline 2", "line 1\nline 2"),
    ("weight", "12.5", 12.5),
    ("weight", 7, 7),
    ("deposit", "1,000.50", 1000.5),
    ("discount", 12.5, 12.5),
    ("planned_delivery", "2026-12-01", "2026-12-01"),
    ("signed_at", "2026-11-26T10:30:00+08:00", "2026-11-26T02:30:00Z"),
    ("signed_at", "2026-11-26T02:30:00Z", "2026-11-26T02:30:00Z"),
    ("channel", "store", "store"),
    ("tags", ["vip", "urgent", "vip"], ["urgent", "vip"]),
    ("tags", "export", ["export"]),
    ("agreed", True, True),
    ("agreed", "on", True),
    ("agreed", "false", False),
    ("sales_rep", 7, 7),
    ("dept", "3", 3),
    ("buyer", 12, 12),
    ("phone", "+86 138-0013-8000", "+86 138-0013-8000"),
    ("phone", "(021) 5555 1234", "(021) 5555 1234"),
    ("email", "li.lei@example.com.cn", "li.lei@example.com.cn"),
    ("contract", [FILE], [FILE]),
    ("contract", {**FILE, "content_type": ""}, [{**FILE, "content_type": "application/octet-stream"}]),
    ("photo", [PNG], [PNG]),
]

# (field, submitted value, error code, params beyond "field")
BAD = [
    ("subject", "x", "form.text_too_short", {"min": 2, "length": 1}),
    ("subject", "x" * 21, "form.text_too_long", {"max": 20, "length": 21}),
    ("subject", 42, "form.text_invalid", {}),
    ("po_number", "PO-12345", "form.pattern_mismatch", {"pattern": "PO-[0-9]{4}"}),
    ("notes", "n" * 51, "form.text_too_long", {"max": 50, "length": 51}),
    ("weight", "heavy", "form.number_invalid", {}),
    ("weight", True, "form.number_invalid", {}),
    ("weight", "nan", "form.number_invalid", {}),
    ("weight", 1.25, "form.too_many_decimals", {"decimals": 1}),
    ("weight", -1, "form.number_too_small", {"min": 0}),
    ("weight", 1000.1, "form.number_too_large", {"max": 1000}),
    ("deposit", 10.005, "form.too_many_decimals", {"decimals": 2}),
    ("discount", 101, "form.number_too_large", {"max": 100}),
    ("planned_delivery", "2026-02-30", "form.date_invalid", {}),
    ("planned_delivery", "26/11/2026", "form.date_invalid", {}),
    ("planned_delivery", "2025-12-31", "form.date_too_early", {"min": "2026-01-01"}),
    ("planned_delivery", "2028-01-01", "form.date_too_late", {"max": "2027-12-31"}),
    ("signed_at", "2026-11-26T10:30:00", "form.datetime_timezone_missing", {}),
    ("signed_at", "yesterday", "form.datetime_invalid", {}),
    ("channel", "phone", "form.option_unknown", {"value": "phone"}),
    ("tags", ["vip", "gold"], "form.option_unknown", {"value": "gold"}),
    ("tags", ["vip", "urgent", "export"], "form.too_many_choices", {"max": 2}),
    ("tags", [1], "form.choices_invalid", {}),
    ("agreed", "maybe", "form.checkbox_invalid", {}),
    ("sales_rep", 0, "form.reference_invalid", {"value": "0"}),
    ("buyer", "acme", "form.reference_invalid", {"value": "acme"}),
    ("dept", 1.5, "form.reference_invalid", {"value": "1.5"}),
    ("phone", "12", "form.phone_invalid", {}),
    ("phone", "call me", "form.phone_invalid", {}),
    ("email", "li.lei@", "form.email_invalid", {}),
    ("email", "li lei@example.com", "form.email_invalid", {}),
    ("contract", [FILE, FILE, FILE], "form.too_many_files", {"max": 2}),
    ("contract", "contract.pdf", "form.file_invalid", {}),
    ("photo", [FILE], "form.image_type_invalid", {"name": "contract.pdf"}),
]


class TestFieldTypes:
    @pytest.mark.parametrize(("key", "value", "stored"), GOOD, ids=[f"{k}={v!r}" for k, v, _ in GOOD])
    def test_good_value_is_stored_canonically(self, every_type, key, value, stored):
        result = validate_data(every_type, {key: value})
        assert result.ok, result.errors
        assert result.data[key] == stored

    @pytest.mark.parametrize(("key", "value", "code", "params"), BAD, ids=[f"{k}={v!r}"[:60] for k, v, *_ in BAD])
    def test_bad_value_is_an_error_at_the_field(self, every_type, key, value, code, params):
        result = validate_data(every_type, {key: value})
        errors = [e for e in result.errors if e.path.split("[")[0] == key]
        assert [(e.code, e.params) for e in errors] == [(code, {"field": key, **params})]
        assert key not in result.data

    def test_file_too_large_points_at_the_file(self, every_type):
        result = validate_data(every_type, {"contract": [FILE, {**FILE, "id": "f2", "size": 1001}]})
        assert [(e.path, e.code) for e in result.errors] == [("contract[1]", "form.file_too_large")]

    def test_naive_datetime_takes_the_users_zone(self, every_type):
        result = validate_data(every_type, {"signed_at": "2026-11-26T10:30"}, default_tz=CST)
        assert result.data["signed_at"] == "2026-11-26T02:30:00Z"

    def test_empty_values_are_left_out(self, every_type):
        result = validate_data(every_type, {"subject": "  ", "weight": "", "tags": [], "contract": []})
        assert result.ok
        assert not {"subject", "weight", "tags", "contract"} & set(result.data)

    def test_unchecked_checkbox_is_false(self, every_type):
        assert validate_data(every_type, {}).data["agreed"] is False

    def test_every_error_is_reported_at_once(self, every_type):
        data = {k: v for k, v, *_ in BAD if k not in ("tags",)}  # one bad value per field
        data["items"] = [{"qty": 0}]
        result = validate_data(every_type, data, locale="en")
        paths = {e.path.split("[")[0] for e in result.errors}
        assert paths == {k for k, *_ in BAD if k != "tags"} | {"items"}

    def test_unknown_keys_are_refused(self, every_type):
        result = validate_data(every_type, {"colour": "red", "intro": "x"})
        assert [(e.path, e.code) for e in result.errors] == [
            ("colour", "form.unknown_field"), ("intro", "form.unknown_field")]

    def test_data_must_be_an_object(self, every_type):
        assert [e.code for e in validate_data(every_type, ["x"]).errors] == ["form.data_invalid"]

    def test_references_are_checked_by_the_callers_lookup(self, every_type):
        seen = {}

        def exists(kind, ids):
            seen[kind] = ids
            return {7} if kind == "user" else set()

        result = validate_data(every_type, {"sales_rep": 7, "buyer": 99}, exists=exists)
        assert seen == {"user": {7}, "customer": {99}}
        assert [(e.path, e.code, e.params["id"]) for e in result.errors] == [("buyer", "form.reference_not_found", 99)]
        assert result.data["sales_rep"] == 7 and "buyer" not in result.data


class TestLineItemsAndFormulas:
    ROWS = [
        {"product": "Bolt", "qty": "3", "price": "19.99"},
        {"product": "Nut", "qty": 10, "price": 0.1},
    ]

    def test_row_amount_total_and_net(self, every_type):
        result = validate_data(every_type, {"items": self.ROWS, "discount": 10})
        assert result.ok, result.errors
        assert [r["amount"] for r in result.data["items"]] == [59.97, 1]
        assert result.data["total"] == 60.97
        assert result.data["net"] == 54.87  # 60.97 * 0.9 = 54.873
        assert result.totals == {"items": {"qty": 13, "amount": 60.97}}

    def test_client_values_for_computed_fields_are_ignored(self, every_type):
        rows = [{**self.ROWS[0], "amount": 1_000_000}]
        result = validate_data(every_type, {"items": rows, "total": 1, "net": 2})
        assert result.data["items"][0]["amount"] == 59.97
        assert result.data["total"] == result.data["net"] == 59.97

    def test_errors_point_at_row_and_column(self, every_type):
        rows = [self.ROWS[0], {"qty": 0, "price": "x"}, {"product": "P", "qty": 1.5, "colour": "red"}]
        result = validate_data(every_type, {"items": rows}, locale="en")
        assert [(e.path, e.code) for e in result.errors] == [
            ("items[1].product", "form.required"),
            ("items[1].qty", "form.number_too_small"),
            ("items[1].price", "form.number_invalid"),
            ("items[2].colour", "form.unknown_field"),
            ("items[2].qty", "form.too_many_decimals"),
        ]

    def test_total_counts_only_valid_cells(self, every_type):
        result = validate_data(every_type, {"items": [self.ROWS[0], {"product": "P", "qty": "x", "price": 5}]})
        assert result.data["total"] == 59.97
        # JavaScript semantics, as in rules: an empty quantity counts as 0
        assert result.data["items"][1] == {"product": "P", "price": 5, "amount": 0}

    def test_too_many_rows(self, every_type):
        result = validate_data(every_type, {"items": [self.ROWS[0]] * 4})
        assert [(e.path, e.code, e.params["max"]) for e in result.errors] == [("items", "form.too_many_rows", 3)]

    def test_rows_posted_as_an_indexed_object(self, every_type):
        result = validate_data(every_type, {"items": {"1": self.ROWS[1], "0": self.ROWS[0]}})
        assert [r["product"] for r in result.data["items"]] == ["Bolt", "Nut"]

    def test_no_rows_means_no_total(self, every_type):
        result = validate_data(every_type, {})
        assert result.data["total"] == 0 and result.data["net"] == 0

    def test_compute_recomputes_in_dependency_order(self, every_type):
        # net depends on total which depends on items: wrong stored values are all replaced
        data = {"items": [{"product": "A", "qty": 2, "price": 5, "amount": 99}], "total": 1, "net": 1, "discount": 50}
        out = compute(every_type, data)
        assert (out["items"][0]["amount"], out["total"], out["net"]) == (10, 10, 5)
        assert data["total"] == 1  # input left untouched

    def test_division_by_zero_gives_no_value(self):
        defn = parse_definition({"key": "f", "fields": [
            {"key": "a", "type": "number", "label": {"en": "A"}},
            {"key": "b", "type": "number", "label": {"en": "B"}},
            {"key": "ratio", "type": "computed", "label": {"en": "R"}, "decimals": 3,
             "expression": {"/": [{"var": "a"}, {"var": "b"}]}}]})
        assert validate_data(defn, {"a": 1, "b": 3}).data["ratio"] == 0.333
        result = validate_data(defn, {"a": 1, "b": 0})
        assert result.ok and "ratio" not in result.data

    @pytest.mark.parametrize(
        ("result_type", "expression", "expected"),
        [
            ("text", {"cat": ["PO-", {"var": "n"}]}, "PO-7"),
            ("date", {"if": [{">": [{"var": "n"}, 5]}, "2026-12-01", "2026-12-31"]}, "2026-12-01"),
            ("checkbox", {">": [{"var": "n"}, 5]}, True),
            ("percent", {"/": [{"var": "n"}, 3]}, 2.3333333333),
            ("money", {"/": [{"var": "n"}, 3]}, 2.33),
        ],
    )
    def test_result_types(self, result_type, expression, expected):
        defn = parse_definition({"key": "f", "fields": [
            {"key": "n", "type": "number", "label": {"en": "N"}},
            {"key": "c", "type": "computed", "label": {"en": "C"}, "result_type": result_type,
             "expression": expression}]})
        assert validate_data(defn, {"n": 7}).data["c"] == expected


class TestVisibilityAndRequired:
    def test_hidden_field_is_not_required_and_its_value_is_dropped(self, conditional):
        result = validate_data(conditional, {"needs_shipping": False, "address": "Road 1"})
        assert result.ok
        assert result.visible["address"] is False and result.required["address"] is False
        assert "address" not in result.data

    def test_shown_field_is_required(self, conditional):
        result = validate_data(conditional, {"needs_shipping": True}, locale="en")
        assert [(e.path, e.code, e.message) for e in result.errors] == [
            ("address", "form.required", "This field is required.")]

    def test_visibility_cascades_through_hidden_fields(self, conditional):
        data = {"needs_shipping": False, "address": "Road 1", "express": True}
        vis = visibility(conditional, data)
        assert (vis["address"], vis["express"], vis["express_fee"]) == (False, False, False)
        assert "express" not in validate_data(conditional, data).data

    def test_computed_field_visible_when_its_condition_holds(self, conditional):
        result = validate_data(conditional, {"needs_shipping": True, "address": "Road 1", "express": "on"})
        assert result.visible["express_fee"] is True
        assert result.data["express_fee"] == 50

    @pytest.mark.parametrize(("amount", "required"), [(None, False), (10000, False), ("10000.01", True)])
    def test_required_if(self, conditional, amount, required):
        data = {} if amount is None else {"amount": amount}
        assert requiredness(conditional, data)["approval_note"] is required
        codes = [e.code for e in validate_data(conditional, data).errors]
        assert codes == (["form.required"] if required else [])

    def test_read_only_field_keeps_default_on_create_and_previous_on_update(self, conditional):
        assert validate_data(conditional, {"status": "done"}).data["status"] == "new"
        updated = validate_data(conditional, {"status": "new"}, previous={"status": "done"})
        assert updated.data["status"] == "done"

    def test_update_keeps_previous_values_of_absent_keys(self, conditional):
        result = validate_data(conditional, {"amount": 5}, previous={"amount": 1, "needs_shipping": True,
                                                                     "address": "Road 9"})
        assert (result.data["amount"], result.data["address"]) == (5, "Road 9")

    def test_required_checkbox_must_be_checked(self):
        defn = parse_definition({"key": "f", "fields": [
            {"key": "agree", "type": "checkbox", "label": {"en": "Agree"}, "required": True}]})
        assert [e.code for e in validate_data(defn, {"agree": False}).errors] == ["form.must_be_checked"]
        assert validate_data(defn, {"agree": True}).ok

    def test_required_if_on_a_line_item_column(self):
        defn = parse_definition({"key": "f", "fields": [{"key": "items", "type": "line_items", "label": {"en": "I"},
            "columns": [{"key": "kind", "type": "text", "label": {"en": "K"}},
                        {"key": "size", "type": "text", "label": {"en": "S"},
                         "required_if": {"==": [{"var": "kind"}, "shirt"]}}]}]})
        result = validate_data(defn, {"items": [{"kind": "cup"}, {"kind": "shirt"}]})
        assert [e.path for e in result.errors] == ["items[1].size"]


class TestHelpers:
    def test_initial_data_has_defaults_and_computed_values(self, conditional, every_type):
        # express_fee is computed but hidden (express is hidden while there is no address)
        assert initial_data(conditional) == {"needs_shipping": False, "status": "new"}
        assert initial_data(every_type)["total"] == 0

    def test_split_archived(self, conditional):
        current, archived = split_archived(conditional, {"amount": 3, "old_field": "kept"})
        assert current == {"amount": 3} and archived == {"old_field": "kept"}

    def test_same_input_same_result(self, every_type):
        data = {"items": TestLineItemsAndFormulas.ROWS, "discount": 5, "tags": ["vip"]}
        assert validate_data(every_type, data) == validate_data(every_type, data)


class TestEvaluationPlan:
    def test_plan_is_cached_per_definition_and_freed_with_it(self):
        import gc

        from engine.forms.graph import _plans, plan

        defn = load("every_type")
        first = plan(defn)
        assert plan(defn) is first and id(defn) in _plans
        assert defn == load("every_type")  # the cache does not change equality
        key = id(defn)
        del defn, first
        gc.collect()
        assert key not in _plans
