"""What-if replay of a changed flow (SQLite and PostgreSQL): orders run the published flow for real
(service use cases, past moments), a draft lowers the director's threshold, and the replay shows the
orders whose path changes, to-dos per assignee, step durations and what is estimated; bad input
answers 4xx in the user's language; nothing is written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.errors import GendanError
from backend.flows import service, service_instance
from backend.flows.models import FlowDefinitionRow, FlowInstance, FlowTimer
from backend.flows.schemas import TaskAction
from backend.inbox.models import InboxItem
from backend.notify.models import Notification, OutboxMessage
from backend.orders.models import Order, OrderEvent
from backend.replay import flows
from tests.backend.flows.test_service import actor_of, open_items, org, publish, simple_flow, task_id  # noqa: F401
from tests.conftest import login
from tests.factories.orders import make_order

WRITTEN = (Order, OrderEvent, InboxItem, Notification, OutboxMessage, FlowInstance, FlowTimer, FlowDefinitionRow)


def lowered(threshold=50_000):
    draft = simple_flow()
    draft["edges"][2]["condition"] = {">=": [{"var": "amount"}, threshold]}
    return draft


def run_orders(session, org, now):  # noqa: F811 (the fixture)
    """Three orders through the published flow: 150,000 (director decides after 20 h), 70,000 and 20,000."""
    publish(session, org, now=now - timedelta(days=30))
    orders = {}
    for n, (amount, start) in enumerate(((150_000, 10), (70_000, 8), (20_000, 6))):
        at = now - timedelta(days=start)
        order = make_order(session, owner=org["rep"], amount=amount, at=at, number=f"FWI-{n}-{amount}")
        instance = service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=at)
        [item] = open_items(session, org["manager"])
        service_instance.act_on_task(session, actor=actor_of(org["manager"]), instance_id=instance.id,
                                     task_id=task_id(item), body=TaskAction(action="approve"),
                                     now=at + timedelta(hours=1))
        if amount >= 100_000:
            item = open_items(session, org["director"])[0]
            service_instance.act_on_task(session, actor=actor_of(org["director"], "approver"),
                                         instance_id=instance.id, task_id=task_id(item),
                                         body=TaskAction(action="approve"), now=at + timedelta(hours=21))
        [ship] = open_items(session, org["warehouse"])
        service_instance.act_on_task(session, actor=actor_of(org["warehouse"], "warehouse"), instance_id=instance.id,
                                     task_id=task_id(ship), now=at + timedelta(hours=30),
                                     body=TaskAction(action="complete", values={"data.tracking_no": f"SF{n}"}))
        orders[amount] = order
    session.commit()
    return orders


def counts(session):
    return {m.__tablename__: session.execute(select(func.count()).select_from(m)).scalar_one() for m in WRITTEN}


def test_a_lower_threshold_shows_the_new_director_step_and_writes_nothing(session, org, now):  # noqa: F811 (the fixture)
    orders = run_orders(session, org, now)
    designer = actor_of(org["designer"], "designer", "admin")
    service.save_draft(session, actor=designer, key="order", definition=lowered(), now=now)
    session.commit()
    states = dict(session.execute(select(FlowInstance.id, FlowInstance.state)).all())
    before = counts(session)

    result = flows.flow_what_if(session, actor=designer, key="order", weeks=4, now=now)

    assert result["orders"] == 3 and not result["truncated"] and not result["orders_capped"]
    assert result["changed_paths_count"] == 1
    assert [o["number"] for o in result["changed_paths"]] == [orders[70_000].number]
    [director] = result["steps"]
    assert director["node_key"] == "director" and director["now_reached_count"] == 1
    assert director["now_reached"] == [{"id": orders[70_000].id, "number": orders[70_000].number}]
    todos = {t["assignee"]: (t["before"], t["after"]) for t in result["todos"]}
    # the role has two approvers (any of them): each reached visit gives both a to-do
    assert todos["role:approver"] == (2, 4)
    assert todos["manager_chain"] == (3, 3) and todos["role:warehouse"] == (3, 3)
    durations = {d["node_key"]: d for d in result["durations"]}
    assert (durations["director"]["count_before"], durations["director"]["count_after"]) == (1, 2)
    assert durations["director"]["median_before_h"] == 20.0 and durations["director"]["estimated_after"] == 1
    assert durations["ship"]["median_before_h"] == 29.0
    [estimate] = result["estimates"]
    assert (estimate["node_key"], estimate["basis"], estimate["samples"], estimate["hours"], estimate["orders"]) \
        == ("director", "step", 1, 20.0, 1)
    assert {o["status"]: (o["before"], o["after"]) for o in result["outcomes"]} == {"completed": (3, 3)}
    assert result["total"]["median_before_h"] == 30.0
    assert result["stuck_count"] == 0

    # nothing real was changed
    session.expire_all()
    assert counts(session) == before
    assert dict(session.execute(select(FlowInstance.id, FlowInstance.state)).all()) == states


def test_a_step_the_history_cannot_answer_is_reported_stuck(session, org, now):  # noqa: F811 (the fixture)
    run_orders(session, org, now)
    draft = simple_flow()
    # the warehouse must now fill a field nobody ever filled
    draft["nodes"][4]["required_fields"] = ["data.tracking_no", "planned_delivery"]
    result = flows.flow_what_if(session, actor=actor_of(org["designer"], "designer"), key="order", weeks=4, now=now,
                                definition=draft)
    assert result["stuck_count"] == 3
    assert {(s["node_key"], s["reason"]) for s in result["stuck"]} == {("ship", "flow.required_fields_missing")}
    assert {o["status"]: (o["before"], o["after"]) for o in result["outcomes"]} == {"completed": (3, 0),
                                                                                   "stuck": (0, 3)}


def test_refusals(session, org, now):  # noqa: F811 (the fixture)
    run_orders(session, org, now)
    designer = actor_of(org["designer"], "designer")
    for weeks in (0, 13, "4", None):
        with pytest.raises(GendanError) as err:
            flows.flow_what_if(session, actor=designer, key="order", weeks=weeks, now=now, definition=lowered())
        assert err.value.code == "whatif.weeks_out_of_range"
    with pytest.raises(GendanError) as err:
        flows.flow_what_if(session, actor=designer, key="order", weeks=2, now=now)
    assert err.value.code == "whatif.flow_nothing_to_compare"
    with pytest.raises(GendanError) as err:
        flows.flow_what_if(session, actor=designer, key="nope", weeks=2, now=now)
    assert err.value.code == "flow.not_found"
    service.save_draft(session, actor=designer, key="fresh", definition={**lowered(), "key": "fresh"}, now=now)
    with pytest.raises(GendanError) as err:
        flows.flow_what_if(session, actor=designer, key="fresh", weeks=2, now=now)
    assert (err.value.code, err.value.status) == ("whatif.flow_not_published", 409)
    with pytest.raises(GendanError) as err:
        flows.flow_what_if(session, actor=actor_of(org["rep"]), key="order", weeks=2, now=now, definition=lowered())
    assert err.value.code == "auth.forbidden"
    broken = lowered()
    broken["edges"] = broken["edges"][:-1]  # ship leads nowhere
    with pytest.raises(GendanError) as err:
        flows.flow_what_if(session, actor=designer, key="order", weeks=2, now=now, definition=broken)
    assert err.value.code == "flow.definition_invalid" and err.value.status == 422
    huge = {"nodes": [{"type": "task", "key": f"n{i}"} for i in range(flows.MAX_NODES + 1)], "edges": []}
    with pytest.raises(GendanError) as err:
        flows.flow_what_if(session, actor=designer, key="order", weeks=2, now=now, definition=huge)
    assert err.value.code == "whatif.flow_too_large"
    deep = lowered()
    condition = {">=": [{"var": "amount"}, 1]}
    for _ in range(400):
        condition = {"!": [condition]}
    deep["edges"][2]["condition"] = condition
    with pytest.raises(GendanError) as err:
        flows.flow_what_if(session, actor=designer, key="order", weeks=2, now=now, definition=deep)
    assert (err.value.code, err.value.status) == ("whatif.flow_too_deep", 422)


def test_over_http_in_the_users_language(client, session, org):  # noqa: F811 (the fixture)
    from backend.clock import utcnow

    run_orders(session, org, utcnow())
    org["designer"].username = "fwi_designer"
    session.commit()
    login(client, "fwi_designer")
    url = "/api/v1/flows/order/whatif"
    zh = client.post(url, json={"weeks": 2}, headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 409
    assert zh.json()["error"]["message"] == "流程 order 没有可试的草稿：请先修改流程并保存草稿。"
    en = client.post(url, json={"weeks": 2}, headers={"Accept-Language": "en"})
    assert "save a draft" in en.json()["error"]["message"]
    for body in ({"weeks": 0}, {"weeks": 99}, {"weeks": "x"}, {"weeks": 2, "definition": "x"}, {"extra": 1}):
        assert client.post(url, json=body).status_code == 422
    assert client.post(url, json={"weeks": 2, "definition": {"nodes": "x" * 300_000}}).status_code == 413
    deep: dict = {"var": "amount"}
    for _ in range(300):
        deep = {"!": [deep]}
    too_deep = client.post(url, json={"weeks": 2, "definition": {**lowered(), "x": deep}},
                           headers={"Accept-Language": "zh-CN"})
    assert too_deep.status_code == 422 and too_deep.json()["error"]["message"] == "流程嵌套过深（条件最多 64 层）。"
    assert client.post(url, content=b"[" * 100_000, headers={"Content-Type": "application/json"}).status_code in (400, 422)
    ok = client.post(url, json={"weeks": 4, "definition": lowered()}, headers={"Accept-Language": "en"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["changed_paths_count"] == 1
    page = client.get("/designer/flows/order/whatif?weeks=99", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Replay between 1 and 12 weeks." in page.text
