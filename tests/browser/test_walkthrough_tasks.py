"""Walkthrough as warehouse staff on a phone: a flow task that asks for a designed field.

Found on the demo data: the production-progress to-do asked for "production_done_on *" (the field's
key) in a text box, where the order form calls it 生产完成日期 and it is a date.
"""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from backend.auth.actor import Actor
from backend.auth.service import load_actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.forms import service as forms_service
from backend.orders.models import Order
from tests.browser.test_walkthrough_order_edit import published_form  # noqa: F401 (fixture)
from tests.browser.test_walkthrough_phone import phone_page
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

FLOW = {
    "key": "walk_tasks",
    "name": {"zh-CN": "生产流程", "en": "Production flow"},
    "nodes": [
        {"type": "start", "key": "start", "stage": "draft"},
        {"type": "task", "key": "progress", "name": {"zh-CN": "生产进度", "en": "Production progress"},
         "stage": "production", "assignees": [{"kind": "role", "role": "warehouse"}],
         "required_fields": ["data.production_done_on"]},
        {"type": "end", "key": "end", "stage": "completed"},
    ],
    "edges": [{"key": "e1", "source": "start", "target": "progress"}, {"key": "e2", "source": "progress", "target": "end"}],
}
DONE_ON = {"key": "production_done_on", "type": "date", "label": {"en": "Production done on", "zh-CN": "生产完成日期"}}


def test_the_task_asks_for_the_field_by_its_name_with_a_date_picker(browser: Browser, base_url, seed,
                                                                     published_form):  # noqa: F811
    designer = make_user(seed, username="walk.tasks.designer", roles=["designer", "admin"])
    make_user(seed, username="walk.tasks.warehouse", roles=["warehouse"], locale="zh_CN")
    rep = make_user(seed, username="walk.tasks.rep", roles=["sales"])
    order = make_order(seed, owner=rep, number="TASK-1", customer=make_customer(seed, name="Task Co"))
    seed.commit()
    now = datetime.now(UTC)
    designer_actor = load_actor(seed, designer.id)
    current = forms_service.get_published(seed).to_json()
    forms_service.save_draft(seed, actor=designer_actor, key="order", now=now,
                             definition={**current, "fields": [*current["fields"], DONE_ON]})
    forms_service.publish_form(seed, actor=designer_actor, key="order", now=now)
    flows_service.save_draft(seed, actor=designer_actor, key="walk_tasks", definition=FLOW, now=now)
    flows_service.publish_flow(seed, actor=designer_actor, key="walk_tasks", now=now)
    rep_actor = Actor(user_id=rep.id, username=rep.username, display_name="Rep", roles=frozenset({"sales"}))
    service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=rep_actor, now=now, key="walk_tasks")
    seed.commit()

    with phone_page(browser, base_url, "walk.tasks.warehouse") as page:
        page.goto(f"{base_url}/inbox")
        card = page.locator("article.inbox-item", has_text="TASK-1")
        field = card.get_by_label("生产完成日期")
        expect(field).to_have_attribute("type", "date")
        expect(card).not_to_contain_text("production_done_on")
        field.fill("2026-11-20")
        card.get_by_role("button", name="完成").click()
        expect(card).to_have_attribute("data-state", "done")
        seed.expire_all()
        assert seed.get(Order, order.id).data.get("production_done_on") == "2026-11-20"
        page.goto(f"{base_url}/orders/{order.id}")
        expect(page.locator("#orders-timeline")).to_contain_text("生产完成日期: — → 2026年11月20日")
        expect(page.locator("#orders-timeline")).not_to_contain_text("data.production_done_on")
