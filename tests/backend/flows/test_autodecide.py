"""Auto-approval on SQLite and PostgreSQL: the system approves with the reason in the timeline and
the audit log, an approver undoes it, and the back-test replays past orders through the condition."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.errors import GendanError
from backend.flows import autodecide, service_instance
from backend.flows.schemas import InstanceAction
from backend.orders.models import OrderEvent
from tests.backend.flows import test_service as base
from tests.backend.flows.test_service import actor_of, open_items, publish, simple_flow
from tests.factories.orders import make_customer, make_order

org = base.org  # the fixture: an org chart with a designer

CONDITION = {"and": [{"<": [{"var": "amount"}, 5000]}, {">=": [{"var": "customer_on_time_rate"}, 0.95]}]}


def auto_flow(condition=CONDITION):
    definition = simple_flow()
    definition["nodes"][1]["auto_approve"] = {"enabled": True, "condition": condition}
    return definition


def _instance(session, order, org, now):
    return service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=now)


def test_auto_approval_reason_audit_and_undo(session, org, now):
    publish(session, org, definition=auto_flow(), now=now)
    customer = make_customer(session, tier="key")
    for i in range(3):  # delivered on time; the new order's scores are computed as its flow starts
        make_order(session, owner=org["rep"], customer=customer, status="completed",
                   at=now - timedelta(days=90), planned_delivery=(now - timedelta(days=30)).date(),
                   closed_at=now - timedelta(days=31 + i))
    order = make_order(session, owner=org["rep"], customer=customer, amount=1200)
    instance = _instance(session, order, org, now)
    session.refresh(order)
    assert (order.customer_on_time_rate, order.churn_signals, order.priority_score) == (1.0, 0, 5 + 20)
    assert open_items(session, org["manager"]) == []  # no to-do: the system approved
    assert open_items(session, org["warehouse"])
    event = session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                  OrderEvent.type == "flow.auto_approved")).scalar_one()
    assert event.after["reason"]["en"] == "Amount < 5000 and Customer on-time rate ≥ 0.95"
    audit = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "order",
                                                  AuditEvent.entity_key == str(order.id),
                                                  AuditEvent.action == "auto_approve")).scalar_one()
    assert audit.actor_id is None and audit.after["reason"]["zh-CN"].startswith("金额 < 5000")
    read = service_instance.instance_read(session, instance)
    assert read.undoable_auto == ["manager"]
    assert next(h for h in read.history if h.action == "auto_approved").reason["en"].startswith("Amount")

    with pytest.raises(GendanError) as err:  # a sales rep may not undo it
        service_instance.act_on_instance(session, actor=actor_of(org["rep"]), instance_id=instance.id,
                                         body=InstanceAction(action="undo_auto_approval", node_key="manager"), now=now)
    assert err.value.code == "auth.forbidden"
    later = now + timedelta(minutes=5)
    read = service_instance.act_on_instance(session, actor=actor_of(org["manager"]),  # the node's approver
                                            instance_id=instance.id,
                                            body=InstanceAction(action="undo_auto_approval", node_key="manager"),
                                            now=later)
    assert read.undoable_auto == [] and "manager" in read.active_nodes
    assert open_items(session, org["manager"]) and open_items(session, org["warehouse"]) == []
    session.refresh(order)
    assert order.stage == "approval"
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "undo_auto_approve",
                                                 AuditEvent.entity_key == str(order.id))).scalar_one().actor_id \
        == org["manager"].id
    with pytest.raises(GendanError) as err:
        service_instance.act_on_instance(session, actor=actor_of(org["designer"], "admin"), instance_id=instance.id,
                                         body=InstanceAction(action="undo_auto_approval", node_key="manager"), now=later)
    assert err.value.code == "flow.auto_approval_not_found" and err.value.status == 409


def test_over_the_threshold_a_person_decides(session, org, now):
    publish(session, org, definition=auto_flow(), now=now)
    order = make_order(session, owner=org["rep"], amount=9000, customer_on_time_rate=0.99)
    _instance(session, order, org, now)
    assert open_items(session, org["manager"])


def test_publish_refuses_a_broken_condition(session, org, now):
    with pytest.raises(GendanError) as err:
        publish(session, org, definition=auto_flow({"nope": [1]}), now=now)
    assert err.value.code == "flow.definition_invalid"
    assert [c for c, _ in err.value.fields.values()] == ["flow.auto_condition_invalid"]


def test_backtest_counts_and_outcomes(session, org, now):
    publish(session, org, now=now)  # auto-approval not switched on yet
    customer = make_customer(session)
    past = now - timedelta(days=20)
    # the customer's history: 3 orders delivered on time, closed before the replayed orders arrived
    for i in range(3):
        make_order(session, owner=org["rep"], customer=customer, amount=800, status="completed",
                   at=past - timedelta(days=60), planned_delivery=(past - timedelta(days=30)).date(),
                   closed_at=past - timedelta(days=31 + i))
    small = make_order(session, owner=org["rep"], customer=customer, amount=1000, at=past,
                       planned_delivery=(now - timedelta(days=2)).date())  # open and overdue: late
    big = make_order(session, owner=org["rep"], customer=customer, amount=20000, at=past)
    changed = make_order(session, owner=org["rep"], customer=customer, amount=9000, at=past, status="cancelled",
                         closed_at=now - timedelta(days=1))
    for order in (small, big, changed):
        _instance(session, order, org, past)
    # the amount of `changed` was 3000 when it reached the node, raised to 9000 later
    session.add(OrderEvent(order_id=changed.id, type="updated", at=past + timedelta(days=1),
                           before={"amount": "3000.00"}, after={"amount": "9000.00"}))
    session.flush()
    designer = actor_of(org["designer"], "designer", "admin")
    result = autodecide.backtest(session, actor=designer, key="order", node_key="manager", condition=CONDITION,
                                 weeks=8, now=now)
    assert result["reached"] == 3
    assert result["auto"] == {"orders": 2, "late": 1, "cancelled": 1, "unpaid": 0, "open": 1}
    assert result["people"]["orders"] == 1
    assert {e["number"] for e in result["examples"]} == {small.number, changed.number}
    # a week window that misses them; a broken condition; a node that is not an approval
    assert autodecide.backtest(session, actor=designer, key="order", node_key="manager", condition=CONDITION,
                               weeks=1, now=now)["reached"] == 0
    with pytest.raises(GendanError) as err:
        autodecide.backtest(session, actor=designer, key="order", node_key="manager", condition={"x": 1},
                            weeks=8, now=now)
    assert err.value.code == "flow.auto_condition_invalid" and err.value.status == 422
    with pytest.raises(GendanError) as err:
        autodecide.backtest(session, actor=designer, key="order", node_key="big", condition=CONDITION,
                            weeks=8, now=now)
    assert err.value.code == "flow.backtest_node_invalid"
    with pytest.raises(GendanError) as err:
        autodecide.backtest(session, actor=actor_of(org["rep"]), key="order", node_key="manager",
                            condition=CONDITION, weeks=8, now=now)
    assert err.value.code == "auth.forbidden"


def test_backtest_api_answers_bad_input_in_words(client, session, org, now):
    from tests.conftest import bearer

    publish(session, org, now=now)
    session.flush()
    auth = {**bearer(client, org["designer"].username), "Accept-Language": "zh-CN"}
    deep: dict = {"var": "amount"}
    for _ in range(200):
        deep = {"!": [deep]}
    cases = [
        ("order", {"node_key": "manager", "condition": {"nope": [1]}}, 422, "自动审批条件无法使用"),
        ("order", {"node_key": "manager", "condition": deep}, 422, "自动审批条件无法使用"),
        ("order", {"node_key": "big", "condition": CONDITION}, 422, "不是此流程中的审批步骤"),
        ("order", {"node_key": "manager", "condition": CONDITION, "weeks": 500}, 422, None),
        ("order", {"node_key": "x" * 500, "condition": CONDITION}, 422, None),
        ("no_such_flow", {"node_key": "manager", "condition": CONDITION}, 404, None),
        ("a%00b", {"node_key": "manager", "condition": CONDITION}, None, None),
        ("order", {"node_key": "man\u0000ager", "condition": CONDITION}, None, None),
    ]
    for key, body, status, words in cases:
        resp = client.post(f"/api/v1/flows/{key}/backtest", json=body, headers=auth)
        assert resp.status_code == status if status else 400 <= resp.status_code < 500, (body, resp.text)
        if words:
            assert words in resp.text
    ok = client.post("/api/v1/flows/order/backtest", json={"node_key": "manager", "condition": CONDITION},
                     headers=auth)
    assert ok.status_code == 200 and ok.json()["reached"] == 0


def test_backtest_rebuilds_supplier_and_carrier_rates_as_they_were(session, org, now):
    publish(session, org, now=now)
    past = now - timedelta(days=10)
    for i, (supplier, late) in enumerate((("Acme", False), ("Acme", False), ("Bolt", True))):
        planned = (past - timedelta(days=30)).date()
        make_order(session, owner=org["rep"], amount=800, status="completed", at=past - timedelta(days=60),
                   planned_delivery=planned, closed_at=past - timedelta(days=20 if late else 31 + i),
                   data={"supplier": supplier, "carrier": "SF"})
    # closed after the replayed orders reached the step: not counted then
    make_order(session, owner=org["rep"], amount=800, status="completed", at=past - timedelta(days=60),
               planned_delivery=(past - timedelta(days=30)).date(), closed_at=now - timedelta(days=1),
               data={"supplier": "Bolt"})
    acme = make_order(session, owner=org["rep"], amount=900, at=past, data={"supplier": "Acme", "carrier": "SF"})
    bolt = make_order(session, owner=org["rep"], amount=900, at=past, data={"supplier": "Bolt"})
    for order in (acme, bolt):
        _instance(session, order, org, past)
    session.flush()
    designer = actor_of(org["designer"], "designer", "admin")
    by_supplier = autodecide.backtest(session, actor=designer, key="order", node_key="manager", weeks=4, now=now,
                                      condition={">=": [{"var": "supplier_on_time_rate"}, 0.9]})
    assert by_supplier["reached"] == 2 and [e["number"] for e in by_supplier["examples"]] == [acme.number]
    by_carrier = autodecide.backtest(session, actor=designer, key="order", node_key="manager", weeks=4, now=now,
                                     condition={"<": [{"var": "carrier_on_time_rate"}, 0.7]})  # SF: 2 of 3
    assert [e["number"] for e in by_carrier["examples"]] == [acme.number]
