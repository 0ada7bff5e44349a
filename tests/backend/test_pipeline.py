"""The order-change pipeline (backend/pipeline.py, assembled in backend/pipeline_assembly.py): one
ordered list of stages for every writer, including flows and rules whose effects change the order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from backend.auth.actor import Actor
from backend.effects import apply_effects
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.flows.schemas import TaskAction
from backend.forms import service as forms_service
from backend.inbox.models import InboxItem
from backend.notify.models import Notification, OutboxMessage
from backend.orders import service as orders_service
from backend.orders.models import Order, OrderEvent
from backend.orders.schemas import OrderCreate
from backend.pipeline import NamedStage, OrderChange, Pipeline, use
from backend.pipeline_assembly import build_pipeline
from backend.rules import definitions as rule_definitions
from engine import effects as fx
from tests.conftest import bearer
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user


def actor_of(user, *roles) -> Actor:
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                 roles=frozenset(roles or ("sales",)), department_id=user.department_id)


@pytest.fixture
def org(session):
    manager = make_user(session, roles=("sales", "approver"), display_name="Manager", username="pl.manager")
    dept = make_department(session, name="Sales", head=manager)
    rep = make_user(session, roles=("sales",), department=dept, display_name="Rep", username="pl.rep")
    warehouse = make_user(session, roles=("warehouse",), display_name="Warehouse", username="pl.warehouse")
    admin = make_user(session, roles=("admin", "designer"), display_name="Admin", username="pl.admin")
    customer = make_customer(session, preferred_channel="email", preferred_locale="en")  # milestone mail in English
    session.flush()
    return {"manager": manager, "rep": rep, "warehouse": warehouse, "admin": admin, "customer": customer}


def fulfilment_flow():
    """start -> manager approval (stage approval) -> shipping task asking for the tracking number
    (stage shipping) -> end (completed)."""
    return {
        "key": "order",
        "nodes": [
            {"type": "start", "key": "start", "stage": "draft"},
            {"type": "approval", "key": "manager", "name": {"en": "Manager"}, "stage": "approval",
             "assignees": [{"kind": "manager_chain", "levels": 1}]},
            {"type": "task", "key": "ship", "name": {"en": "Ship"}, "stage": "shipping",
             "assignees": [{"kind": "role", "role": "warehouse"}], "required_fields": ["data.tracking_no"]},
            {"type": "end", "key": "end", "stage": "completed"},
        ],
        "edges": [
            {"key": "e1", "source": "start", "target": "manager"},
            {"key": "e2", "source": "manager", "target": "ship"},
            {"key": "e3", "source": "ship", "target": "end"},
        ],
    }


def publish_flow(session, org, now):
    designer = actor_of(org["admin"], "designer", "admin")
    flows_service.save_draft(session, actor=designer, key="order", definition=fulfilment_flow(), now=now)
    flows_service.publish_flow(session, actor=designer, key="order", now=now)


def enable_rule(session, org, definition, now):
    admin = actor_of(org["admin"], "admin", "designer")
    rule_definitions.save_draft(session, actor=admin, definition=definition, now=now)
    rule_definitions.publish_rule(session, actor=admin, key=definition["key"], now=now)
    rule_definitions.enable_rule(session, actor=admin, key=definition["key"], confirm=True, now=now)


def stage_rule(key, stage, actions):
    return {"key": key, "name": {"en": key}, "trigger": {"kind": "event", "events": ["stage_entered"],
                                                          "stages": [stage]},
            "condition": True, "actions": actions, "firing": {"mode": "once_per_episode"}}


def new_order(session, org, now) -> Order:
    read, _ = orders_service.create_order(session, actor=actor_of(org["rep"]), now=now,
                                          payload=OrderCreate(customer_id=org["customer"].id, amount=Decimal("500")))
    return session.get(Order, read.id)


def open_task(session, order, user) -> InboxItem:
    return session.exec(select(InboxItem).where(InboxItem.order_id == order.id, InboxItem.assignee_id == user.id,
                                                InboxItem.state == "open", InboxItem.source == "flow")).scalars().one()


class TestAssembly:
    def test_the_stages_run_in_the_documented_order(self):
        assert build_pipeline().names == ["validate_form", "import_status", "stage_held_by_flow", "shipped_at", "signed_at", "reached",
                                          "record_event", "foresight", "order_scores", "flows", "rules", "rules_due", "tracking",
                                          "logistics", "live"]

    def test_a_change_holds_before_and_after_and_what_changed(self, session, org, now):
        order = make_order(session, owner=org["rep"], data={"a": 1})
        before = orders_service.snapshot(order)
        order.data = {**order.data, "a": 2}
        order.stage = "approval"
        change = OrderChange.of(order, before=before, actor=None, via="test", now=now)
        assert change.before["data"] == {"a": 1} and change.after["data"] == {"a": 2}
        assert change.changed_fields == {"data", "data.a", "stage"} and change.event_type == "stage_entered"
        assert not change.is_new


class TestFlowMovesGoThroughThePipeline:
    def test_a_rule_reading_the_current_approver_sees_the_flows_new_todo(self, session, org, now):
        """The flow enters `approval` and creates the manager's to-do in one step; the stage-entered
        rule that step fires already finds the manager as the current approver."""
        publish_flow(session, org, now)
        enable_rule(session, org, stage_rule("tell_approver", "approval", [
            {"type": "notify", "recipients": [{"kind": "current_approver"}],
             "title_template": "Please approve {{ order.number }}"}]), now)
        order = new_order(session, org, now)
        assert order.stage == "approval"
        note = session.exec(select(Notification).where(Notification.order_id == order.id)).scalars().one()
        assert (note.user_id, note.title) == (org["manager"].id, f"Please approve {order.number}")
        types = session.exec(select(OrderEvent.type).where(OrderEvent.order_id == order.id)
                             .order_by(OrderEvent.id)).scalars().all()
        assert types[0] == "created" and "stage_entered" in types

    def test_stages_moved_by_approval_and_shipping_tell_the_customer_and_fire_rules(self, session, org, now):
        publish_flow(session, org, now)
        enable_rule(session, org, stage_rule("shipping_tag", "shipping", [{"type": "add_tag", "tag": "on-its-way"}]),
                    now)
        order = new_order(session, org, now)
        item = open_task(session, order, org["manager"])
        service_instance.act_on_task(session, actor=actor_of(org["manager"], "approver"),
                                     instance_id=item.flow_instance_id, task_id=item.payload["task_id"],
                                     body=TaskAction(action="approve", note="ok"), now=now)
        session.refresh(order)
        assert order.stage == "shipping" and "on-its-way" in order.tags  # the stage-entered rule fired
        item = open_task(session, order, org["warehouse"])
        service_instance.act_on_task(session, actor=actor_of(org["warehouse"], "warehouse"),
                                     instance_id=item.flow_instance_id, task_id=item.payload["task_id"],
                                     body=TaskAction(action="complete", values={"data.tracking_no": "SF123"}),
                                     now=now)
        session.refresh(order)
        assert (order.stage, order.status, order.data["tracking_no"]) == ("completed", "completed", "SF123")
        sent = set(session.exec(select(OutboxMessage.dedupe_key).where(OutboxMessage.order_id == order.id)).scalars())
        assert {f"milestone:{order.id}:{m}" for m in ("shipped", "delivered", "invoiced")} <= sent

    def test_the_owner_cannot_set_the_stage_while_the_flow_runs(self, client, session, org, now):
        publish_flow(session, org, now)
        order = new_order(session, org, now)
        session.commit()
        auth = bearer(client, "pl.rep")
        for lang, words in (("en", "moves its stage"), ("zh-CN", "阶段由流程推进")):
            resp = client.patch(f"/api/v1/orders/{order.id}", json={"version": order.version, "stage": "production"},
                                headers={**auth, "Accept-Language": lang})
            assert resp.status_code == 409, resp.text
            assert resp.json()["error"]["code"] == "flow.stage_held" and words in resp.json()["error"]["message"]
        # other fields stay the owner's to change
        resp = client.patch(f"/api/v1/orders/{order.id}", json={"version": order.version, "currency": "USD"},
                            headers=auth)
        assert resp.status_code == 200 and resp.json()["stage"] == "approval"


QUANTITY_FORM = {
    "key": "order", "title": {"zh-CN": "订单", "en": "Order"},
    "fields": [{"key": "quantity", "type": "number", "min": 1, "label": {"zh-CN": "数量", "en": "Quantity"}}],
}


class TestEffectsAreValidatedByTheForm:
    def test_a_value_the_form_refuses_is_not_stored_and_the_refusal_is_recorded(self, session, org, now):
        designer = actor_of(org["admin"], "designer", "admin")
        forms_service.save_draft(session, actor=designer, key="order", definition=QUANTITY_FORM, now=now)
        forms_service.publish_form(session, actor=designer, key="order", now=now)
        read, _ = orders_service.create_order(session, actor=actor_of(org["rep"]), now=now, payload=OrderCreate(
            customer_id=org["customer"].id, amount=Decimal("5"), data={"quantity": 5}))
        order = session.get(Order, read.id)
        version = order.version
        apply_effects(session, [fx.SetField(dedupe_key="r:1", field="data.quantity", value=-3)], order=order,
                      actor=None, now=now, source="rule")
        assert order.data["quantity"] == 5 and order.version == version
        refused = session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                        OrderEvent.type == "effect_refused")).scalars().one()
        assert refused.after["code"] == "form.validation_failed" and "quantity" in refused.after["fields"]
        assert refused.after["value"] == -3
        apply_effects(session, [fx.SetField(dedupe_key="r:2", field="data.quantity", value=7)], order=order,
                      actor=None, now=now, source="rule")
        assert order.data["quantity"] == 7 and order.version == version + 1
        session.commit()
        set_event = session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                          OrderEvent.type == "field_set")).scalars().one()
        assert (set_event.before, set_event.after) == ({"data.quantity": 5}, {"data.quantity": 7})

    def test_the_orders_records_say_in_words_which_automatic_change_was_refused(self, client, session, org, now):
        from tests.conftest import login

        designer = actor_of(org["admin"], "designer", "admin")
        forms_service.save_draft(session, actor=designer, key="order", definition=QUANTITY_FORM, now=now)
        forms_service.publish_form(session, actor=designer, key="order", now=now)
        read, _ = orders_service.create_order(session, actor=actor_of(org["rep"]), now=now, payload=OrderCreate(
            customer_id=org["customer"].id, amount=Decimal("5"), data={"quantity": 5}))
        apply_effects(session, [fx.SetField(dedupe_key="r:1", field="data.quantity", value=-3)],
                      order=session.get(Order, read.id), actor=None, now=now, source="rule")
        session.commit()
        login(client, "pl.rep")
        page = client.get(f"/orders/{read.id}", headers={"Accept-Language": "en"}).text
        assert "Automatic change refused" in page and "Quantity" in page and "-3" in page
        assert "form.validation_failed" not in page


class TestDepthGuard:
    def test_a_rule_answering_its_own_change_stops_at_the_depth_limit(self, session, org, now):
        def bounce(session_, change):
            n = change.order.data.get("n", 0)
            apply_effects(session_, [fx.SetField(dedupe_key=f"bounce:{n}", field="data.n", value=n + 1)],
                          order=change.order, actor=None, now=change.now, source="rule")

        use(session, Pipeline(stages=(NamedStage("record_event", orders_service.record_change),
                                      NamedStage("bounce", bounce)), max_depth=3))
        order = make_order(session, owner=org["rep"], data={"n": 0})
        apply_effects(session, [fx.SetField(dedupe_key="start", field="data.n", value=1)], order=order, actor=None,
                      now=now, source="rule")
        assert order.data["n"] == 3
        refused = session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                        OrderEvent.type == "effect_refused")).scalars().one()
        assert refused.after["code"] == "pipeline.depth_exceeded" and refused.after["value"] == 4


def act(session, order, user, body, *roles):
    item = open_task(session, order, user)
    service_instance.act_on_task(session, actor=actor_of(user, *(roles or ("approver",))),
                                 instance_id=item.flow_instance_id, task_id=item.payload["task_id"], body=body,
                                 now=item.created_at)
    session.refresh(order)


def flow_event(session, order, type_):
    return session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.type == type_)
                        ).scalars().one()


class TestWhereAFlowLeavesTheOrder:
    def test_a_rejected_order_leaves_approval_and_its_initiator_reads_why_in_words(self, session, org, now):
        from backend import i18n
        from backend.localized import read_body

        publish_flow(session, org, now)
        order = new_order(session, org, now)
        act(session, order, org["manager"], TaskAction(action="reject", note="Price too low"))
        assert (order.stage, order.status) == ("rejected", "open")
        assert flow_event(session, order, "flow.rejected").note == "Price too low"
        note = session.exec(select(Notification).where(Notification.user_id == org["rep"].id)).scalars().one()
        assert note.body == "flow.rejected"  # the engine stays language-free...
        assert read_body(note.body, "en").startswith("Your order was rejected")
        token = i18n.set_locale("zh_CN")
        try:  # ...and the reader gets words in their language
            assert read_body(note.body).startswith("您的订单被驳回")
        finally:
            i18n.reset_locale(token)

    def test_notes_typed_on_send_back_and_transfer_are_kept_in_the_records(self, session, org, now):
        publish_flow(session, org, now)
        order = new_order(session, org, now)
        act(session, order, org["manager"], TaskAction(action="transfer", to_user_id=org["admin"].id,
                                                       note="You know this customer"))
        assert flow_event(session, order, "flow.transferred").note == "You know this customer"
        act(session, order, org["admin"], TaskAction(action="send_back", to="initiator", note="Add the PO number"),
            "admin")
        assert flow_event(session, order, "flow.sent_back").note == "Add the PO number"
        assert order.stage == "returned"
