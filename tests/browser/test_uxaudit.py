"""The user walkthrough audit (branch uxaudit): what a role met on a phone or in zh-CN that blocked
or confused it, each checked the way that person uses the page."""

from __future__ import annotations

from datetime import UTC, date, datetime

from playwright.sync_api import Page, expect

from backend.auth.actor import Actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PHONE = {"width": 390, "height": 844}


def _actor(user, roles) -> Actor:
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name, roles=frozenset(roles),
                 department_id=user.department_id)


def _planned_delivery_flow(key: str) -> dict:
    """One warehouse step that asks for the order's planned delivery date (a column, not a form field)."""
    nodes = [{"type": "start", "key": "start", "x": 100, "y": 100},
             {"type": "task", "key": "produce", "name": {"en": "UXA produce", "zh-CN": "UXA 下生产单"},
              "assignees": [{"kind": "users", "user_ids": []}], "required_fields": ["planned_delivery"],
              "x": 280, "y": 100},
             {"type": "end", "key": "end", "x": 460, "y": 100}]
    edges = [{"key": "e1", "source": "start", "target": "produce"}, {"key": "e2", "source": "produce", "target": "end"}]
    return {"key": key, "name": {"en": "UXA flow", "zh-CN": "UXA 流程"}, "nodes": nodes, "edges": edges}


def test_uxaudit_order_page_todo_asks_for_the_planned_delivery_by_name_with_a_date(page: Page, base_url, seed):
    """The warehouse's to-do on the order page asked for `planned_delivery` in a bare text box, empty
    although the order had a date; typing 明天 there answered 500. Now it reads 计划交期, is a date
    input holding the order's date, and completing it moves the flow on."""
    keeper = make_user(seed, username="uxa.keeper", roles=["warehouse"], locale="zh_CN", display_name="UXA 仓管")
    rep = make_user(seed, username="uxa.rep1", roles=["sales"], locale="zh_CN")
    designer = make_user(seed, username="uxa.designer1", roles=["designer", "admin"])
    order = make_order(seed, owner=rep, number="UXA-PD-1", customer=make_customer(seed, name="UXA 客户一"),
                       planned_delivery=date(2027, 1, 10))
    definition = _planned_delivery_flow("uxa_pd")
    definition["nodes"][1]["assignees"] = [{"kind": "users", "user_ids": [keeper.id]}]
    now = datetime.now(UTC)
    flows_service.save_draft(seed, actor=_actor(designer, {"designer", "admin"}), key="uxa_pd",
                             definition=definition, now=now)
    flows_service.publish_flow(seed, actor=_actor(designer, {"designer", "admin"}), key="uxa_pd", now=now)
    service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=_actor(rep, {"sales"}), now=now,
                                key="uxa_pd")
    seed.commit()

    page.set_viewport_size(PHONE)
    sign_in(page, base_url, keeper.username)
    page.goto(f"{base_url}/orders/{order.id}")
    todo = page.locator("form.flow-task")
    expect(todo).to_contain_text("UXA 下生产单")
    expect(todo).not_to_contain_text("planned_delivery")
    field = todo.get_by_label("计划交期")
    expect(field).to_have_attribute("type", "date")
    expect(field).to_have_value("2027-01-10")
    field.fill("2027-01-20")
    todo.get_by_role("button", name="完成").click()
    expect(page.locator(".flow-status")).to_contain_text("已完成")
    seed.expire_all()
    assert seed.get(Order, order.id).planned_delivery == date(2027, 1, 20)
