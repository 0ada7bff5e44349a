"""The interpreter: node types, approval modes, approver resolution and every action on a to-do.

Each Runner step JSON round-trips the state and checks the invariants (see flowkit.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flowkit import DIRECTORY, T0, Runner, load, one_node_flow

from engine import effects as fx
from engine.calendar import add_working_hours
from engine.flows import FlowState, step
from engine.flows.events import (
    AddSigner,
    Approve,
    Comment,
    CompleteTask,
    FieldsChanged,
    Reject,
    Resubmit,
    SendBack,
    Start,
    TimerFired,
    Transfer,
    Urge,
    Withdraw,
    parse_event,
)

SHIP_FIELDS = {"planned_delivery": "2026-12-20", "data.production_done_on": "2026-12-10"}


def b2b(amount):
    return Runner(load("b2b_fulfilment"), facts={"amount": amount, "owner_id": 1})


def run_b2b_to_end(r: Runner):
    r.do(Approve(actor_id=10, task_id=r.todo("manager_approval").id))
    if r.facts["amount"] >= 100000:
        r.do(Approve(actor_id=20, task_id=r.todo("director_approval", 20).id))
    r.do(CompleteTask(actor_id=21, task_id=r.todo("tech_confirm", 21).id))
    r.do(
        CompleteTask(
            actor_id=30, task_id=r.todo("production_order", 30).id, values={"planned_delivery": "2026-12-20"}
        )
    )
    r.do(
        CompleteTask(
            actor_id=31,
            task_id=r.todo("production_progress", 31).id,
            values={"data.production_done_on": "2026-12-10"},
        )
    )
    r.do(
        CompleteTask(
            actor_id=30,
            task_id=r.todo("shipping", 30).id,
            values={"data.carrier": "SF Express", "data.tracking_no": "SF123"},
        )
    )
    r.do(
        CompleteTask(
            actor_id=1, task_id=r.todo("customer_signoff", 1).id, values={"data.signed_on": "2026-12-22"}
        )
    )
    r.do(CompleteTask(actor_id=40, task_id=r.todo("invoicing", 40).id, values={"data.invoice_no": "INV-1"}))
    r.do(
        CompleteTask(
            actor_id=40, task_id=r.todo("payment_confirmed", 40).id, values={"data.paid_on": "2027-01-05"}
        )
    )


class TestStart:
    def test_first_approval_goes_to_initiators_manager(self):
        r = b2b(50000)
        r.do(Start(initiator_id=1, instance_id=7))
        todo = r.todo("manager_approval")
        assert todo.assignee_id == 10
        created = r.last_of(fx.CreateTodo)
        assert [c.assignee_ids for c in created] == [(10,)]
        assert created[0].flow_instance_id == 7 and created[0].node_key == "manager_approval"
        assert created[0].due_at == add_working_hours(T0, 8, r.defn.calendar)
        assert [s.stage for s in r.last_of(fx.EnterStage)] == ["draft", "approval"]
        timers = r.last_of(fx.ScheduleTimer)
        assert len(timers) == 1 and timers[0].kind == "flow.timeout"
        assert r.state.status == "running" and r.state.active_node_keys() == ["manager_approval"]
        assert any(e.type == "flow.started" for e in r.last_of(fx.RecordEvent))

    def test_todo_title_carries_every_language_of_the_step_name(self):
        """The engine stays language-free: the reader's language is picked when the to-do is shown."""
        r = b2b(50000)
        r.do(Start(initiator_id=1, instance_id=7))
        (created,) = r.last_of(fx.CreateTodo)
        assert created.title == {"zh-CN": "销售经理审批", "en": "Sales manager approval"}

    def test_second_start_refused(self):
        r = b2b(1)
        r.do(Start(initiator_id=1))
        r.refuse(Start(initiator_id=1), "flow.already_started")

    def test_state_passed_in_is_not_changed(self):
        defn = load("b2b_fulfilment")
        state = FlowState()
        before = state.to_json()
        step(defn, state, Start(initiator_id=1), T0, directory=DIRECTORY, facts={"amount": 1})
        assert state.to_json() == before

    def test_same_inputs_same_result(self):
        defn = load("b2b_fulfilment")
        a = step(
            defn,
            FlowState(),
            Start(initiator_id=1, instance_id=3),
            T0,
            directory=DIRECTORY,
            facts={"amount": 1},
        )
        b = step(
            defn,
            FlowState(),
            Start(initiator_id=1, instance_id=3),
            T0,
            directory=DIRECTORY,
            facts={"amount": 1},
        )
        assert a.state == b.state
        assert [e.dedupe_key for e in a.effects] == [e.dedupe_key for e in b.effects]
        assert len({e.dedupe_key for e in a.effects}) == len(a.effects)

    def test_naive_now_refused(self):
        from engine.flows import FlowError

        with pytest.raises(FlowError) as err:
            step(
                load("parallel"),
                FlowState(),
                Start(initiator_id=1),
                T0.replace(tzinfo=None),
                directory=DIRECTORY,
            )
        assert err.value.code == "flow.naive_now"


class TestB2BTemplate:
    @pytest.mark.parametrize(("amount", "director"), [(50000, False), (100000, True), (250000, True)])
    def test_runs_to_completion(self, amount, director):
        r = b2b(amount)
        r.do(Start(initiator_id=1, instance_id=1))
        run_b2b_to_end(r)
        assert r.state.status == "completed"
        assert r.state.open_tasks() == [] and r.state.tokens == []
        assert r.last_of(fx.CompleteOrder) == [
            fx.CompleteOrder(dedupe_key="flow:1:complete", status="completed")
        ]
        assert ("e_big" in r.state.path()) is director
        assert ("e_small" in r.state.path()) is not director
        stages = [s.stage for s in r.all_of(fx.EnterStage)]
        assert stages == [
            "draft",
            "approval",
            "tech_confirm",
            "production",
            "shipping",  # in transit until the customer signs for it (by hand or from the carrier's feed)
            "delivered",  # entered at sign-off: invoicing waits on a delivered order
            "payment",
            "completed",
        ]
        fields = {s.field: s.value for s in r.all_of(fx.SetField)}
        assert fields["data.tracking_no"] == "SF123" and fields["data.carrier"] == "SF Express"
        # every to-do created was closed again, under the same dedupe key
        created = {c.dedupe_key for c in r.all_of(fx.CreateTodo)}
        closed = {c.todo_dedupe_key for c in r.all_of(fx.CloseTodo)}
        assert created == closed

    def test_delivered_is_entered_at_sign_off_not_when_shipped(self):
        r = b2b(50000)
        r.do(Start(initiator_id=1, instance_id=1))
        run_b2b_to_end(r)
        moves = [(s.stage, i) for i, s in enumerate(r.all_of(fx.EnterStage))]
        assert [m for m, _ in moves][-4:] == ["shipping", "delivered", "payment", "completed"]
        node = r.defn.node("customer_signoff")
        assert node.stage is None and r.defn.node("invoicing").stage == "delivered"

    def test_shipping_needs_carrier_and_tracking_number(self):
        r = b2b(50000)
        r.facts.update(SHIP_FIELDS)
        r.do(Start(initiator_id=1))
        r.do(Approve(actor_id=10, task_id=r.todo("manager_approval").id))
        for node, user in (("tech_confirm", 20), ("production_order", 30), ("production_progress", 30)):
            r.do(CompleteTask(actor_id=user, task_id=r.todo(node, user).id))
        ship = r.todo("shipping", 31)
        err = r.refuse(
            CompleteTask(actor_id=31, task_id=ship.id, values={"data.carrier": "SF"}),
            "flow.required_fields_missing",
        )
        assert err.params == {"node_key": "shipping", "fields": ["data.tracking_no"]}
        err = r.refuse(
            CompleteTask(
                actor_id=31,
                task_id=ship.id,
                values={"amount": 1, "data.carrier": "SF", "data.tracking_no": "1"},
            ),
            "flow.field_not_editable",
        )
        assert err.params["fields"] == ["amount"]


class TestModes:
    def node(self, mode, users=(20, 21, 40)):
        return one_node_flow(
            {"type": "approval", "assignees": [{"kind": "users", "user_ids": list(users)}], "mode": mode}
        )

    def test_any_of_first_decides_others_superseded(self):
        r = Runner(self.node("any_of"))
        r.do(Start(initiator_id=1))
        assert sorted(t.assignee_id for t in r.pending("n")) == [20, 21, 40]
        late = r.todo("n", 40)
        r.do(Approve(actor_id=21, task_id=r.todo("n", 21).id))
        assert r.state.status == "completed"
        assert {t.outcome for t in r.state.tasks if t.assignee_id != 21} == {"superseded"}
        # the second approver, acting on the same moment, gets a clear refusal
        err = r.refuse(Approve(actor_id=40, task_id=late.id), "flow.task_closed")
        assert err.params["outcome"] == "superseded"

    def test_all_of_waits_for_everyone(self):
        r = Runner(self.node("all_of"))
        r.do(Start(initiator_id=1))
        r.do(Approve(actor_id=20, task_id=r.todo("n", 20).id))
        r.do(Approve(actor_id=40, task_id=r.todo("n", 40).id))
        assert r.state.status == "running" and [t.assignee_id for t in r.pending()] == [21]
        r.do(Approve(actor_id=21, task_id=r.todo("n", 21).id))
        assert r.state.status == "completed"

    def test_all_of_one_rejection_rejects(self):
        r = Runner(self.node("all_of"))
        r.do(Start(initiator_id=1))
        r.do(Approve(actor_id=20, task_id=r.todo("n", 20).id))
        r.do(Reject(actor_id=21, task_id=r.todo("n", 21).id, note="price too low"))
        assert r.state.status == "rejected" and r.state.open_tasks() == []
        notify = r.last_of(fx.Notify)
        assert notify and notify[0].user_ids == (1,)

    def test_in_sequence_one_at_a_time_in_order(self):
        r = Runner(self.node("in_sequence", users=(40, 20, 21)))
        r.do(Start(initiator_id=1))
        assert [t.assignee_id for t in r.pending()] == [40]
        queued = [t for t in r.state.tasks if t.status == "queued"]
        r.refuse(Approve(actor_id=20, task_id=queued[0].id), "flow.task_not_active")
        r.do(Approve(actor_id=40, task_id=r.todo("n", 40).id))
        assert [t.assignee_id for t in r.pending()] == [20]
        assert [c.assignee_ids for c in r.last_of(fx.CreateTodo)] == [(20,)]
        r.do(Approve(actor_id=20, task_id=r.todo("n", 20).id))
        r.do(Approve(actor_id=21, task_id=r.todo("n", 21).id))
        assert r.state.status == "completed"


class TestApproverResolution:
    @pytest.mark.parametrize(
        ("spec", "facts", "expected"),
        [
            ({"kind": "users", "user_ids": [40, 20]}, {}, [40, 20]),
            ({"kind": "role", "role": "warehouse"}, {}, [30, 31]),
            ({"kind": "role", "role": "viewer"}, {}, [50]),  # 51 is inactive
            ({"kind": "manager_chain", "levels": 1}, {}, [10]),
            ({"kind": "manager_chain", "levels": 3}, {}, [10, 20]),  # the chain ends at the top
            ({"kind": "owner_manager"}, {"owner_id": 30}, [32]),
            ({"kind": "field", "field": "data.qa_user"}, {"data": {"qa_user": 31}}, [31]),
            ({"kind": "field", "field": "data.qa_users"}, {"data.qa_users": [31, "40"]}, [31, 40]),
            ({"kind": "initiator"}, {}, [1]),
        ],
    )
    def test_specs(self, spec, facts, expected):
        r = Runner(
            one_node_flow({"type": "approval", "assignees": [spec], "mode": "in_sequence"}), facts=facts
        )
        r.do(Start(initiator_id=1))
        assert [t.assignee_id for t in r.state.tasks] == expected

    def test_chosen_by_initiator(self):
        r = Runner(one_node_flow({"type": "approval", "assignees": [{"kind": "initiator_choice"}]}))
        r.do(Start(initiator_id=1, chosen_approvers={"n": (21,)}))
        assert [t.assignee_id for t in r.pending()] == [21]

    def test_no_approver_skip(self):
        r = Runner(
            one_node_flow(
                {
                    "type": "approval",
                    "assignees": [{"kind": "role", "role": "nobody"}],
                    "on_no_approver": "skip",
                }
            )
        )
        r.do(Start(initiator_id=1))
        assert r.state.status == "completed"
        assert any(h.action == "skipped" and h.node_key == "n" for h in r.state.history)

    def test_no_approver_admin(self):
        r = Runner(
            one_node_flow(
                {
                    "type": "approval",
                    "assignees": [{"kind": "field", "field": "data.qa"}],
                    "on_no_approver": "admin",
                }
            )
        )
        r.do(Start(initiator_id=1))
        assert [(t.assignee_id, t.origin) for t in r.pending()] == [(99, "admin")]

    def test_no_approver_block_until_field_is_filled(self):
        r = Runner(
            one_node_flow(
                {
                    "type": "approval",
                    "assignees": [{"kind": "field", "field": "data.qa"}],
                    "on_no_approver": "block",
                }
            )
        )
        r.do(Start(initiator_id=1))
        assert r.state.tokens[0].blocked == "no_approver" and r.pending() == []
        assert r.last_of(fx.Notify)[0].user_ids == (99,)
        r.facts["data.qa"] = 31
        r.do(FieldsChanged(fields=("data.qa",)))
        assert [t.assignee_id for t in r.pending()] == [31]
        assert r.state.tokens[0].blocked is None


class TestActions:
    def started(self, amount=50000):
        r = b2b(amount)
        r.facts.update(SHIP_FIELDS)
        r.do(Start(initiator_id=1, instance_id=5))
        return r

    def test_wrong_person_unknown_and_wrong_kind(self):
        r = self.started()
        todo = r.todo("manager_approval")
        r.refuse(Approve(actor_id=11, task_id=todo.id), "flow.not_assignee")
        r.refuse(Approve(actor_id=10, task_id="nope-1"), "flow.task_not_found")
        r.refuse(CompleteTask(actor_id=10, task_id=todo.id), "flow.wrong_action")
        r.do(Approve(actor_id=10, task_id=todo.id))
        r.refuse(Approve(actor_id=10, task_id=todo.id), "flow.task_closed")
        tech = r.todo("tech_confirm", 20)
        r.refuse(Approve(actor_id=20, task_id=tech.id), "flow.wrong_action")

    def test_reject_then_resubmit(self):
        r = self.started()
        r.do(Reject(actor_id=10, task_id=r.todo("manager_approval").id, note="wrong price"))
        assert r.state.status == "rejected"
        assert [c.outcome for c in r.last_of(fx.CloseTodo)] == ["done"]
        r.refuse(Resubmit(actor_id=10), "flow.not_initiator")
        r.do(Resubmit(actor_id=1, note="price fixed"))
        assert r.state.status == "running"
        assert r.todo("manager_approval").id != r.state.tasks[0].id
        assert r.state.visits["manager_approval"] == 2

    def test_resubmit_only_after_rejection_withdrawal_or_send_back(self):
        r = self.started()
        r.refuse(Resubmit(actor_id=1), "flow.cannot_resubmit")

    def test_withdraw_before_first_decision(self):
        r = self.started()
        r.refuse(Withdraw(actor_id=10), "flow.not_initiator")
        r.do(Withdraw(actor_id=1))
        assert r.state.status == "withdrawn" and r.state.open_tasks() == []
        assert [c.outcome for c in r.last_of(fx.CloseTodo)] == ["cancelled"]
        assert r.last_of(fx.CancelTimer)
        r.refuse(Approve(actor_id=10, task_id=r.state.tasks[0].id), "flow.task_closed")

    def test_withdraw_refused_after_a_decision(self):
        r = self.started()
        r.do(Approve(actor_id=10, task_id=r.todo("manager_approval").id))
        r.refuse(Withdraw(actor_id=1), "flow.already_decided")

    def test_urge_notifies_holders_of_open_todos(self):
        r = self.started(200000)
        r.do(Approve(actor_id=10, task_id=r.todo("manager_approval").id))
        r.refuse(Urge(actor_id=20), "flow.not_initiator")
        r.refuse(Urge(actor_id=1, node_key="shipping"), "flow.nothing_to_urge")
        r.do(Urge(actor_id=1, note="customer is waiting"))
        r.do(Urge(actor_id=1))
        notes = r.all_of(fx.Notify)
        assert [n.user_ids for n in notes] == [(20, 21), (20, 21)]
        assert notes[0].dedupe_key != notes[1].dedupe_key
        assert r.state.urge_count == 2

    def test_transfer(self):
        r = self.started()
        todo = r.todo("manager_approval")
        r.refuse(Transfer(actor_id=10, task_id=todo.id, to_user_id=10), "flow.transfer_to_self")
        r.refuse(Transfer(actor_id=10, task_id=todo.id, to_user_id=51), "flow.user_inactive")
        r.do(Transfer(actor_id=10, task_id=todo.id, to_user_id=11, note="on leave"))
        assert [t.assignee_id for t in r.pending()] == [11]
        r.refuse(Approve(actor_id=10, task_id=todo.id), "flow.task_closed")
        r.do(Approve(actor_id=11, task_id=r.todo("manager_approval", 11).id))
        assert r.state.active_node_keys() == ["tech_confirm"]

    def test_transfer_inside_sequence_keeps_the_order(self):
        r = Runner(
            one_node_flow(
                {
                    "type": "approval",
                    "assignees": [{"kind": "users", "user_ids": [20, 21]}],
                    "mode": "in_sequence",
                }
            )
        )
        r.do(Start(initiator_id=1))
        r.do(Transfer(actor_id=20, task_id=r.todo("n", 20).id, to_user_id=40))
        assert [t.assignee_id for t in r.pending()] == [40]
        r.do(Approve(actor_id=40, task_id=r.todo("n", 40).id))
        assert [t.assignee_id for t in r.pending()] == [21]

    def test_add_signer_before(self):
        r = self.started()
        mine = r.todo("manager_approval")
        r.do(AddSigner(actor_id=10, task_id=mine.id, user_ids=(40, 20), position="before"))
        assert [t.assignee_id for t in r.pending()] == [40]
        assert r.last_of(fx.CloseTodo)[0].todo_dedupe_key.endswith(f"{mine.id}:1")
        r.refuse(Approve(actor_id=10, task_id=mine.id), "flow.task_not_active")
        r.do(Approve(actor_id=40, task_id=r.todo("manager_approval", 40).id))
        r.do(Approve(actor_id=20, task_id=r.todo("manager_approval", 20).id))
        assert [t.assignee_id for t in r.pending()] == [10]
        reopened = r.last_of(fx.CreateTodo)[0]
        assert reopened.dedupe_key.endswith(f"{mine.id}:2")  # a new to-do row, not a dedupe hit
        r.do(Approve(actor_id=10, task_id=mine.id))
        assert r.state.active_node_keys() == ["tech_confirm"]

    def test_add_signer_after(self):
        r = self.started()
        r.do(AddSigner(actor_id=10, task_id=r.todo("manager_approval").id, user_ids=(40,), position="after"))
        assert r.state.active_node_keys() == ["manager_approval"]
        assert [t.assignee_id for t in r.pending()] == [40]
        r.do(Approve(actor_id=40, task_id=r.todo("manager_approval", 40).id))
        assert r.state.active_node_keys() == ["tech_confirm"]

    def test_add_signer_invalid(self):
        r = self.started()
        todo = r.todo("manager_approval")
        err = r.refuse(AddSigner(actor_id=10, task_id=todo.id, user_ids=(10, 51)), "flow.signer_invalid")
        assert err.params == {"user_ids": [10, 51]}

    def test_add_signer_before_in_a_sequence_keeps_one_active(self):
        r = Runner(
            one_node_flow(
                {
                    "type": "approval",
                    "assignees": [{"kind": "users", "user_ids": [20, 21]}],
                    "mode": "in_sequence",
                }
            )
        )
        r.do(Start(initiator_id=1))
        r.do(AddSigner(actor_id=20, task_id=r.todo("n", 20).id, user_ids=(40,), position="after"))
        assert [t.assignee_id for t in r.pending()] == [40]
        r.do(Approve(actor_id=40, task_id=r.todo("n", 40).id))
        assert [t.assignee_id for t in r.pending()] == [21]

    def test_send_back_to_previous_node(self):
        r = self.started()
        r.do(Approve(actor_id=10, task_id=r.todo("manager_approval").id))
        r.do(SendBack(actor_id=20, task_id=r.todo("tech_confirm", 20).id, to="previous", note="spec unclear"))
        assert r.state.active_node_keys() == ["manager_approval"]
        assert r.state.open_tasks()[0].assignee_id == 10
        assert {t.outcome for t in r.state.tasks if t.node_key == "tech_confirm"} == {"sent_back"}

    def test_send_back_to_any_earlier_node(self):
        r = self.started()
        r.do(Approve(actor_id=10, task_id=r.todo("manager_approval").id))
        r.do(CompleteTask(actor_id=20, task_id=r.todo("tech_confirm", 20).id))
        r.do(CompleteTask(actor_id=30, task_id=r.todo("production_order", 30).id))
        r.refuse(
            SendBack(
                actor_id=30, task_id=r.todo("production_progress", 30).id, to="node", node_key="shipping"
            ),
            "flow.send_back_target_invalid",
        )
        r.refuse(
            SendBack(actor_id=30, task_id=r.todo("production_progress", 30).id, to="node"),
            "flow.send_back_target_missing",
        )
        r.do(
            SendBack(
                actor_id=30,
                task_id=r.todo("production_progress", 30).id,
                to="node",
                node_key="manager_approval",
            )
        )
        assert r.state.active_node_keys() == ["manager_approval"]
        r.do(Approve(actor_id=10, task_id=r.todo("manager_approval").id))
        # the node after it is entered again, a new visit
        assert r.state.visits["tech_confirm"] == 2

    def test_send_back_to_initiator_then_resubmit(self):
        r = self.started()
        r.do(SendBack(actor_id=10, task_id=r.todo("manager_approval").id, to="initiator"))
        assert r.state.status == "sent_back"
        resubmit = r.todo("start", 1)
        assert resubmit.kind == "resubmit"
        r.do(Resubmit(actor_id=1))
        assert r.state.status == "running" and r.state.active_node_keys() == ["manager_approval"]
        assert r.state.task(resubmit.id).status == "done"

    def test_send_back_previous_on_first_node_goes_to_initiator(self):
        r = self.started()
        r.do(SendBack(actor_id=10, task_id=r.todo("manager_approval").id))
        assert r.state.status == "sent_back"

    def test_comment_with_attachments(self):
        r = self.started()
        todo = r.todo("manager_approval")
        r.do(Comment(actor_id=10, task_id=todo.id, note="see drawing", attachments=("files/42.pdf",)))
        entry = r.state.history[-1]
        assert (entry.action, entry.node_key, entry.params["attachments"]) == (
            "commented",
            "manager_approval",
            ["files/42.pdf"],
        )
        event = r.last_of(fx.RecordEvent)[0]
        assert event.type == "flow.commented" and event.data["attachments"] == ["files/42.pdf"]
        r.refuse(Comment(actor_id=10, task_id="x-9", note="?"), "flow.task_not_found")

    def test_events_parse_from_json(self):
        event = parse_event(
            {"type": "add_signer", "actor_id": 3, "task_id": "n-2", "user_ids": [4], "position": "after"}
        )
        assert event == AddSigner(actor_id=3, task_id="n-2", user_ids=(4,), position="after")


class TestNodeTypes:
    def test_notify_auto_wait_task(self):
        r = Runner(load("automatic"), facts={"amount": 5})
        r.do(Start(initiator_id=1, instance_id=9))
        assert r.last_of(fx.Notify)[0].user_ids == (50,)
        assert r.last_of(fx.SetField) == [
            fx.SetField(dedupe_key="flow:9:set:mark:1:data.flagged", field="data.flagged", value=True)
        ]
        hook = r.last_of(fx.CallWebhook)[0]
        assert hook.url == "https://erp.example.com/hook" and hook.payload["node_key"] == "mark"
        timer = r.last_of(fx.ScheduleTimer)[0]
        assert timer.kind == "flow.wait"
        assert timer.fire_at == add_working_hours(T0, 4, r.defn.calendar)
        token = r.state.tokens[0]
        r.refuse(TimerFired(kind="flow.wait", token_id=token.id, n=7), "flow.timer_stale")
        r.now = timer.fire_at
        r.do(TimerFired(kind="flow.wait", token_id=token.id, n=timer.payload["n"]))
        assert r.state.active_node_keys() == ["until_ship_date"]
        assert r.state.tokens[0].blocked == "waiting_for_field"
        r.facts["data.ship_on"] = "2026-11-30"
        r.do(FieldsChanged(fields=("data.ship_on",)))
        wait = r.last_of(fx.ScheduleTimer)[0]
        assert wait.fire_at.isoformat() == "2026-11-29T16:00:00+00:00"  # midnight Shanghai
        r.facts["data.ship_on"] = "2026-11-20"  # moved into the past: continue at once
        r.do(FieldsChanged(fields=("data.ship_on",)))
        assert [c.timer_dedupe_key for c in r.last_of(fx.CancelTimer)] == [wait.dedupe_key]
        assert r.state.active_node_keys() == ["ship"]
        err = r.refuse(
            CompleteTask(
                actor_id=30,
                task_id=r.todo("ship", 30).id,
                values={"data.secret": "x", "data.tracking_no": "1"},
            ),
            "flow.field_not_editable",
        )
        assert err.params["fields"] == ["data.secret"]
        r.do(CompleteTask(actor_id=30, task_id=r.todo("ship", 30).id, values={"data.tracking_no": "YT9"}))
        assert r.state.status == "completed"

    def test_parallel_join_waits_for_every_branch(self):
        r = Runner(load("parallel"))
        r.do(Start(initiator_id=1))
        assert sorted(r.state.active_node_keys()) == ["finance_review", "stock_check"]
        r.do(CompleteTask(actor_id=31, task_id=r.todo("stock_check", 31).id))
        assert r.state.active_node_keys() == ["finance_review"]
        assert not any(h.action == "join_fired" for h in r.state.history)
        r.do(Approve(actor_id=40, task_id=r.todo("finance_review").id))
        assert r.state.active_node_keys() == ["ship"] and r.state.arrivals == []
        assert r.state.tokens[0].branch == ()

    def test_reject_in_one_branch_closes_the_other(self):
        r = Runner(load("parallel"))
        r.do(Start(initiator_id=1))
        r.do(Reject(actor_id=40, task_id=r.todo("finance_review").id))
        assert r.state.status == "rejected" and r.state.open_tasks() == []

    def test_send_back_inside_a_branch_keeps_the_other_branch(self):
        data = load("parallel").to_json()
        data["nodes"].append(
            {"type": "approval", "key": "finance_sign", "assignees": [{"kind": "users", "user_ids": [20]}]}
        )
        for edge in data["edges"]:
            if edge["key"] == "e4":
                edge["target"] = "finance_sign"
        data["edges"].append({"key": "e8", "source": "finance_sign", "target": "join"})
        from engine.flows import load_definition, validate

        defn = load_definition(data)
        assert validate(defn) == []
        r = Runner(defn)
        r.do(Start(initiator_id=1))
        stock = r.todo("stock_check", 30)
        r.do(Approve(actor_id=40, task_id=r.todo("finance_review").id))
        r.do(SendBack(actor_id=20, task_id=r.todo("finance_sign").id, to="previous"))
        assert sorted(r.state.active_node_keys()) == ["finance_review", "stock_check"]
        assert r.state.task(stock.id).status == "pending"
        r.do(Approve(actor_id=40, task_id=r.todo("finance_review").id))
        r.do(Approve(actor_id=20, task_id=r.todo("finance_sign").id))
        r.do(CompleteTask(actor_id=30, task_id=stock.id))
        assert r.state.active_node_keys() == ["ship"]
        # after the join, a node inside one branch is no longer a valid target
        r.refuse(
            SendBack(actor_id=30, task_id=r.todo("ship", 30).id, to="node", node_key="finance_sign"),
            "flow.send_back_target_invalid",
        )

    def test_send_back_before_the_split_drops_every_branch(self):
        data = load("parallel").to_json()
        data["nodes"].append(
            {"type": "approval", "key": "intake", "assignees": [{"kind": "users", "user_ids": [20]}]}
        )
        for edge in data["edges"]:
            if edge["key"] == "e1":
                edge["target"] = "intake"
        data["edges"].append({"key": "e0", "source": "intake", "target": "split"})
        from engine.flows import load_definition

        r = Runner(load_definition(data))
        r.do(Start(initiator_id=1))
        r.do(Approve(actor_id=20, task_id=r.todo("intake").id))
        r.do(CompleteTask(actor_id=30, task_id=r.todo("stock_check", 30).id))
        assert len(r.state.arrivals) == 1
        r.do(SendBack(actor_id=40, task_id=r.todo("finance_review").id, to="node", node_key="intake"))
        assert r.state.active_node_keys() == ["intake"] and r.state.arrivals == []
        r.do(Approve(actor_id=20, task_id=r.todo("intake").id))
        r.do(Approve(actor_id=40, task_id=r.todo("finance_review").id))
        assert r.state.active_node_keys() == ["stock_check"]  # the join waits for the new stock check

    def test_exclusive_loop_until_condition_holds(self):
        r = Runner(load("rework_loop"), facts={"data": {"qa_passed": False}})
        r.do(Start(initiator_id=1))
        r.do(CompleteTask(actor_id=30, task_id=r.todo("produce", 30).id))
        r.do(Approve(actor_id=20, task_id=r.todo("qa").id))
        assert r.state.active_node_keys() == ["rework"]
        r.do(CompleteTask(actor_id=31, task_id=r.todo("rework", 31).id))
        r.facts["data"] = {"qa_passed": True}
        r.do(Approve(actor_id=20, task_id=r.todo("qa").id))
        assert r.state.status == "completed"
        assert r.state.path() == ["e1", "e2", "e3", "e_rework", "e5", "e3", "e_ok"]


class TestEndAndLoops:
    def test_cancel_end(self):
        defn = one_node_flow({"type": "auto", "set_fields": {"data.x": 1}})
        data = defn.to_json()
        data["nodes"][2]["status"] = "cancelled"
        from engine.flows import load_definition

        r = Runner(load_definition(data))
        r.do(Start(initiator_id=1))
        assert r.state.status == "cancelled"
        assert r.last_of(fx.CompleteOrder)[0].status == "cancelled"

    def test_automatic_loop_stops_with_an_error(self):
        from engine.flows import load_definition

        defn = load_definition(
            {
                "key": "spin",
                "nodes": [
                    {"type": "start", "key": "s"},
                    {"type": "auto", "key": "a", "set_fields": {"data.n": 1}},
                    {"type": "exclusive", "key": "x"},
                    {"type": "end", "key": "e"},
                ],
                "edges": [
                    {"key": "1", "source": "s", "target": "a"},
                    {"key": "2", "source": "a", "target": "x"},
                    {"key": "3", "source": "x", "target": "e", "condition": {"==": [{"var": "data.n"}, 2]}},
                    {"key": "4", "source": "x", "target": "a", "is_default": True},
                ],
            }
        )
        Runner(defn).refuse(Start(initiator_id=1), "flow.loop_limit")


def test_timer_dedupe_keys_change_when_rescheduled():
    r = Runner(
        one_node_flow(
            {
                "type": "approval",
                "assignees": [{"kind": "users", "user_ids": [20]}],
                "time_limit": {"hours": 1, "unit": "calendar_hours", "on_timeout": "remind"},
            }
        )
    )
    r.do(Start(initiator_id=1))
    first = r.last_of(fx.ScheduleTimer)[0]
    assert first.fire_at == T0 + timedelta(hours=1)


class TestMigrateToNewVersion:
    def new_version(self):
        data = load("b2b_fulfilment").to_json()
        data["version"] = 2
        for node in data["nodes"]:
            if node["key"] == "tech_confirm":
                node["key"] = "engineering_review"
                node["assignees"] = [{"kind": "users", "user_ids": [40]}]
        for edge in data["edges"]:
            edge["source"] = "engineering_review" if edge["source"] == "tech_confirm" else edge["source"]
            edge["target"] = "engineering_review" if edge["target"] == "tech_confirm" else edge["target"]
        from engine.flows import load_definition

        return load_definition(data)

    def test_plan_then_migrate_moves_the_open_step(self):
        from engine.flows.migrate import MoveStep, migrate, plan

        old, new = load("b2b_fulfilment"), self.new_version()
        r = b2b(50000)
        r.do(Start(initiator_id=1, instance_id=4))
        r.do(Approve(actor_id=10, task_id=r.todo("manager_approval").id))
        assert plan(old, new, r.state, {}) == [MoveStep("tech_confirm", None, "flow.migrate_target_unknown")]
        mapping = {"tech_confirm": "engineering_review"}
        assert plan(old, new, r.state, mapping) == [MoveStep("tech_confirm", "engineering_review")]
        result = migrate(old, new, r.state, mapping, T0, directory=DIRECTORY, facts=r.facts, actor_id=99)
        assert result.state.active_node_keys() == ["engineering_review"]
        assert [t.assignee_id for t in result.state.pending_tasks()] == [40]
        closed = [e for e in result.effects if isinstance(e, fx.CloseTodo)]
        assert len(closed) == 2  # both approvers' to-dos of the old step
        from engine.flows import check_invariants

        assert check_invariants(new, result.state) == []
        r.defn, r.state = new, result.state
        r.do(CompleteTask(actor_id=40, task_id=r.todo("engineering_review").id))
        assert r.state.active_node_keys() == ["production_order"]

    def test_refuses_parallel_and_finished_instances(self):
        from engine.flows import FlowError
        from engine.flows.migrate import migrate, plan

        r = Runner(load("parallel"))
        r.do(Start(initiator_id=1))
        assert {m.problem for m in plan(r.defn, r.defn, r.state, {})} == {"flow.migrate_parallel_unsupported"}
        with pytest.raises(FlowError) as err:
            migrate(r.defn, r.defn, r.state, {}, T0, directory=DIRECTORY)
        assert err.value.code == "flow.migrate_parallel_unsupported"
        r.do(Reject(actor_id=40, task_id=r.todo("finance_review").id))
        assert plan(r.defn, r.defn, r.state, {})[0].problem == "flow.not_running"
