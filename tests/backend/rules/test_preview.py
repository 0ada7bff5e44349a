"""Rule preview on one order (SQLite and PostgreSQL): rendered texts, people by name, translated
template problems, the first order as default, and the HTTP endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.inbox.models import InboxItem
from backend.rules import matching
from tests.conftest import login
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user


def actor_of(user, *roles) -> Actor:
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                 roles=frozenset(roles or ("sales",)), department_id=user.department_id)


def approval_timeout(**overrides):
    rule = {"key": "approval_timeout", "name": {"zh": "审批超时", "en": "Approval time-out"}, "trigger": {"kind": "time"},
            "condition": {"and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "hours_in_stage"}, 24]}]},
            "actions": [], "firing": {"mode": "once_per_episode"}}
    return {**rule, **overrides}


@pytest.fixture
def org(session):
    """An approver whose department head is Boss, a sales rep without a manager, an admin."""
    boss = make_user(session, roles=("approver",), display_name="Boss")
    approver = make_user(session, roles=("approver",), department=make_department(session, head=boss),
                         display_name="Approver")
    rep = make_user(session, roles=("sales",), display_name="Rep")
    admin = make_user(session, roles=("admin", "designer"), display_name="Admin")
    return {"approver": approver, "rep": rep, "admin": actor_of(admin, "admin", "designer")}


def waiting_order(session, org, now, hours):
    """An order in approval for `hours`, with an open approval to-do for the approver."""
    order = make_order(session, owner=org["rep"], stage="approval", at=now - timedelta(hours=hours))
    session.add(InboxItem(dedupe_key=f"flow:approval:{order.id}", order_id=order.id, assignee_id=org["approver"].id,
                          kind="approval", title="Approve", created_at=now))
    session.flush()
    return order


def every_action(**overrides):
    actions = [
        {"type": "create_todo", "assignee": {"kind": "current_approver"}, "cc": [{"kind": "current_approver_manager"}],
         "title_template": "Approve {{ order.number }}", "body_template": "Stage {{ order.stage }}"},
        {"type": "notify", "recipients": [{"kind": "owner"}], "channels": ["in_app", "email"],
         "title_template": "{{ order.number }} is waiting"},
        {"type": "message_customer", "subject_template": "Your order {{ order.number }}",
         "body_template": "Amount {{ order.amount }}"},
        {"type": "add_risk_flag", "flag": "slow_approval", "reason_template": "{{ order.hours_in_stage | int }} h"},
        {"type": "escalate", "title_template": "Escalated {{ order.number }}"},
        {"type": "add_tag", "tag": "watch"},
        {"type": "set_field", "field": "payment_due", "value": "2026-12-31"},
        {"type": "call_webhook", "url": "https://example.com/hook"},
        {"type": "start_flow", "flow_key": "b2b"},
    ]
    return approval_timeout(actions=actions, **overrides)


def test_every_action_renders_on_the_order(session, org, now):
    order = waiting_order(session, org, now, 30)
    result = matching.preview_rule(session, actor=org["admin"], definition=every_action(), order=order.number, now=now)
    assert result.number == order.number and [a.type for a in result.actions] == [
        "create_todo", "notify", "message_customer", "add_risk_flag", "escalate", "add_tag", "set_field",
        "call_webhook", "start_flow"]
    todo, notify, message, flag, escalate, tag, set_field, hook, flow = result.actions
    assert todo.texts == {"title": f"Approve {order.number}", "body": "Stage approval"}
    assert todo.people == {"assignee_ids": ["Approver"], "cc_user_ids": ["Boss"]}
    assert notify.texts["title"] == f"{order.number} is waiting" and notify.people == {"user_ids": ["Rep"]}
    assert notify.effect["channels"] == ["in_app", "email"]
    assert message.texts == {"subject": f"Your order {order.number}", "body": "Amount 1000"}
    assert flag.texts == {"reason": "30 h"}
    # the owner has no manager: the escalation goes to the owner instead, and says so
    assert escalate.texts == {"title": f"Escalated {order.number}"} and escalate.people == {"assignee_ids": ["Rep"]}
    assert [p.code for p in escalate.problems] == ["rule.assignee_fallback"]
    assert escalate.problems[0].params["assignee"] == "owner_manager" and escalate.problems[0].params["to"] == "owner"
    assert tag.effect["tag"] == "watch" and set_field.effect["value"] == "2026-12-31"
    assert hook.effect["url"] == "https://example.com/hook" and flow.effect["flow_key"] == "b2b"
    assert all(not a.problems for a in result.actions if a.type != "escalate")


def test_a_missing_value_renders_empty_with_a_translated_problem_under_its_action(session, org, now):
    from backend import i18n

    order = waiting_order(session, org, now, 30)
    rule = every_action()
    rule["actions"][2]["body_template"] = "Incoterm {{ order.data.incoterm }}"
    token = i18n.set_locale("zh_CN")
    try:
        result = matching.preview_rule(session, actor=org["admin"], definition=rule, order=str(order.id), now=now)
    finally:
        i18n.reset_locale(token)
    message = result.actions[2]
    # a value this order lacks renders empty and is reported; the message still goes (issue 17)
    assert message.effect is not None and message.texts == {"subject": f"Your order {order.number}",
                                                            "body": "Incoterm "}
    assert [p.code for p in message.problems] == ["rule.template_missing_value"]
    assert message.problems[0].message == "此订单没有 order.data.incoterm 的值，文本中此处留空。"
    assert result.actions[4].problems[0].message == "此订单找不到符合“负责人的主管”的处理人，已改为发给“订单负责人”。"


def test_the_first_order_is_the_default_and_unknown_orders_are_refused(session, org, now):
    first = make_order(session, owner=org["rep"], stage="draft", at=now - timedelta(days=1))
    assert matching.first_order_number(session) is not None
    result = matching.preview_rule(session, actor=org["admin"], definition=every_action(), order="", now=now)
    assert result.number == matching.first_order_number(session)
    assert matching.find_order(session, first.number).id == first.id
    with pytest.raises(GendanError) as missing:
        matching.preview_rule(session, actor=org["admin"], definition=every_action(), order="NO-SUCH", now=now)
    assert missing.value.code == "order.not_found" and missing.value.status == 404
    with pytest.raises(GendanError) as forbidden:
        matching.preview_rule(session, actor=actor_of(org["rep"]), definition=every_action(), order=None, now=now)
    assert forbidden.value.code == "auth.forbidden"


def test_preview_over_http(client, session, now):
    make_user(session, username="preview_admin", roles=("admin", "designer"))
    rep = make_user(session, username="preview_rep", roles=("sales",), display_name="Rep Li")
    order = make_order(session, owner=rep, stage="production", number="PV-0001")
    session.commit()
    login(client, "preview_admin")
    rule = approval_timeout(actions=[{"type": "notify", "recipients": [{"kind": "owner"}],
                                      "title_template": "{{ order.number }} in {{ order.stage }}"}])
    ok = client.post("/api/v1/rules/preview", json={"definition": rule, "order": "PV-0001"})
    assert ok.status_code == 200, ok.text
    action = ok.json()["actions"][0]
    assert ok.json()["order_id"] == order.id
    assert action["texts"]["title"] == "PV-0001 in production" and action["people"] == {"user_ids": ["Rep Li"]}
    bad = client.post("/api/v1/rules/preview", json={"definition": {"key": "x"}, "order": "PV-0001"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "rule.definition_invalid"
    missing = client.post("/api/v1/rules/preview", json={"definition": rule, "order": "NOPE"},
                          headers={"Accept-Language": "en"})
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "Order NOPE was not found."
