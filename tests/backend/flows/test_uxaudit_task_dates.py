"""A flow to-do's value for one of the order's date columns that is not a date is a 422 in the
reader's language, over the API (it was a 500: the order's column could not hold it)."""

from __future__ import annotations

from tests.conftest import bearer
from tests.factories.orders import make_order
from tests.factories.people import make_user


def _flow():
    return {"nodes": [
        {"type": "start", "key": "start"},
        {"type": "task", "key": "plan", "name": {"en": "Plan", "zh-CN": "排产"},
         "assignees": [{"kind": "role", "role": "warehouse"}], "required_fields": ["planned_delivery"]},
        {"type": "end", "key": "end"}],
        "edges": [{"key": "e1", "source": "start", "target": "plan"}, {"key": "e2", "source": "plan", "target": "end"}]}


def test_uxaudit_a_non_date_for_the_planned_delivery_is_a_422_in_words(client, session):
    make_user(session, username="designer", roles=["designer", "admin"])
    rep = make_user(session, username="rep", roles=["sales"])
    make_user(session, username="keeper", roles=["warehouse"])
    session.commit()
    auth = bearer(client, "designer")
    client.put("/api/v1/flows/order/draft", json=_flow(), headers=auth)
    assert client.post("/api/v1/flows/order/publish", headers=auth).status_code == 200
    order = make_order(session, owner=rep)
    session.commit()
    instance = client.post(f"/api/v1/orders/{order.id}/flows", headers=bearer(client, "rep")).json()
    task = next(t for t in instance["tasks"] if t["status"] == "pending")
    url = f"/api/v1/flow-instances/{instance['id']}/tasks/{task['id']}"
    keeper = {**bearer(client, "keeper"), "Accept-Language": "zh-CN"}
    refused = client.post(url, json={"action": "complete", "values": {"planned_delivery": "明天"}}, headers=keeper)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "flow.field_not_a_date"
    assert refused.json()["error"]["message"].startswith("这些字段需要填写日期")
    done = client.post(url, json={"action": "complete", "values": {"planned_delivery": "2027-01-20"}}, headers=keeper)
    assert done.status_code == 200, done.text
    session.expire_all()
    assert str(session.get(type(order), order.id).planned_delivery) == "2027-01-20"
