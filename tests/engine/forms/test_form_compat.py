"""compatibility(old, new): what a new version does to orders made with the old one."""

import pytest
from formkit import load_raw

from engine.forms import compatibility, is_affected, parse_definition


def version(raw, **field_changes):
    """A copy of `raw` with fields replaced (dict), removed (None) or added (new key)."""
    fields = []
    for f in raw["fields"]:
        change = field_changes.get(f["key"], f)
        if change is not None:
            fields.append({**f, **change} if change is not f else f)
    fields += [{"key": k, **v} for k, v in field_changes.items() if v and k not in {f["key"] for f in raw["fields"]}]
    return parse_definition({**raw, "version": raw.get("version", 1) + 1, "fields": fields})


@pytest.fixture
def raw():
    return load_raw("every_type")


class TestTypeChanges:
    @pytest.mark.parametrize(
        ("key", "new_type", "compatible"),
        [
            ("weight", "money", True),
            ("discount", "number", True),
            ("subject", "long_text", True),
            ("phone", "text", True),
            ("photo", "attachment", True),
            ("weight", "computed", True),
            ("notes", "text", False),
            ("subject", "number", False),
            ("planned_delivery", "datetime", False),
            ("channel", "multi_select", False),
            ("weight", "text", False),
        ],
    )
    def test_type_change(self, raw, key, new_type, compatible):
        extra = {"expression": 1} if new_type == "computed" else {}
        new = version(raw, **{key: {"type": new_type, **extra}})
        compat = compatibility(parse_definition(raw), new)
        assert compat.is_compatible is compatible
        if not compatible:
            assert [(c.path, c.new_type) for c in compat.incompatible] == [(key, new_type)]

    def test_column_type_change_is_named_by_table_and_column(self, raw):
        new_raw = {**raw, "fields": [
            {**f, "columns": [{**c, "type": "date"} if c["key"] == "qty" else c for c in f["columns"]]}
            if f["key"] == "items" else f for f in raw["fields"]]}
        compat = compatibility(parse_definition(raw), parse_definition(new_raw))
        assert [(c.path, c.old_type, c.new_type) for c in compat.incompatible] == [("items.qty", "number", "date")]
        assert is_affected(compat, {"items": [{"product": "a"}, {"qty": 2}]})
        assert not is_affected(compat, {"items": [{"product": "a"}]})


class TestArchivedAndAdded:
    def test_removed_fields_and_columns_are_archived(self, raw):
        new_raw = {**raw, "fields": [
            {**f, "columns": [c for c in f["columns"] if c["key"] != "price"]} if f["key"] == "items" else f
            for f in raw["fields"] if f["key"] not in ("notes", "basics")]}
        new_raw["fields"].append({"key": "incoterm", "type": "text", "label": {"en": "Incoterm"}})
        compat = compatibility(parse_definition(raw), parse_definition(new_raw))
        assert compat.is_compatible
        assert compat.archived == ("notes", "items.price")  # a section holds no data: not archived
        assert compat.added == ("incoterm",)
        assert "items" in compat.changed

    def test_removed_options_are_listed(self, raw):
        new = version(raw, tags={"options": [{"value": "vip", "label": {"en": "VIP"}}]})
        compat = compatibility(parse_definition(raw), new)
        assert compat.is_compatible
        assert compat.removed_options == {"tags": ("urgent", "export")}
        assert compat.changed == ("tags",)

    def test_identical_versions_change_nothing(self, raw):
        compat = compatibility(parse_definition(raw), parse_definition(raw))
        assert compat.to_json() == {"incompatible": [], "archived": [], "added": [], "changed": [],
                                    "removed_options": {}}


class TestAffectedOrders:
    @pytest.mark.parametrize(
        ("data", "affected"),
        [({}, False), ({"planned_delivery": "2026-12-01"}, True), ({"planned_delivery": ""}, False),
         ({"subject": "x"}, False)],
    )
    def test_only_orders_holding_a_value_are_affected(self, raw, data, affected):
        compat = compatibility(parse_definition(raw), version(raw, planned_delivery={"type": "number"}))
        assert is_affected(compat, data) is affected

    def test_count_over_many_orders(self, raw):
        compat = compatibility(parse_definition(raw), version(raw, channel={"type": "multi_select"}))
        orders = [{"channel": "store"}, {}, {"channel": "online"}, {"subject": "s"}]
        assert sum(is_affected(compat, d) for d in orders) == 2
