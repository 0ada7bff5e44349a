"""A long inbox in a real browser (issue 17: "shows 50 cards and says 共 134 条, with no paging; cards
are ~330 px tall; bulk approve once lost its ticks to the refresh and reported 已同意 0 个审批").

An approver with 55 approvals pages through them at phone width, ticks the whole first page, a
live refresh lands (a new to-do arrives) and the ticks survive it: bulk approve reports 50.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from backend.auth.actor import Actor
from backend.effects import apply_effects
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.inbox.models import InboxItem
from backend.orders.models import Order
from engine import effects as fx
from tests.browser.test_inbox import _ws_open
from tests.browser.test_walkthrough_order_page import FLOW
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "en-US"}


def _approver_with_approvals(seed, prefix: str, count: int):
    manager = make_user(seed, username=f"{prefix}.mgr", roles=["sales", "approver"], display_name="Paging Manager",
                        locale="en")
    dept = make_department(seed, name=f"{prefix} sales", head=manager)
    rep = make_user(seed, username=f"{prefix}.rep", roles=["sales"], department=dept)
    designer = make_user(seed, username=f"{prefix}.designer", roles=["designer", "admin"])
    customer = make_customer(seed, name=f"{prefix} Co")
    orders = [make_order(seed, owner=rep, number=f"{prefix.upper()}-{n:03d}", customer=customer) for n in range(count)]
    seed.commit()
    now = datetime.now(UTC)
    designer_actor = Actor(user_id=designer.id, username=designer.username, display_name="D",
                           roles=frozenset({"designer", "admin"}))
    key = prefix.replace(".", "_")
    flows_service.save_draft(seed, actor=designer_actor, key=key, definition={**FLOW, "key": key}, now=now)
    flows_service.publish_flow(seed, actor=designer_actor, key=key, now=now)
    rep_actor = Actor(user_id=rep.id, username=rep.username, display_name="Rep", roles=frozenset({"sales"}),
                      department_id=dept.id)
    for order in orders:
        service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=rep_actor, now=now, key=key)
    seed.commit()
    return manager, orders


def _sign_in(page, base_url, username):
    from tests.browser.conftest import sign_in

    sign_in(page, base_url, username)


def test_pages_select_all_and_bulk_approve_through_a_live_refresh(browser: Browser, base_url, seed):
    manager, orders = _approver_with_approvals(seed, "inbp", 55)
    ctx = browser.new_context(**PHONE)
    try:
        page = ctx.new_page()
        _sign_in(page, base_url, "inbp.mgr")
        page.goto(f"{base_url}/inbox")
        cards = page.locator("article.inbox-item")
        expect(page.locator(".inbox-range")).to_have_text("1–50 of 55")
        expect(cards).to_have_count(50)
        expect(page.locator("#inbox-count")).to_have_text("55")

        # compact: several cards per 844 px phone screen, and nothing wider than the screen
        heights = [cards.nth(i).bounding_box()["height"] for i in range(5)]
        assert max(heights) < 844 / 3.5, heights
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        # the next page, in the URL, and back
        page.get_by_role("link", name="Next page").click()
        expect(page.locator(".inbox-range")).to_have_text("51–55 of 55")
        expect(cards).to_have_count(5)
        assert "offset=50" in page.url
        page.get_by_role("link", name="Previous page").click()
        expect(page.locator(".inbox-range")).to_have_text("1–50 of 55")

        _ws_open(page)
        page.get_by_label("Select all 50 approvals on this page").check()
        expect(page.locator("#inbox-selected")).to_have_text("50 selected")

        # a live refresh arrives while the ticks are set: a new (low, so last) to-do for the manager
        apply_effects(seed, [fx.CreateTodo(dedupe_key="inbp:late-task", kind="task", title="Check the INBP samples",
                                           assignee_ids=(manager.id,), priority="low")],
                      order=seed.get(Order, orders[0].id), actor=None, now=datetime.now(UTC), source="rule")
        seed.commit()
        expect(page.locator(".inbox-range")).to_have_text("1–50 of 56", timeout=15_000)
        expect(page.locator("#inbox-selected")).to_have_text("50 selected")
        expect(page.locator("#inbox-list input[name=item_id]:checked")).to_have_count(50)

        page.get_by_role("button", name="Approve selected").click()
        expect(page.get_by_role("status").filter(has_text="50 approvals approved.")).to_be_visible(timeout=60_000)
        seed.expire_all()
        done = seed.exec(select(func.count()).select_from(InboxItem).where(
            InboxItem.assignee_id == manager.id, InboxItem.kind == "approval", InboxItem.state == "done")).scalar_one()
        assert done == 50
        # what is left: 5 approvals and the task, on one page
        page.goto(f"{base_url}/inbox")
        expect(page.locator(".inbox-range")).to_have_text("1–6 of 6")
        expect(page.locator("#inbox-count")).to_have_text("6")
    finally:
        ctx.close()


def test_filters_and_page_stay_in_the_url_through_a_live_refresh(browser: Browser, base_url, seed):
    manager, orders = _approver_with_approvals(seed, "inbf", 53)
    ctx = browser.new_context(locale="en-US")
    try:
        page = ctx.new_page()
        _sign_in(page, base_url, "inbf.mgr")
        page.goto(f"{base_url}/inbox")
        page.get_by_label("Kind").select_option(label="Approval")
        expect(page).to_have_url(re.compile(r"kind=approval"))
        page.get_by_role("link", name="Next page").click()
        expect(page.locator(".inbox-range")).to_have_text("51–53 of 53")
        _ws_open(page)
        page.evaluate("window.__swaps = 0; document.body.addEventListener('htmx:afterSwap',"
                      " function (e) { if (e.detail.target.id === 'inbox-list') { window.__swaps++; } })")
        apply_effects(seed, [fx.CreateTodo(dedupe_key="inbf:task", kind="task", title="Not an approval",
                                           assignee_ids=(manager.id,))],
                      order=seed.get(Order, orders[0].id), actor=None, now=datetime.now(UTC), source="rule")
        seed.commit()
        page.wait_for_function("() => window.__swaps > 0", timeout=15_000)
        expect(page.locator(".inbox-range")).to_have_text("51–53 of 53")
        expect(page.get_by_role("article", name="Not an approval")).to_have_count(0)
        assert "kind=approval" in page.url and "offset=50" in page.url
        expect(page.locator("#inbox-count")).to_have_text("54")
    finally:
        ctx.close()
