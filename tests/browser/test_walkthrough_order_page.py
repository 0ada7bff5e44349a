"""Walkthrough: an approval seen from the approver's inbox and from the sales rep's order page.

Found on the demo data: the order's timeline listed the flow's bookkeeping raw ("flow.node_entered",
"node_key: manager_approval", "edge_key: e_start"), the flow panel's history showed UTC times in
ISO form next to local times everywhere else, and the approver's own approval read "handled by
system" in the inbox.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from backend.auth.actor import Actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user

FLOW = {
    "key": "walk_flow",
    "name": {"zh-CN": "走查流程", "en": "Walkthrough flow"},
    "nodes": [
        {"type": "start", "key": "start", "stage": "draft"},
        {"type": "approval", "key": "manager", "name": {"en": "Manager approval", "zh-CN": "经理审批"},
         "stage": "approval", "assignees": [{"kind": "manager_chain", "levels": 1}]},
        {"type": "task", "key": "ship", "name": {"en": "Ship", "zh-CN": "发货"}, "stage": "shipping",
         "assignees": [{"kind": "role", "role": "warehouse"}]},
        {"type": "end", "key": "end", "stage": "completed"},
    ],
    "edges": [
        {"key": "e1", "source": "start", "target": "manager"},
        {"key": "e2", "source": "manager", "target": "ship"},
        {"key": "e3", "source": "ship", "target": "end"},
    ],
}


def _order_in_approval(seed, suffix: str, locale: str):
    manager = make_user(seed, username=f"walk.mgr.{suffix}", roles=["sales", "approver"],
                        display_name=f"Manager {suffix}", locale=locale)
    dept = make_department(seed, name=f"Walk sales {suffix}", head=manager)
    rep = make_user(seed, username=f"walk.rep.{suffix}", roles=["sales"], department=dept,
                    display_name=f"Rep {suffix}", locale=locale)
    designer = make_user(seed, username=f"walk.flowdesigner.{suffix}", roles=["designer", "admin"])
    order = make_order(seed, owner=rep, number=f"WALK-{suffix}", customer=make_customer(seed, name="Walk Metals"))
    seed.commit()
    now = datetime.now(UTC)
    designer_actor = Actor(user_id=designer.id, username=designer.username, display_name="D",
                           roles=frozenset({"designer", "admin"}))
    key = f"walk_flow_{suffix}"
    flows_service.save_draft(seed, actor=designer_actor, key=key, definition={**FLOW, "key": key}, now=now)
    flows_service.publish_flow(seed, actor=designer_actor, key=key, now=now)
    rep_actor = Actor(user_id=rep.id, username=rep.username, display_name=rep.display_name,
                      roles=frozenset({"sales"}), department_id=dept.id)
    service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=rep_actor, now=now, key=key)
    seed.commit()
    return manager, rep, order


class TestApprovalSeenByBothSides:
    def test_the_approver_is_named_and_the_timeline_reads_as_words(self, page: Page, base_url, seed):
        manager, rep, order = _order_in_approval(seed, "en", "en")
        sign_in(page, base_url, manager.username)
        page.goto(f"{base_url}/inbox")
        card = page.locator("article.inbox-item", has_text=order.number)
        card.get_by_role("button", name="Approve").click()
        expect(card).to_contain_text(f"by {manager.display_name}")
        expect(card).not_to_contain_text("by system")

        page.context.clear_cookies()
        sign_in(page, base_url, rep.username)
        page.goto(f"{base_url}/orders/{order.id}")
        timeline = page.locator("#orders-timeline")
        approved = timeline.locator("li", has_text="Approved")
        expect(approved).to_contain_text("Step: Manager approval")
        expect(approved).to_contain_text(manager.display_name)
        expect(timeline.locator("li", has_text="Flow started")).to_have_count(1)
        for raw in ("flow.", "node_key", "edge_key", "task_id"):
            expect(timeline).not_to_contain_text(raw)

        panel = page.locator("#orders-flow")
        expect(panel).to_contain_text("Flow Walkthrough flow, version 1")
        started_row = panel.locator("table.flow-history tr", has_text="Flow started")
        started_at = timeline.locator("li", has_text="Flow started").locator("time").inner_text()
        expect(started_row.locator("td").first).to_have_text(started_at)

    def test_in_chinese(self, page: Page, base_url, seed):
        manager, rep, order = _order_in_approval(seed, "zh", "zh_CN")
        sign_in(page, base_url, manager.username)
        page.goto(f"{base_url}/inbox")
        card = page.locator("article.inbox-item", has_text=order.number)
        card.get_by_role("button", name="同意").click()
        expect(card).to_contain_text(manager.display_name)

        page.goto(f"{base_url}/orders/{order.id}")
        timeline = page.locator("#orders-timeline")
        expect(timeline.locator("li", has_text="已审批")).to_contain_text("经理审批")
        expect(page.locator("#orders-flow")).to_contain_text("走查流程")
        assert not re.search(r"\b[a-z]+\.[a-z_]+\b|node_key", timeline.inner_text())


def test_the_order_page_fits_a_phone(browser, base_url, seed):
    """The flow history's five columns pushed the order page 100 px past a 360 px screen."""
    _manager, rep, order = _order_in_approval(seed, "phone", "en")
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        sign_in(page, base_url, rep.username)
        page.goto(f"{base_url}/orders/{order.id}")
        started = page.locator("table.flow-history tr", has_text="Flow started")
        expect(started.get_by_role("cell", name=f"Who: {rep.display_name}")).to_be_visible()  # labelled, stacked
        cells = started.locator("td:not(:empty)")
        assert cells.first.bounding_box()["y"] < cells.last.bounding_box()["y"]
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        ctx.close()


def test_a_customer_urge_reads_as_such(page, base_url, seed):
    """The demo's urges read "已催促客户" (we urged the customer) with a raw "urge_count: 2"."""
    from backend.auth.service import load_actor
    from backend.orders.service import record_event

    rep = make_user(seed, username="walk.urge.rep", roles=["sales"], locale="zh_CN")
    order = make_order(seed, owner=rep, number="URGE-1")
    seed.commit()
    record_event(seed, seed.get(Order, order.id), type="urged", actor=load_actor(seed, rep.id),
                 now=datetime.now(UTC), after={"urge_count": 2}, note="客户在催货")
    seed.commit()
    sign_in(page, base_url, rep.username)
    page.goto(f"{base_url}/orders/{order.id}")
    urge = page.locator("#orders-timeline li", has_text="客户在催货")
    expect(urge).to_contain_text("客户催单")
    expect(urge).to_contain_text("催单次数: 2")
    expect(urge).not_to_contain_text("urge_count")
