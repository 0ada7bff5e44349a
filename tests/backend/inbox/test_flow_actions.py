"""Approvals and flow tasks acted on from the inbox: the inbox's checks, then the flow engine."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.inbox import service as inbox_service
from backend.inbox import service_action as inbox_actions
from backend.inbox.models import InboxItem
from backend.inbox.schemas import InboxFilter
from backend.orders.models import Order
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user


def _actor(user, *roles) -> Actor:
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                 roles=frozenset(roles or ("sales",)), department_id=user.department_id)


FLOW = {
    "key": "inbox_order",
    "nodes": [
        {"type": "start", "key": "start", "stage": "draft"},
        {"type": "approval", "key": "manager", "name": {"en": "Manager approval"}, "stage": "approval",
         "assignees": [{"kind": "manager_chain", "levels": 1}]},
        {"type": "task", "key": "ship", "name": {"en": "Ship"}, "stage": "shipping",
         "assignees": [{"kind": "role", "role": "warehouse"}], "required_fields": ["data.tracking_no"],
         "field_permissions": {"data.carrier": "editable", "data.secret": "hidden"}},
        {"type": "end", "key": "end", "stage": "completed"},
    ],
    "edges": [
        {"key": "e1", "source": "start", "target": "manager"},
        {"key": "e2", "source": "manager", "target": "ship"},
        {"key": "e3", "source": "ship", "target": "end"},
    ],
}


@pytest.fixture
def org(session, now):
    manager = make_user(session, roles=("sales",), display_name="Manager Qian")
    dept = make_department(session, name="Sales", head=manager)
    rep = make_user(session, roles=("sales",), department=dept, display_name="Rep")
    warehouse = make_user(session, roles=("warehouse",), display_name="Warehouse Sun")
    designer = make_user(session, roles=("designer", "admin"))
    session.flush()
    flows_service.save_draft(session, actor=_actor(designer, "designer", "admin"), key="inbox_order",
                             definition=FLOW, now=now)
    flows_service.publish_flow(session, actor=_actor(designer, "designer", "admin"), key="inbox_order", now=now)
    return {"manager": manager, "rep": rep, "warehouse": warehouse}


def _start(session, org, now, number):
    order = make_order(session, owner=org["rep"], number=number)
    service_instance.start_flow(session, order=order, actor=_actor(org["rep"]), now=now, key="inbox_order")
    session.commit()
    return order


def _open(session, user):
    return session.exec(select(InboxItem).where(InboxItem.assignee_id == user.id, InboxItem.state == "open")
                        .order_by(InboxItem.id)).scalars().all()


class TestApproveFromInbox:
    def test_approve_then_complete_the_flow_task_with_its_fields(self, session, org, now):
        order = _start(session, org, now, "FL-1")
        manager = _actor(org["manager"])
        [item] = _open(session, org["manager"])
        read = inbox_actions.act_on_flow_task(session, actor=manager, item_id=item.id, action="approve",
                                              note="ok", now=now)
        assert (read.state, read.kind) == ("done", "approval")
        warehouse = _actor(org["warehouse"], "warehouse")
        page = inbox_service.list_items(session, actor=warehouse, filters=InboxFilter(), now=now)
        [ship] = page.items
        assert [(f.key, f.is_required) for f in ship.fields] == [("tracking_no", True), ("carrier", False)]
        with pytest.raises(GendanError) as err:
            inbox_actions.complete_task(session, actor=warehouse, item_id=ship.id, values={}, note="", now=now)
        assert err.value.code == "flow.required_fields_missing"
        inbox_actions.complete_task(session, actor=warehouse, item_id=ship.id,
                                    values={"tracking_no": "SF1", "carrier": "SF"}, note="", now=now)
        session.refresh(order)
        assert order.status == "completed" and order.data == {"tracking_no": "SF1", "carrier": "SF"}

    def test_twice_wrong_person_and_moved_on_are_refused(self, session, org, now):
        order = _start(session, org, now, "FL-2")
        [item] = _open(session, org["manager"])
        with pytest.raises(GendanError) as err:
            inbox_actions.act_on_flow_task(session, actor=_actor(org["warehouse"], "warehouse"), item_id=item.id,
                                           action="approve", now=now)
        assert err.value.code in ("inbox.not_yours", "inbox.not_found")
        inbox_actions.act_on_flow_task(session, actor=_actor(org["manager"]), item_id=item.id, action="reject",
                                       note="too cheap", now=now)
        with pytest.raises(GendanError) as err:
            inbox_actions.act_on_flow_task(session, actor=_actor(org["manager"]), item_id=item.id,
                                           action="approve", now=now)
        assert (err.value.code, err.value.status) == ("inbox.already_closed", 409)
        session.refresh(order)
        assert order.status in ("cancelled", "open")

    def test_bulk_approve(self, session, org, now):
        _start(session, org, now, "FL-3")
        _start(session, org, now, "FL-4")
        items = _open(session, org["manager"])
        outcome = inbox_actions.bulk_approve(session, actor=_actor(org["manager"]),
                                             item_ids=[i.id for i in items] + [10**8], note="", now=now)
        assert list(outcome.values()) == ["ok", "ok", "inbox.not_found"]
        assert _open(session, org["manager"]) == []
        assert len(_open(session, org["warehouse"])) == 2
        orders = session.exec(select(Order.stage).where(Order.number.in_(["FL-3", "FL-4"]))).scalars().all()
        assert set(orders) == {"shipping"}


class TestInitiator:
    def test_owner_urges_then_withdraws_from_the_started_tab(self, session, org, now):
        order = _start(session, org, now, "FL-5")
        rep = _actor(org["rep"])
        [started] = inbox_service.list_items(session, actor=rep, filters=InboxFilter(tab="started"), now=now).items
        assert started.kind == "approval" and started.assignee_name == "Manager Qian"
        inbox_actions.urge(session, actor=rep, item_id=started.id, now=now)
        session.refresh(order)
        assert order.urge_count == 1
        with pytest.raises(GendanError) as err:
            inbox_actions.withdraw(session, actor=_actor(org["warehouse"], "warehouse"), item_id=started.id,
                                   note="", now=now)
        assert err.value.code in ("inbox.not_found", "flow.not_initiator", "order.not_found")
        read = inbox_actions.withdraw(session, actor=rep, item_id=started.id, note="customer cancelled", now=now)
        assert read.state != "open"
        assert _open(session, org["manager"]) == []
        with pytest.raises(GendanError) as err:
            inbox_actions.withdraw(session, actor=rep, item_id=started.id, note="", now=now)
        assert err.value.code == "inbox.already_closed"
