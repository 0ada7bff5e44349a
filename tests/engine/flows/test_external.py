"""A step given to an external party (`external` on people nodes): stored as data, loaded by older
definitions' rules (absent = nobody outside), and checked on publish."""

from __future__ import annotations

from flowkit import load

from engine.flows import load_definition, validate
from tests.engine.flows.test_validate import codes, mutate


def _give(external, permissions=None):
    def fn(d):
        node = next(n for n in d["nodes"] if n["key"] == "production_progress")
        node["external"] = external
        if permissions is not None:
            node["field_permissions"] = permissions
    return fn


def test_absent_means_nobody_outside_and_the_setting_round_trips():
    defn = load("b2b_fulfilment")
    assert defn.nodes_by_key["production_progress"].external is None
    given = mutate("b2b_fulfilment", _give({"kind": "supplier", "party_id": 3, "done_field": "data.progress"},
                                           {"data.progress": "editable"}))
    node = load_definition(given.model_dump(mode="json")).nodes_by_key["production_progress"]
    assert (node.external.kind, node.external.party_id, node.external.done_at) == ("supplier", 3, 100)


def test_a_supplier_step_names_its_company_and_can_edit_its_done_field():
    issues = codes(validate(mutate("b2b_fulfilment", _give({"kind": "carrier", "done_field": "data.progress"},
                                                           {"data.progress": "read_only"}))))
    assert ("flow.external_party_missing", ("production_progress",)) in issues
    assert ("flow.external_done_field_not_editable", ("production_progress",)) in issues


def test_a_customer_step_needs_no_company():
    issues = codes(validate(mutate("b2b_fulfilment", _give({"kind": "customer"}))))
    assert not [i for i in issues if i[0].startswith("flow.external")]


class TestTheOrdersOwnCompany:
    """`party_field`: the step goes to the company the order's field names (data.supplier)."""

    def test_a_field_instead_of_a_fixed_company_round_trips_and_passes(self):
        given = mutate("b2b_fulfilment", _give({"kind": "supplier", "party_field": "data.supplier",
                                                "done_field": "data.progress"}, {"data.progress": "editable"}))
        node = load_definition(given.model_dump(mode="json")).nodes_by_key["production_progress"]
        assert (node.external.party_field, node.external.party_id) == ("data.supplier", None)
        assert not [i for i in codes(validate(given)) if i[0].startswith("flow.external")]

    def test_both_a_company_and_a_field_is_refused(self):
        issues = codes(validate(mutate("b2b_fulfilment", _give({"kind": "carrier", "party_id": 2,
                                                                "party_field": "data.carrier"}))))
        assert ("flow.external_party_both", ("production_progress",)) in issues
        assert ("flow.external_party_missing", ("production_progress",)) not in issues

    def test_only_a_designed_field_on_a_supplier_or_carrier_step_names_the_company(self):
        for external in ({"kind": "supplier", "party_field": "amount"},
                         {"kind": "supplier", "party_field": "data."},
                         {"kind": "customer", "party_field": "data.supplier"}):
            issues = codes(validate(mutate("b2b_fulfilment", _give(external))))
            assert ("flow.external_party_field_invalid", ("production_progress",)) in issues, external

    def test_a_field_the_order_form_does_not_have_is_refused(self):
        defn = mutate("b2b_fulfilment", _give({"kind": "supplier", "party_field": "data.vendor"}))
        issues = codes(validate(defn, form_fields=["supplier", "progress"]))
        assert ("flow.external_party_field_invalid", ("production_progress",)) in issues
        ok = mutate("b2b_fulfilment", _give({"kind": "supplier", "party_field": "data.supplier"}))
        assert not [i for i in codes(validate(ok, form_fields=["supplier", "progress"]))
                    if i[0] == "flow.external_party_field_invalid"]
