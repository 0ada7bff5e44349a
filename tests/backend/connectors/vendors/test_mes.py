"""MES work-order progress (update only) against a fake MES in Gendan's documented shape: 60% then
100% updates the order's production progress through the order pipeline, and at 100% the running
flow's production step completes by itself. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend import i18n
from backend.connectors.models import ConnectorRecordError
from backend.flows import service as flow_service
from backend.flows import service_instance
from backend.flows.models import FlowInstance
from backend.inbox.models import InboxItem
from backend.orders.models import Order, OrderEvent
from tests.backend.connectors.vendors.helpers import cursor, from_template, health, run
from tests.factories.orders import make_order
from tests.factories.people import make_user
from tests.factories.vendor_sources2 import FakeMes

KEY = "mes_progress"
FLOW = {"key": "order", "nodes": [
    {"type": "start", "key": "start", "stage": "draft"},
    {"type": "task", "key": "production_progress", "name": {"en": "Production progress"}, "stage": "production",
     "assignees": [{"kind": "role", "role": "warehouse"}], "required_fields": ["data.production_done_on"]},
    {"type": "task", "key": "shipping", "stage": "shipping", "assignees": [{"kind": "role", "role": "warehouse"}]},
    {"type": "end", "key": "end", "stage": "completed"}],
    "edges": [{"key": "e1", "source": "start", "target": "production_progress"},
              {"key": "e2", "source": "production_progress", "target": "shipping"},
              {"key": "e3", "source": "shipping", "target": "end"}]}


def wo(no: str, order: str, planned, finished, modified: str) -> dict:
    return {"work_order_no": no, "sales_order_no": order, "product_code": "P-1", "planned_qty": planned,
            "finished_qty": finished, "status": "completed" if finished >= planned else "in_progress",
            "modified_at": modified, "finished_at": modified if finished >= planned else None}


@pytest.fixture
def mes():
    server = FakeMes([]).start()
    yield server
    server.stop()


@pytest.fixture
def flowing(session, admin, now):
    """Two orders (SO-1001 by number, one by external id) each with the flow waiting at production."""
    warehouse = make_user(session, roles=["warehouse"])
    designer = make_user(session, roles=["designer", "admin"])
    from backend.auth.service import load_actor

    d = load_actor(session, designer.id)
    flow_service.save_draft(session, actor=d, key="order", definition=FLOW, now=now)
    flow_service.publish_flow(session, actor=d, key="order", now=now)
    out = []
    for number, external in (("SO-1001", None), ("SO-1002", "ERP-77")):
        order = make_order(session, owner=warehouse, number=number, external_id=external, source="kingdee")
        service_instance.start_flow(session, order=order, actor=d, now=now)
        out.append(order)
    session.commit()
    return out


def make(session, admin, now, mes, **kw):
    kw.setdefault("secrets", {"access_token": FakeMes.TOKEN})
    return from_template(session, admin, now, KEY, mes.url, initial_since="2026-11-23 00:00:00", page_size=2, **kw)


def _order(session, number) -> Order:
    session.expire_all()
    return session.exec(select(Order).where(Order.number == number)).scalar_one()


def _flow(session, order_id) -> FlowInstance:
    session.expire_all()
    return session.exec(select(FlowInstance).where(FlowInstance.order_id == order_id)).scalar_one()


def test_progress_60_then_100_completes_the_production_step(session, connection, admin, now, mes, flowing):
    first, second = flowing
    mes.work_orders += [wo("WO-001", "SO-1001", 100, 60, "2026-11-23 09:00:00"),
                        wo("WO-002", "ERP-77", 50, 10, "2026-11-23 10:00:00"),
                        wo("WO-003", "SO-1001", 0, 0, "2026-11-23 11:00:00")]  # nothing planned: no progress
    c = make(session, admin, now, mes)
    result = run(connection, c.id, now)
    assert (result.status, result.updated_count, result.created_count, result.failed_count) == ("ok", 3, 0, 0), \
        result.error
    o1, o2 = _order(session, "SO-1001"), _order(session, "SO-1002")
    assert (o1.data["production_progress"], o2.data["production_progress"]) == (60, 20)
    # WO-003 (nothing planned) names its work order but leaves the progress as it was
    assert o1.data["mes_work_order"] == "WO-003" and not o1.data.get("production_done_on")
    assert o1.stage == "production" and _flow(session, o1.id).status == "running"
    event = session.exec(select(OrderEvent).where(OrderEvent.order_id == o1.id, OrderEvent.type == "updated")
                         .order_by(OrderEvent.id.desc())).scalars().first()
    assert event.after["data"]["production_progress"] == 60 and event.actor_id == admin.user_id
    pages = [r["query"]["page"] for r in mes.requests if r["query"].get("modified_from") == "2026-11-23 00:00:00"]
    assert pages == ["1", "2"]

    mes.work_orders[0].update(finished_qty=100, status="completed", modified_at="2026-11-24 10:45:00",
                              finished_at="2026-11-24 10:45:00")
    mes.requests.clear()
    later = now + timedelta(hours=1)
    result = run(connection, c.id, later)
    assert (result.status, result.updated_count, result.read_count) == ("ok", 1, 1), result.error
    o1 = _order(session, "SO-1001")
    assert o1.data["production_progress"] == 100 and o1.data["production_done_on"] == "2026-11-24"
    flow = _flow(session, o1.id)
    state = flow.state
    done = [t for t in state["tasks"] if t["node_key"] == "production_progress"]
    assert [(t["status"], t["outcome"]) for t in done] == [("done", "completed_by_system")]
    assert o1.stage == "shipping"  # the flow went on to its next step
    todos = session.exec(select(InboxItem).where(InboxItem.order_id == o1.id)).scalars().all()
    assert sorted(t.state for t in todos) == ["done", "open"]  # production's to-do left the inbox; shipping's came
    entry = [h for h in state["history"] if h["action"] == "task_completed"][-1]
    assert entry["actor_id"] is None and entry["note"] == "MES WO-001: 100/100 (100%)"
    assert _flow(session, second.id).status == "running"  # 20%: untouched
    assert all(r["query"]["modified_from"] >= "2026-11-24" for r in mes.requests)  # only what changed since

    mes.requests.clear()  # 100% read again later: nothing to do, nothing breaks
    mes.work_orders[0]["modified_at"] = "2026-11-24 12:00:00"
    again = run(connection, c.id, later + timedelta(hours=1))
    assert (again.status, again.unchanged_count) == ("ok", 1), again.error


def test_unknown_order_is_a_record_error_in_the_users_language(session, connection, admin, now, mes, flowing):
    mes.work_orders += [wo("WO-009", "SO-NOPE", 10, 5, "2026-11-23 09:00:00")]
    c = make(session, admin, now, mes)
    result = run(connection, c.id, now)
    assert (result.status, result.failed_count, result.created_count) == ("ok", 1, 0)
    error = session.exec(select(ConnectorRecordError).where(ConnectorRecordError.connector_id == c.id)).scalar_one()
    assert error.errors[0]["code"] == "vendor.order_not_found" and error.external_id == "SO-NOPE"
    assert session.exec(select(Order).where(Order.number == "SO-NOPE")).first() is None  # never created
    token = i18n.set_locale("zh-CN")
    try:
        text = i18n.translate_error("vendor.order_not_found", error.errors[0]["params"])
    finally:
        i18n.reset_locale(token)
    assert "SO-NOPE" in text and "订单" in text


def test_wrong_token_is_a_clear_error_on_health(session, connection, admin, now, mes):
    c = make(session, admin, now, mes, secrets={"access_token": "wrong"})
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.login_failed" and "token invalid" in h["error"]["params"]["message"]


def test_an_error_answer_fails_the_run_and_keeps_the_cursor(session, connection, admin, now, mes, flowing):
    mes.work_orders += [wo("WO-001", "SO-1001", 100, 60, "2026-11-23 09:00:00")]
    c = make(session, admin, now, mes)
    mes.fail_next = {"code": 5003, "message": "数据库忙"}
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert (h["error"]["code"], h["error"]["params"]["message"]) == ("vendor.api_error", "数据库忙")
    assert cursor(session, c.id) == {}
    assert run(connection, c.id, now).updated_count == 1
