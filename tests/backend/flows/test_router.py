"""Flow API and pages over HTTP: publish errors name nodes, actions, conflicts, export, pages."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from backend.flows import service_instance
from backend.inbox.models import InboxItem
from tests.conftest import bearer, login
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user

DATA = Path(__file__).resolve().parents[2] / "engine" / "data" / "flows"


def two_step_flow():
    return {
        "nodes": [
            {"type": "start", "key": "start"},
            {"type": "approval", "key": "boss", "name": {"en": "Boss", "zh-CN": "老板"},
             "assignees": [{"kind": "manager_chain", "levels": 1}]},
            {"type": "end", "key": "end"},
        ],
        "edges": [{"key": "e1", "source": "start", "target": "boss"}, {"key": "e2", "source": "boss", "target": "end"}],
    }


def setup_people(session):
    make_user(session, username="designer", roles=["designer", "admin"])
    boss = make_user(session, username="boss", roles=["sales"], display_name="Boss Person")
    dept = make_department(session, head=boss)
    rep = make_user(session, username="rep", roles=["sales"], department=dept)
    make_user(session, username="other", roles=["approver"])
    session.commit()
    return boss, rep


class TestDefinitionsApi:
    def test_bad_graph_is_refused_at_publish_with_the_nodes_named(self, client, session):
        setup_people(session)
        auth = {**bearer(client, "designer"), "Accept-Language": "en"}
        bad = json.loads((DATA / "bad_graph.json").read_text())
        saved = client.put("/api/v1/flows/bad/draft", json=bad, headers=auth)
        assert saved.status_code == 200, saved.text
        resp = client.post("/api/v1/flows/bad/publish", headers=auth)
        assert resp.status_code == 422
        error = resp.json()["error"]
        assert error["code"] == "flow.definition_invalid"
        by_code = {f["code"]: f for f in error["fields"].values()}
        assert by_code["flow.unreachable_node"]["params"]["nodes"] == ["orphan"]
        assert by_code["flow.cycle_without_exit"]["params"]["nodes"] == ["loop_a", "loop_b"]
        assert by_code["flow.no_end"]["message"] == "The flow needs an end."

    def test_validate_messages_in_chinese(self, client, session):
        setup_people(session)
        auth = {**bearer(client, "designer"), "Accept-Language": "zh-CN"}
        definition = {**two_step_flow(), "key": "order"}
        definition["nodes"] = definition["nodes"][:2]
        issues = client.post("/api/v1/flows/validate", json=definition, headers=auth).json()
        no_end = next(i for i in issues if i["code"] == "flow.no_end")
        assert no_end["message"] == "流程需要一个结束节点。"

    def test_shape_error_is_a_422_with_paths(self, client, session):
        setup_people(session)
        auth = bearer(client, "designer")
        resp = client.put("/api/v1/flows/x/draft", json={"nodes": [{"type": "rocket", "key": "r"}]}, headers=auth)
        assert resp.status_code == 422
        assert all(f["code"] == "flow.schema_invalid" for f in resp.json()["error"]["fields"].values())

    def test_a_hostile_depth_is_a_422_in_words_not_a_500(self, client, session):
        setup_people(session)
        auth = {**bearer(client, "designer"), "Content-Type": "application/json", "Accept-Language": "zh-CN"}
        # 400 nested "not"s: under the JSON parser's limit, far past storing (it failed with a 500)
        condition = '{"!":[' * 400 + '{"==":[1,1]}' + ']}' * 400
        body = ('{"key": "deep", "nodes": [{"type": "start", "key": "s", "stage": "draft"}, '
                '{"type": "end", "key": "e", "stage": "completed"}], '
                '"edges": [{"key": "e1", "source": "s", "target": "e", "condition": ' + condition + '}]}')
        resp = client.put("/api/v1/flows/deep/draft", content=body, headers=auth)
        assert resp.status_code == 422
        (field,) = resp.json()["error"]["fields"].values()
        assert field["code"] == "flow.too_deep" and field["message"] == "流程嵌套层数过多：最多 64 层（含条件）。"
        issues = client.post("/api/v1/flows/validate", content=body, headers=auth).json()
        assert [i["code"] for i in issues] == ["flow.too_deep"]
        assert client.get("/api/v1/flows/deep/versions", headers=auth).json() == []  # nothing stored

    def test_sales_cannot_design(self, client, session):
        setup_people(session)
        resp = client.put("/api/v1/flows/order/draft", json=two_step_flow(), headers=bearer(client, "rep"))
        assert resp.status_code == 403

    def test_export_and_import_bpmn(self, client, session):
        setup_people(session)
        auth = bearer(client, "designer")
        client.put("/api/v1/flows/order/draft", json=two_step_flow(), headers=auth)
        assert client.post("/api/v1/flows/order/publish", headers=auth).status_code == 200
        xml = client.get("/api/v1/flows/order/versions/1/export?format=bpmn", headers=auth)
        assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
        assert 'filename="order-v1.bpmn"' in xml.headers["content-disposition"]
        imported = client.post("/api/v1/flows/copy/import", content=xml.content,
                               headers={**auth, "Content-Type": "application/xml"})
        assert imported.status_code == 201, imported.text
        assert [n["key"] for n in imported.json()["definition"]["nodes"]] == ["start", "boss", "end"]
        versions = client.get("/api/v1/flows/order/versions", headers=auth).json()
        assert [(v["version"], v["status"]) for v in versions] == [(1, "published")]


class TestRunningApi:
    def test_approve_over_http_and_second_attempt_conflicts(self, client, session, now):
        boss, rep = setup_people(session)
        auth = bearer(client, "designer")
        client.put("/api/v1/flows/order/draft", json=two_step_flow(), headers=auth)
        client.post("/api/v1/flows/order/publish", headers=auth)
        order = make_order(session, owner=rep)
        session.commit()
        started = client.post(f"/api/v1/orders/{order.id}/flows", headers=bearer(client, "rep"))
        assert started.status_code == 201, started.text
        instance = started.json()
        assert instance["active_nodes"] == ["boss"]
        task = next(t for t in instance["tasks"] if t["status"] == "pending")
        assert task["assignee_name"] == "Boss Person"
        url = f"/api/v1/flow-instances/{instance['id']}/tasks/{task['id']}"
        boss_auth = {**bearer(client, "boss"), "Accept-Language": "en"}
        done = client.post(url, json={"action": "approve", "note": "ok"}, headers=boss_auth)
        assert done.status_code == 200 and done.json()["status"] == "completed"
        again = client.post(url, json={"action": "approve"}, headers=boss_auth)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "flow.task_closed"
        assert again.json()["error"]["message"] == "This to-do is already closed (approved)."
        history = client.get(f"/api/v1/orders/{order.id}/flows", headers=boss_auth).json()[0]["history"]
        assert [(h["action"], h["actor_name"]) for h in history if h["action"] == "approved"] == [
            ("approved", "Boss Person")]

    def test_someone_else_cannot_act(self, client, session, now):
        boss, rep = setup_people(session)
        auth = bearer(client, "designer")
        client.put("/api/v1/flows/order/draft", json=two_step_flow(), headers=auth)
        client.post("/api/v1/flows/order/publish", headers=auth)
        order = make_order(session, owner=rep)
        instance = service_instance.start_flow(session, order=order, actor=None, now=now)
        session.commit()
        item = session.exec(select(InboxItem).where(InboxItem.flow_instance_id == instance.id)).scalars().one()
        resp = client.post(f"/api/v1/flow-instances/{instance.id}/tasks/{item.payload['task_id']}",
                           json={"action": "approve"}, headers=bearer(client, "designer"))
        assert resp.status_code == 403
        assert resp.json()["error"]["code"] == "flow.not_assignee"


class TestPages:
    def test_designer_page_and_order_flow_page(self, app, client, session, now):
        from fastapi.testclient import TestClient

        boss, rep = setup_people(session)
        auth = bearer(client, "designer")
        client.put("/api/v1/flows/order/draft", json=two_step_flow(), headers=auth)
        client.post("/api/v1/flows/order/publish", headers=auth)
        order = make_order(session, owner=rep, number="PG-1")
        instance = service_instance.start_flow(session, order=order, actor=None, now=now)
        session.commit()

        with TestClient(app, base_url="http://testserver") as designer_client:
            login(designer_client, "designer")
            page = designer_client.get("/designer/flows/order")
            assert page.status_code == 200
            assert "vendor/@logicflow/core/dist/index.min.js" in page.text
            assert '"key": "boss"' in page.text

        login(client, "boss")
        flow_page = client.get(f"/orders/{order.id}/flow")
        assert flow_page.status_code == 200
        assert 'data-node-key="boss" data-state="active" aria-current="step"' in flow_page.text
        fragment = client.get(f"/orders/{order.id}/flow", headers={"HX-Request": "true"})
        assert fragment.text.lstrip().startswith("{#") is False and "<html" not in fragment.text
        task_id = next(t for t in service_instance.instance_read(session, instance).tasks).id
        resp = client.post(f"/orders/{order.id}/flow/tasks/{task_id}", data={
            "csrf_token": client.headers["X-CSRF-Token"], "action": "approve", "note": "fine"},
            follow_redirects=False)
        assert resp.status_code == 303
        detail = client.get(f"/orders/{order.id}").text
        assert f'hx-get="/orders/{order.id}/flow"' in detail  # the order page loads the flow panel
        after = client.get(f"/orders/{order.id}/flow").text
        assert 'data-node-key="end" data-state="done"' in after
        assert 'aria-current="step"' not in after

    def test_designer_page_needs_the_designer_role(self, client, session):
        setup_people(session)
        login(client, "rep")
        assert client.get("/designer/flows/order").status_code == 403
