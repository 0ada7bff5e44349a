"""Rule API through the app: drafts, validation, dry run, publish, enable with confirmation, errors."""

from __future__ import annotations

from datetime import timedelta

from backend.clock import utcnow
from tests.backend.rules.test_service import approval_timeout
from tests.conftest import login
from tests.factories.orders import make_order
from tests.factories.people import make_user


def test_rule_lifecycle_over_http(client, session):
    make_user(session, username="rules_admin", roles=("admin", "designer"))
    rep = make_user(session, username="rules_rep", roles=("sales",))
    now = utcnow()
    make_order(session, owner=rep, stage="approval", at=now - timedelta(hours=40))
    make_order(session, owner=rep, stage="approval", at=now - timedelta(hours=1))
    session.commit()
    login(client, "rules_admin")

    bad = client.post("/api/v1/rules/validate", json=approval_timeout(condition={"<": [{"var": "payment_due"}, "soon"]}))
    assert bad.status_code == 200
    assert [(i["path"], i["code"]) for i in bad.json()] == [("condition.<", "logic.type_mismatch")]

    created = client.post("/api/v1/rules", json=approval_timeout())
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft" and created.json()["issues"] == []

    dry = client.post("/api/v1/rules/dry-run", json=approval_timeout())
    assert dry.status_code == 200 and dry.json()["count"] == 1 and dry.json()["compiled_to_sql"]

    enable_draft = client.post("/api/v1/rules/approval_timeout/enable", json={})
    assert enable_draft.status_code == 409
    assert enable_draft.json()["error"]["code"] == "rule.not_published"

    assert client.post("/api/v1/rules/approval_timeout/publish").status_code == 200
    enabled = client.post("/api/v1/rules/approval_timeout/enable", json={})
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    assert client.get("/api/v1/rules").json()[0]["key"] == "approval_timeout"
    assert client.get("/api/v1/rules/approval_timeout/firings").json() == []


def test_errors_are_translated(client, session):
    make_user(session, username="rules_admin2", roles=("admin",))
    session.commit()
    login(client, "rules_admin2")
    missing = client.post("/api/v1/rules/nope/publish", headers={"Accept-Language": "zh-CN"})
    assert missing.status_code == 404
    body = missing.json()["error"]
    assert body["code"] == "rule.not_found" and body["params"] == {"key": "nope"}
    assert body["message"] == "未找到规则 nope。"
    invalid = client.post("/api/v1/rules", json={"key": "x"}, headers={"Accept-Language": "en"})
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "rule.definition_invalid"


def test_schema_problems_are_named_per_field_in_the_users_language(client, session):
    make_user(session, username="rules_admin3", roles=("admin",))
    session.commit()
    login(client, "rules_admin3")
    broken = approval_timeout(actions=[{"type": "start_flow", "flow_key": ""}], firing={"mode": "sometimes"})
    response = client.post("/api/v1/rules", json=broken, headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert fields["actions.0.start_flow.flow_key"]["message"] == "此项不能为空。"
    assert fields["firing.mode"]["message"] == "请从给出的选项中选择。"
