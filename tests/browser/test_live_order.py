"""Live order pages: two people on the same order; what one does appears on the other's page by
push, without a reload and without the fallback poll (made an hour long here, and counted)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from playwright.sync_api import Browser, expect

from backend.auth.service import load_actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderUpdate
from tests.browser.conftest import sign_in
from tests.browser.test_walkthrough_order_page import _order_in_approval
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

NO_POLL = "window.GENDAN_LIVE_FALLBACK_MS = 3600000;"


def open_order(browser: Browser, base_url: str, username: str, order_id: int, *, width: int = 1280):
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.add_init_script(NO_POLL)
    page = context.new_page()
    sign_in(page, base_url, username)
    page.goto(f"{base_url}/orders/{order_id}")
    expect(page.locator("#live-order")).to_have_attribute("data-state", "live", timeout=30000)
    expect(page.locator("#orders-flow")).to_be_visible()
    return context, page


def _order_with_a_todo_for_the_rep_next(seed, suffix: str):
    """Manager approves, then the rep (the order's owner) gets a to-do "Confirm with the customer"."""
    manager, rep, order = _order_in_approval(seed, suffix, "en")  # its own flow: approval → ship
    now = datetime.now(UTC)
    designer = make_user(seed, username=f"live.designer.{suffix}", roles=["designer", "admin"])
    seed.commit()
    designer_actor = load_actor(seed, designer.id)
    key = f"live_todo_{suffix}"
    flow = {"key": key, "name": {"en": "Live flow", "zh-CN": "实时流程"}, "nodes": [
        {"type": "start", "key": "start", "stage": "draft"},
        {"type": "approval", "key": "manager", "name": {"en": "Manager approval"}, "stage": "approval",
         "assignees": [{"kind": "users", "user_ids": [manager.id]}]},
        {"type": "task", "key": "confirm", "name": {"en": "Confirm with the customer"}, "stage": "shipping",
         "assignees": [{"kind": "users", "user_ids": [rep.id]}]},
        {"type": "end", "key": "end", "stage": "completed"}],
        "edges": [{"key": "e1", "source": "start", "target": "manager"},
                  {"key": "e2", "source": "manager", "target": "confirm"},
                  {"key": "e3", "source": "confirm", "target": "end"}]}
    flows_service.save_draft(seed, actor=designer_actor, key=key, definition=flow, now=now)
    flows_service.publish_flow(seed, actor=designer_actor, key=key, now=now)
    fresh = make_order(seed, owner=rep, number=f"LIVE-{suffix}", customer=make_customer(seed, name="Live Co"))
    seed.commit()
    service_instance.start_flow(seed, order=seed.get(Order, fresh.id), actor=load_actor(seed, rep.id), now=now,
                                key=key)
    seed.commit()
    return manager, rep, fresh


def test_an_approval_and_a_field_change_appear_on_the_other_page_by_push(browser: Browser, base_url, seed):
    manager, rep, order = _order_with_a_todo_for_the_rep_next(seed, "live1")
    ctx_a, page_a = open_order(browser, base_url, manager.username, order.id)
    ctx_b, page_b = open_order(browser, base_url, rep.username, order.id, width=390)
    try:
        expect(page_b.locator("#live-order")).to_have_text("Live")
        expect(page_b.locator("#orders-head .pill.stage-approval")).to_be_visible()
        expect(page_b.locator("#orders-timeline li", has_text="Approved")).to_have_count(0)
        expect(page_b.locator("#orders-flow form.flow-task")).to_have_count(0)  # no to-do of B's yet
        # nothing wider than the phone (the indicator sits in the page head)
        assert page_b.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

        # A approves on their own page of the order
        page_a.locator("#orders-flow form.flow-task").get_by_role("button", name="Approve").click()
        page_a.wait_for_url(f"**/orders/{order.id}/flow")  # A lands on the flow page: live as well
        expect(page_a.locator("#live-order")).to_have_attribute("data-state", "live", timeout=30000)

        # B sees the new stage, the timeline entry and the flow panel, without reloading
        expect(page_b.locator("#orders-head .pill.stage-shipping")).to_be_visible(timeout=30000)
        expect(page_b.locator("#orders-timeline li", has_text="Approved")).to_contain_text(manager.display_name)
        expect(page_b.locator("#orders-flow table.flow-history")).to_contain_text("Approved")
        expect(page_b.locator("#orders-flow [data-node-key='confirm']")).to_have_attribute("data-state", "active")
        todo = page_b.locator("#orders-flow form.flow-task")  # B's new to-do, with its buttons
        expect(todo).to_contain_text("Confirm with the customer")
        expect(todo.get_by_role("button", name="Complete")).to_be_visible()

        # A changes a field (through the same service the API uses)
        seed.expire_all()
        current = seed.get(Order, order.id)
        orders_service.update_order(seed, actor=load_actor(seed, manager.id), order_id=order.id,
                                    now=datetime.now(UTC), payload=OrderUpdate(version=current.version,
                                                                               amount=Decimal("4321.00")))
        expect(page_b.locator("#orders-fields")).to_contain_text("4,321.00", timeout=30000)
        expect(page_b.locator("#orders-timeline > li", has_text="4,321.00")).to_have_count(1)

        stats = page_b.evaluate("window.gendanLive")
        assert stats["polls"] == 0  # the socket did it, not the fallback poll
        assert stats["messages"] >= 2 and stats["connects"] == 1
        # the messages carried the parts themselves: nothing was read back over HTTP
        assert stats["pushes"] == stats["messages"] and stats["refreshes"] == 0
        assert page_b.evaluate("performance.getEntriesByType('navigation').length") == 1  # never reloaded
    finally:
        ctx_a.close()
        ctx_b.close()


def test_an_order_i_may_not_see_gets_no_live_link(browser: Browser, base_url, seed):
    _manager, _rep, order = _order_in_approval(seed, "live2", "en")
    make_user(seed, username="live.stranger", roles=["sales"])
    seed.commit()
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, base_url, "live.stranger")
        closed = page.evaluate("""(id) => new Promise((resolve) => {
            const ws = new WebSocket(`ws://${location.host}/ws/live/orders/${id}`);
            const got = [];
            ws.onmessage = (e) => got.push(e.data);
            ws.onclose = (e) => resolve({code: e.code, got});
        })""", order.id)
        assert closed == {"code": 1008, "got": []}
    finally:
        context.close()


def test_a_lost_socket_says_reconnecting_and_catches_up_when_back(browser: Browser, base_url, seed):
    manager, rep, order = _order_in_approval(seed, "live3", "zh_CN")
    context = browser.new_context()
    context.add_init_script(NO_POLL)
    page = context.new_page()
    sockets, allowed = [], {"yes": True}

    def route(ws):
        if allowed["yes"]:
            sockets.append(ws)
            ws.connect_to_server()
        else:  # the server is "away": the page's socket closes at once
            ws.close(code=1011)

    page.route_web_socket("**/ws/live/orders/**", route)
    try:
        sign_in(page, base_url, rep.username)
        page.goto(f"{base_url}/orders/{order.id}")
        indicator = page.locator("#live-order")
        expect(indicator).to_have_text("实时", timeout=30000)
        allowed["yes"] = False
        sockets[0].close(code=1011)  # the connection drops
        expect(indicator).to_have_attribute("data-state", "reconnecting")
        expect(indicator).to_have_text("正在重新连接…")
        # meanwhile the order changes: nothing can tell the page
        seed.expire_all()
        current = seed.get(Order, order.id)
        orders_service.update_order(seed, actor=load_actor(seed, manager.id), order_id=order.id,
                                    now=datetime.now(UTC), payload=OrderUpdate(version=current.version,
                                                                               amount=Decimal("8765.00")))
        allowed["yes"] = True  # back: the page reconnects (with backoff) and re-reads what it shows
        expect(indicator).to_have_text("实时", timeout=60000)
        expect(page.locator("#orders-fields")).to_contain_text("8,765.00")
        stats = page.evaluate("window.gendanLive")
        assert stats["polls"] == 0 and stats["connects"] >= 2
        # connected again, the next change arrives by push, rendered in the reader's language
        seed.expire_all()
        current = seed.get(Order, order.id)
        orders_service.update_order(seed, actor=load_actor(seed, manager.id), order_id=order.id,
                                    now=datetime.now(UTC), payload=OrderUpdate(version=current.version,
                                                                               amount=Decimal("5432.00")))
        expect(page.locator("#orders-fields")).to_contain_text("5,432.00", timeout=30000)
        expect(page.locator("#orders-details")).to_contain_text("金额")
        assert page.evaluate("window.gendanLive.pushes") >= 1
    finally:
        context.close()
