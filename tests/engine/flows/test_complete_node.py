"""CompleteNode: the system completes a task node's open to-dos (a connector reports the work done)."""

from __future__ import annotations

from engine.flows.events import CompleteNode, Start
from tests.engine.flows.flowkit import Runner, one_node_flow


def test_all_of_task_completes_every_to_do_and_the_flow_goes_on():
    r = Runner(one_node_flow({"type": "task", "assignees": [{"kind": "role", "role": "warehouse"}],
                              "mode": "all_of", "required_fields": ["data.production_done_on"]}))
    r.do(Start(initiator_id=1))
    assert len(r.pending("n")) == 2
    r.do(CompleteNode(node_key="n", note="MES WO-1: 100/100 (100%)"))
    assert r.state.status == "completed" and r.pending() == []
    closed = [t for t in r.state.tasks if t.node_key == "n"]
    assert {(t.status, t.outcome) for t in closed} == {("done", "completed_by_system")}
    entries = [h for h in r.state.history if h.action == "task_completed"]
    assert entries and all(h.actor_id is None and h.note == "MES WO-1: 100/100 (100%)" for h in entries)


def test_sequential_to_dos_open_and_close_in_turn():
    r = Runner(one_node_flow({"type": "task", "assignees": [{"kind": "role", "role": "warehouse"}],
                              "mode": "in_sequence"}))
    r.do(Start(initiator_id=1))
    r.do(CompleteNode(node_key="n"))
    assert r.state.status == "completed"


def test_a_node_without_open_to_dos_is_refused_and_nothing_changes():
    r = Runner(one_node_flow({"type": "task", "assignees": [{"kind": "role", "role": "warehouse"}]}))
    r.do(Start(initiator_id=1))
    r.refuse(CompleteNode(node_key="start"), "flow.task_not_found")


def test_an_approval_node_is_not_completed_by_the_system():
    r = Runner(one_node_flow({"type": "approval", "assignees": [{"kind": "role", "role": "approver"}]}))
    r.do(Start(initiator_id=1))
    r.refuse(CompleteNode(node_key="n"), "flow.task_not_found")
