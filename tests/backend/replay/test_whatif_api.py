"""What-if replay over HTTP (SQLite and PostgreSQL): a lowered threshold fires on more orders,
bounds and broken drafts answer clearly, and nothing is written."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from backend.clock import utcnow
from backend.inbox.models import InboxItem
from backend.orders.models import OrderEvent
from backend.rules.models import RuleFiring, RuleOrderState
from tests.conftest import login
from tests.factories.orders import make_order
from tests.factories.people import make_user


def big_order_rule(threshold, key="whatif_big"):
    return {
        "key": key, "name": {"zh": "大额订单", "en": "Big order"},
        "trigger": {"kind": "event", "events": ["order_created", "field_changed"]},
        "condition": {">": [{"var": "amount"}, threshold]},
        "actions": [{"type": "create_todo", "assignee": {"kind": "role", "role": "finance"},
                     "title_template": {"en": "Check {{ order.number }}", "zh": "核对 {{ order.number }}"}}],
        "firing": {"mode": "once_per_episode"},
    }


def seed(session, client, username):
    make_user(session, username=username, roles=("admin", "designer"))
    rep = make_user(session, username=username + "_rep", roles=("sales",))
    now = utcnow()
    orders = {}
    for amount, days in ((3000, 3), (7000, 5), (12000, 8), (20000, 60)):
        order = make_order(session, owner=rep, stage="approval", amount=amount, at=now - timedelta(days=days),
                           number=f"WI-{username}-{amount}")
        session.add(OrderEvent(order_id=order.id, type="created", at=order.created_at,
                               after={"amount": f"{amount}.00", "stage": "approval", "status": "open", "data": {}}))
        orders[amount] = order
    session.commit()
    login(client, username)
    assert client.post("/api/v1/rules", json=big_order_rule(10000)).status_code == 201
    assert client.post("/api/v1/rules/whatif_big/publish").status_code == 200
    return orders


def test_lowering_the_threshold_shows_the_added_orders_and_todos(client, session):
    orders = seed(session, client, "whatif_admin")
    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201

    answer = client.post("/api/v1/rules/whatif_big/whatif", json={"weeks": 4}, headers={"Accept-Language": "en"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    rule = body["rule"]
    assert body["has_published"] and not body["truncated"]
    # the 20000 order was created 60 days ago: before the window, so neither version fires on it
    assert (rule["orders_before"], rule["orders_after"]) == (1, 2)
    assert [o["number"] for o in rule["added"]] == [orders[7000].number] and rule["removed"] == []
    assert rule["todos"] == [{"assignee": "role:finance", "label": "everyone with the role finance",
                              "before": 1, "after": 2}]
    # a changed definition can be tried without saving it
    higher = client.post("/api/v1/rules/whatif_big/whatif", json={"weeks": 4, "definition": big_order_rule(15000)})
    assert [o["number"] for o in higher.json()["rule"]["removed"]] == [orders[12000].number]
    # nothing was written
    for model in (RuleFiring, RuleOrderState, InboxItem):
        assert session.execute(select(func.count()).select_from(model)).scalar_one() == 0


def test_bounds_and_broken_drafts_answer_clearly(client, session):
    seed(session, client, "whatif_admin2")
    nothing = client.post("/api/v1/rules/whatif_big/whatif", json={"weeks": 2}, headers={"Accept-Language": "en"})
    assert nothing.status_code == 409
    assert nothing.json()["error"]["code"] == "whatif.nothing_to_compare"
    assert "save a draft" in nothing.json()["error"]["message"]
    zh = client.post("/api/v1/rules/whatif_big/whatif", json={}, headers={"Accept-Language": "zh-CN"})
    assert zh.json()["error"]["message"] == "规则 whatif_big 没有可试的草稿：请先修改规则并保存草稿。"

    for weeks in (0, 13, "many", 10**9):
        assert client.post("/api/v1/rules/whatif_big/whatif", json={"weeks": weeks}).status_code == 422
    assert client.post("/api/v1/rules/nope/whatif", json={"weeks": 2}).status_code == 404

    broken = big_order_rule(5000)
    broken["condition"] = {">": [{"var": "no_such_fact"}, 1]}
    answer = client.post("/api/v1/rules/whatif_big/whatif", json={"weeks": 2, "definition": broken})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "rule.definition_invalid"
    assert "condition.>.0" in str(answer.json()["error"]["fields"]) or answer.json()["error"]["fields"]
    garbage = client.post("/api/v1/rules/whatif_big/whatif", json={"weeks": 2, "definition": {"trigger": 5}})
    assert garbage.status_code == 422


def test_only_designers_may_replay(client, session):
    make_user(session, username="whatif_rep_only", roles=("sales",))
    session.commit()
    login(client, "whatif_rep_only")
    assert client.post("/api/v1/rules/whatif_big/whatif", json={"weeks": 2}).status_code == 403


def test_the_page_shows_the_difference_and_says_what_is_wrong(client, session):
    orders = seed(session, client, "whatif_admin3")
    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201
    page = client.get("/designer/rules/whatif_big/whatif?weeks=4", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Would fire now, did not before (1)" in page.text and orders[7000].number in page.text
    zh = client.get("/designer/rules/whatif_big/whatif?weeks=4", headers={"Accept-Language": "zh-CN"})
    assert "现在会触发、以前不会（1）" in zh.text
    for weeks in ("99", "0", "abc", "9" * 50):
        bad = client.get(f"/designer/rules/whatif_big/whatif?weeks={weeks}", headers={"Accept-Language": "en"})
        assert bad.status_code == 200 and "Replay between 1 and 12 weeks." in bad.text
    broken = big_order_rule(5000)
    broken["condition"] = {">": [{"var": "no_such_fact"}, 1]}
    assert client.post("/api/v1/rules", json=broken).status_code == 201  # a draft may hold problems
    page = client.get("/designer/rules/whatif_big/whatif?weeks=4", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and 'id="whatif-error"' in page.text


def test_the_rule_set_replays_every_draft_and_lists_a_broken_one(client, session):
    orders = seed(session, client, "whatif_admin4")
    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201
    assert client.post("/api/v1/rules", json=big_order_rule(2000, key="whatif_new")).status_code == 201
    broken = big_order_rule(1, key="whatif_broken")
    broken["condition"] = {">": [{"var": "no_such_fact"}, 1]}
    assert client.post("/api/v1/rules", json=broken).status_code == 201
    answer = client.post("/api/v1/rules/whatif", json={"weeks": 4}, headers={"Accept-Language": "en"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    rules = {r["key"]: r for r in body["rules"]}
    assert [o["number"] for o in rules["whatif_big"]["added"]] == [orders[7000].number]
    assert rules["whatif_new"]["orders_before"] == 0 and rules["whatif_new"]["orders_after"] == 3
    assert [(r["key"], r["code"]) for r in body["refused"]] == [("whatif_broken", "rule.definition_invalid")]
    assert client.post("/api/v1/rules/whatif", json={"weeks": 13}).status_code == 422


def test_hostile_keys_and_definitions_never_answer_5xx(client, session):
    seed(session, client, "whatif_admin5")
    for key in ("a%00b", "x" * 3000, "%E4%B8%AD"):
        assert client.post(f"/api/v1/rules/{key}/whatif", json={"weeks": 2}).status_code in (404, 422)
    for definition in ({"condition": {"var": "\u0000"}}, {"key": "whatif_big", "condition": [[[[[[]]]]]] * 50},
                       {"trigger": {"kind": "time"}, "condition": {"in": ["a", "b"]}, "actions": "x"}):
        answer = client.post("/api/v1/rules/whatif_big/whatif", json={"weeks": 2, "definition": definition})
        assert answer.status_code == 422, answer.text


def test_the_rule_set_page_lists_every_draft(client, session):
    orders = seed(session, client, "whatif_admin6")
    assert client.post("/api/v1/rules", json=big_order_rule(5000)).status_code == 201
    listing = client.get("/designer/rules", headers={"Accept-Language": "en"})
    assert 'href="/designer/whatif"' in listing.text
    page = client.get("/designer/whatif?weeks=4", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert 'id="whatif-whatif_big-added"' in page.text and orders[7000].number in page.text
    bad = client.get("/designer/whatif?weeks=40", headers={"Accept-Language": "zh-CN"})
    assert bad.status_code == 200 and "回放周数须在 1 到 12 之间。" in bad.text
