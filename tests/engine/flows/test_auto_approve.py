"""Auto-approval on an approval node: decides by itself when its condition holds, logs the reason,
falls back to people when the condition cannot be evaluated, and a person can undo it."""

from __future__ import annotations

from engine import effects as fx
from engine.flows import validate
from engine.flows.auto import condition_words, decide, problems
from engine.flows.definition import AutoApprove, load_definition
from engine.flows.events import Approve, Start, UndoAutoApproval
from tests.engine.flows.flowkit import Runner

CONDITION = {"and": [{"<": [{"var": "amount"}, 5000]}, {">=": [{"var": "customer_on_time_rate"}, 0.95]}]}


def two_step_flow(condition=CONDITION, enabled=True):
    """start -> approve (auto) -> work (task) -> end."""
    return load_definition({
        "key": "auto_flow",
        "nodes": [
            {"type": "start", "key": "start"},
            {"type": "approval", "key": "approve", "stage": "approval",
             "assignees": [{"kind": "role", "role": "approver"}],
             "auto_approve": {"enabled": enabled, "condition": condition}},
            {"type": "task", "key": "work", "stage": "production", "assignees": [{"kind": "role", "role": "warehouse"}]},
            {"type": "end", "key": "end"},
        ],
        "edges": [
            {"key": "e1", "source": "start", "target": "approve"},
            {"key": "e2", "source": "approve", "target": "work"},
            {"key": "e3", "source": "work", "target": "end"},
        ],
    })


def test_condition_holds_the_system_approves_with_the_reason():
    r = Runner(two_step_flow(), facts={"amount": 1200, "customer_on_time_rate": 0.97})
    r.do(Start(initiator_id=1))
    assert r.pending("approve") == [] and r.pending("work")
    entry = next(h for h in r.state.history if h.action == "auto_approved")
    assert entry.actor_id is None and entry.params["reason"]["en"] == "Amount < 5000 and Customer on-time rate ≥ 0.95"
    assert "金额 < 5000 且 客户准时率 ≥ 0.95" == entry.params["reason"]["zh-CN"]
    recorded = [e for e in r.all_of(fx.RecordEvent) if e.type == "flow.auto_approved"]
    assert recorded and recorded[0].data["reason"]["en"].startswith("Amount")
    assert not [e for e in r.all_of(fx.CreateTodo) if e.node_key == "approve"]


def test_condition_false_a_person_approves():
    r = Runner(two_step_flow(), facts={"amount": 9000, "customer_on_time_rate": 0.99})
    r.do(Start(initiator_id=1))
    assert r.pending("approve") and not any(h.action == "auto_approved" for h in r.state.history)


def test_disabled_never_decides():
    r = Runner(two_step_flow(enabled=False), facts={"amount": 1, "customer_on_time_rate": 1.0})
    r.do(Start(initiator_id=1))
    assert r.pending("approve")


def test_missing_fact_leaves_it_to_people():
    r = Runner(two_step_flow(), facts={"amount": 100})  # no on-time rate yet
    r.do(Start(initiator_id=1))
    assert r.pending("approve")
    skipped = next(h for h in r.state.history if h.action == "auto_skipped")
    assert skipped.params["reason"] == "flow.auto_fact_missing:customer_on_time_rate"
    # JSON-logic reads null as 0: "null < 0.1" would hold, so a missing fact never approves
    low_risk = two_step_flow(condition={"<": [{"var": "delay_probability"}, 0.1]})
    r = Runner(low_risk, facts={"amount": 100})
    r.do(Start(initiator_id=1))
    assert r.pending("approve")


def test_broken_condition_falls_back_to_people_and_says_why():
    defn = two_step_flow(condition={"no_such_op": [1]})
    r = Runner(defn, facts={"amount": 1})
    r.do(Start(initiator_id=1))
    assert r.pending("approve")
    skipped = next(h for h in r.state.history if h.action == "auto_skipped")
    assert skipped.params["reason"].startswith("logic.")


def test_undo_reopens_the_approval_and_drops_what_followed():
    r = Runner(two_step_flow(), facts={"amount": 1200, "customer_on_time_rate": 0.97})
    r.do(Start(initiator_id=1))
    assert r.pending("work")
    r.do(UndoAutoApproval(actor_id=20, node_key="approve", note="check the price"))
    assert r.pending("work") == [] and r.pending("approve")
    assert any(h.action == "auto_approval_undone" and h.actor_id == 20 for h in r.state.history)
    assert any(isinstance(e, fx.EnterStage) and e.stage == "approval" for e in r.last)
    # the reopened node is decided by a person, then the flow goes on
    task = r.todo("approve", 20)
    r.do(Approve(actor_id=20, task_id=task.id))
    assert r.pending("work")
    r.refuse(UndoAutoApproval(actor_id=20, node_key="approve"), "flow.auto_approval_not_found")


def test_undo_without_auto_approval_is_refused():
    r = Runner(two_step_flow(), facts={"amount": 9000})
    r.do(Start(initiator_id=1))
    r.refuse(UndoAutoApproval(actor_id=20, node_key="approve"), "flow.auto_approval_not_found")
    r.refuse(UndoAutoApproval(actor_id=20, node_key="nope"), "flow.auto_approval_not_found")


def test_publish_check_names_a_broken_condition():
    issues = validate(two_step_flow(condition={"no_such_op": [1]}))
    assert [i.code for i in issues] == ["flow.auto_condition_invalid"]
    assert issues[0].nodes == ("approve",) and issues[0].params["problems"]
    assert [i.code for i in validate(two_step_flow(condition={})) ] == ["flow.auto_condition_invalid"]
    deep = {"!": [{"!": [{"!": [{"!": [{"!": [{"!": [{"!": [{"!": [{"!": [{"!": [{"!": [{"!": [{"!": [
        {"!": [{"!": [{"!": [{"!": [{"!": [True]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}
    assert [i.code for i in validate(two_step_flow(condition=deep))] == ["flow.auto_condition_invalid"]
    unknown = {"<": [{"var": "data.nope"}, 1]}
    assert [i.code for i in validate(two_step_flow(condition=unknown), form_fields=["qty"])] == [
        "flow.auto_condition_field_unknown"]
    assert validate(two_step_flow()) == []
    assert validate(two_step_flow(condition={"no_such_op": [1]}, enabled=False)) == []


def test_decide_and_words_never_raise():
    assert decide(AutoApprove(enabled=True, condition={"<": [{"var": "amount"}, 5]}), {"amount": "x"}).approve is False
    assert decide(None, {}).approve is False
    assert problems(None) == ["flow.auto_condition_empty"]
    assert condition_words({"bad": 1})["en"] == "(invalid condition)"
    assert condition_words({"in": ["VIP", {"var": "tags"}]})["en"] == "“VIP” in Tags"
