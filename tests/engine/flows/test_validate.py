"""Publishing checks: every issue names the nodes the designer highlights."""

from __future__ import annotations

import json

import pytest
from flowkit import DATA, load

from engine.flows import FlowDefinitionError, ensure_valid, load_definition, parse_and_validate, validate
from engine.flows.definition import load_template

TEMPLATE_FIELDS = [
    "carrier",
    "tracking_no",
    "signed_on",
    "invoice_no",
    "paid_on",
    "production_done_on",
    "discount",
]


def codes(issues):
    return {(i.code, tuple(sorted(i.nodes))) for i in issues}


def raw(name):
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def mutate(name, fn):
    data = raw(name)
    fn(data)
    return load_definition(data)


class TestValidDefinitions:
    @pytest.mark.parametrize("name", ["b2b_fulfilment", "parallel", "automatic", "rework_loop"])
    def test_shipped_and_test_flows_are_valid(self, name):
        assert validate(load(name)) == []

    def test_template_validates_against_its_form_fields(self):
        assert validate(load_template("b2b_fulfilment"), form_fields=TEMPLATE_FIELDS) == []

    def test_test_copy_of_template_matches_shipped_template(self):
        assert load("b2b_fulfilment") == load_template("b2b_fulfilment")

    def test_unknown_template_refused(self):
        with pytest.raises(ValueError, match="flow.template_unknown"):
            load_template("../etc/passwd")


class TestBadGraph:
    def test_every_problem_named(self):
        issues = validate(load("bad_graph"), form_fields=["amount_note"])
        found = codes(issues)
        assert ("flow.no_end", ()) in found
        assert ("flow.unreachable_node", ("orphan",)) in found
        assert ("flow.condition_invalid", ("route",)) in found
        assert ("flow.cycle_without_exit", ("loop_a", "loop_b")) in found
        assert ("flow.approver_field_unknown", ("check",)) in found
        bad_condition = next(i for i in issues if i.code == "flow.condition_invalid")
        assert bad_condition.params == {"edge": "e3", "problems": ["logic.unknown_operator:amount_over"]}
        assert bad_condition.to_json()["nodes"] == ["route"]

    def test_ensure_valid_raises_with_all_issues(self):
        with pytest.raises(FlowDefinitionError) as err:
            ensure_valid(load("bad_graph"), form_fields=[])
        assert err.value.code == "flow.definition_invalid"
        assert len(err.value.issues) >= 5

    def test_node_that_cannot_reach_end(self):
        def fn(d):
            d["nodes"].append({"type": "task", "key": "dead", "assignees": [{"kind": "initiator"}]})
            d["edges"].append(
                {
                    "key": "x",
                    "source": "amount_check",
                    "target": "dead",
                    "condition": {"<": [{"var": "amount"}, 0]},
                }
            )

        found = codes(validate(mutate("b2b_fulfilment", fn)))
        assert ("flow.no_outgoing", ("dead",)) in found
        assert ("flow.end_unreachable", ("dead",)) in found

    def test_two_starts(self):
        def fn(d):
            d["nodes"].append({"type": "start", "key": "start2"})
            d["edges"].append({"key": "x", "source": "start2", "target": "manager_approval"})

        assert ("flow.multiple_starts", ("start", "start2")) in codes(validate(mutate("b2b_fulfilment", fn)))

    def test_no_start(self):
        def fn(d):
            d["nodes"] = [n for n in d["nodes"] if n["key"] != "start"]
            d["edges"] = [e for e in d["edges"] if e["source"] != "start"]

        assert ("flow.no_start", ()) in codes(validate(mutate("b2b_fulfilment", fn)))

    def test_edge_to_unknown_node(self):
        def fn(d):
            d["edges"].append({"key": "x", "source": "shipping", "target": "nowhere"})

        issues = validate(mutate("b2b_fulfilment", fn))
        assert any(i.code == "flow.edge_unknown_node" and i.params["missing"] == ["nowhere"] for i in issues)


class TestBranches:
    def test_branch_without_default(self):
        def fn(d):
            edge = next(e for e in d["edges"] if e["key"] == "e_small")
            edge["is_default"] = False
            edge["condition"] = {"<": [{"var": "amount"}, 100000]}

        assert ("flow.branch_needs_default", ("amount_check",)) in codes(
            validate(mutate("b2b_fulfilment", fn))
        )

    def test_two_defaults(self):
        def fn(d):
            edge = next(e for e in d["edges"] if e["key"] == "e_big")
            edge["is_default"] = True

        assert ("flow.branch_multiple_defaults", ("amount_check",)) in codes(
            validate(mutate("b2b_fulfilment", fn))
        )

    def test_condition_missing(self):
        def fn(d):
            next(e for e in d["edges"] if e["key"] == "e_big")["condition"] = None

        assert ("flow.condition_missing", ("amount_check",)) in codes(validate(mutate("b2b_fulfilment", fn)))

    @pytest.mark.parametrize(
        "condition",
        ["amount > 100", 42, {">=": [{"var": "amount"}, 1], "and": []}, {"eval": ["os.system('x')"]}],
    )
    def test_condition_not_json_logic(self, condition):
        def fn(d):
            next(e for e in d["edges"] if e["key"] == "e_big")["condition"] = condition

        assert ("flow.condition_invalid", ("amount_check",)) in codes(validate(mutate("b2b_fulfilment", fn)))

    def test_condition_on_unknown_designed_field(self):
        def fn(d):
            next(e for e in d["edges"] if e["key"] == "e_big")["condition"] = {
                "==": [{"var": "data.vip"}, True]
            }

        issues = validate(mutate("b2b_fulfilment", fn), form_fields=TEMPLATE_FIELDS)
        assert any(
            i.code == "flow.condition_field_unknown" and i.params["field"] == "data.vip" for i in issues
        )

    def test_condition_outside_branch(self):
        def fn(d):
            next(e for e in d["edges"] if e["key"] == "e_ship")["condition"] = {"==": [1, 1]}

        assert ("flow.condition_outside_branch", ("shipping",)) in codes(
            validate(mutate("b2b_fulfilment", fn))
        )


class TestParallel:
    def test_split_without_join(self):
        def fn(d):
            d["nodes"] = [n for n in d["nodes"] if n["key"] != "join"]
            d["nodes"].append({"type": "task", "key": "merge", "assignees": [{"kind": "initiator"}]})
            for e in d["edges"]:
                e["target"] = "merge" if e["target"] == "join" else e["target"]
                e["source"] = "merge" if e["source"] == "join" else e["source"]

        assert ("flow.split_without_join", ("split",)) in codes(validate(mutate("parallel", fn)))

    def test_join_without_split(self):
        def fn(d):
            d["nodes"] = [n for n in d["nodes"] if n["key"] != "split"]
            d["nodes"].append({"type": "exclusive", "key": "split"})
            for e in d["edges"]:
                if e["key"] == "e2":
                    e["condition"] = {"==": [{"var": "amount"}, 1]}
                if e["key"] == "e3":
                    e["is_default"] = True

        assert ("flow.join_without_split", ("join",)) in codes(validate(mutate("parallel", fn)))

    def test_join_fed_from_outside_its_split(self):
        def fn(d):
            d["nodes"].append({"type": "task", "key": "side", "assignees": [{"kind": "initiator"}]})
            d["nodes"].append({"type": "exclusive", "key": "gate"})
            d["edges"] = [e for e in d["edges"] if e["key"] != "e1"]
            d["edges"] += [
                {"key": "g0", "source": "start", "target": "gate"},
                {"key": "g1", "source": "gate", "target": "split", "is_default": True},
                {
                    "key": "g2",
                    "source": "gate",
                    "target": "side",
                    "condition": {"==": [{"var": "amount"}, 0]},
                },
                {"key": "g3", "source": "side", "target": "join"},
            ]

        issues = validate(mutate("parallel", fn))
        assert any(i.code == "flow.join_mismatch" and "side" in i.nodes for i in issues), issues

    def test_split_with_one_branch(self):
        def fn(d):
            d["edges"] = [e for e in d["edges"] if e["key"] not in ("e3", "e5")]
            d["nodes"] = [n for n in d["nodes"] if n["key"] != "stock_check"]

        found = codes(validate(mutate("parallel", fn)))
        assert ("flow.split_needs_branches", ("split",)) in found
        assert ("flow.join_needs_branches", ("join",)) in found


class TestNodeSettings:
    def test_approval_without_approver(self):
        def fn(d):
            next(n for n in d["nodes"] if n["key"] == "director_approval")["assignees"] = []

        assert ("flow.approver_missing", ("director_approval",)) in codes(
            validate(mutate("b2b_fulfilment", fn))
        )

    def test_required_field_unknown(self):
        issues = validate(load("b2b_fulfilment"), form_fields=["carrier"])
        unknown = {i.params["field"] for i in issues if i.code == "flow.field_unknown"}
        assert {"data.tracking_no", "data.invoice_no", "data.paid_on"} <= unknown

    def test_core_field_name_checked_without_form(self):
        def fn(d):
            node = next(n for n in d["nodes"] if n["key"] == "director_approval")
            node["assignees"] = [{"kind": "field", "field": "ownr_id"}]

        assert ("flow.approver_field_unknown", ("director_approval",)) in codes(
            validate(mutate("b2b_fulfilment", fn))
        )

    def test_wait_without_until_or_duration(self):
        def fn(d):
            node = next(n for n in d["nodes"] if n["key"] == "cool_off")
            del node["hours"]

        assert ("flow.wait_needs_until", ("cool_off",)) in codes(validate(mutate("automatic", fn)))

    def test_reassign_without_target(self):
        def fn(d):
            node = next(n for n in d["nodes"] if n["key"] == "shipping")
            node["time_limit"]["on_timeout"] = "reassign"

        assert ("flow.reassign_target_missing", ("shipping",)) in codes(
            validate(mutate("b2b_fulfilment", fn))
        )


class TestParseAndValidate:
    def test_shape_errors_become_issues_naming_the_node(self):
        data = raw("b2b_fulfilment")
        data["nodes"][1]["mode"] = "most_of"
        defn, issues = parse_and_validate(data)
        assert defn is None
        assert issues and issues[0].code == "flow.schema_invalid"
        assert issues[0].nodes == ("manager_approval",)

    def test_newer_schema_refused(self):
        data = raw("b2b_fulfilment")
        data["schema_version"] = 99
        defn, issues = parse_and_validate(data)
        assert defn is None and issues[0].code == "flow.schema_invalid"

    def test_valid_json_round_trips(self):
        defn, issues = parse_and_validate(raw("parallel"))
        assert issues == []
        assert load_definition(defn.to_json()) == defn


class TestApproverResolvable:
    def flow(self, assignees, on_no_approver="block"):
        from flowkit import one_node_flow

        return one_node_flow({"type": "approval", "assignees": assignees, "on_no_approver": on_no_approver})

    def test_role_with_nobody_active_is_refused_when_there_is_no_fallback(self):
        from flowkit import DIRECTORY

        issues = validate(self.flow([{"kind": "role", "role": "auditor"}, {"kind": "users", "user_ids": [51]}]),
                          directory=DIRECTORY)
        assert codes(issues) == {("flow.approver_unresolvable", ("n",))}

    @pytest.mark.parametrize(
        ("assignees", "fallback"),
        [
            ([{"kind": "role", "role": "finance"}], "block"),  # someone has the role
            ([{"kind": "role", "role": "auditor"}], "skip"),  # skipping is the designer's choice
            ([{"kind": "role", "role": "auditor"}], "admin"),  # an admin takes it
            ([{"kind": "manager_chain", "levels": 1}], "block"),  # known only at run time
        ],
    )
    def test_resolvable_or_with_fallback(self, assignees, fallback):
        from flowkit import DIRECTORY

        assert validate(self.flow(assignees, fallback), directory=DIRECTORY) == []
