"""The inbox in a real browser: a to-do created the way a rule creates it shows up live (websocket,
no reload) in the assignee's open inbox at phone width; they complete it in place, and the order
owner's "started by me" tab follows live in a second browser context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page, expect

from backend.effects import apply_effects
from backend.orders.models import Order
from engine import effects as fx
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "en-US"}


def _no_reload_flag(page: Page) -> None:
    page.evaluate("window.__noReload = true")


def _ws_open(page: Page) -> None:
    """Wait until the badge's websocket is connected (htmx ws extension)."""
    page.wait_for_function("() => { const el = document.querySelector('#inbox-badge');"
                           " return el && el['htmx-internal-data'] && el['htmx-internal-data'].webSocket"
                           " && el['htmx-internal-data'].webSocket.socket.readyState === 1; }", timeout=10_000)


def test_new_todo_arrives_live_and_is_completed_in_place(browser: Browser, base_url, seed):
    clerk = make_user(seed, username="inbox.clerk", roles=["warehouse"], display_name="Clerk Wang", locale="en")
    rep = make_user(seed, username="inbox.rep", roles=["sales"], display_name="Rep Li", locale="en")
    order = make_order(seed, owner=rep, stage="shipping", number="LIVE-1",
                       customer=make_customer(seed, name="Live Pumps"), risk_flags=["late"])
    seed.commit()

    clerk_ctx = browser.new_context(**PHONE)
    rep_ctx = browser.new_context(locale="en-US")
    try:
        clerk_page, rep_page = clerk_ctx.new_page(), rep_ctx.new_page()
        sign_in(clerk_page, base_url, "inbox.clerk")
        clerk_page.goto(f"{base_url}/inbox")
        expect(clerk_page.get_by_text("Nothing to do.")).to_be_visible()
        sign_in(rep_page, base_url, "inbox.rep")
        rep_page.goto(f"{base_url}/inbox?tab=started")
        _ws_open(clerk_page)
        _ws_open(rep_page)
        _no_reload_flag(clerk_page)
        _no_reload_flag(rep_page)

        # a rule fires: its CreateTodo effect is applied and committed by another "process"
        now = datetime.now(UTC)
        apply_effects(seed, [fx.CreateTodo(
            dedupe_key=f"rule:ship-no:{order.id}", kind="task", title="Enter the tracking number",
            assignee_ids=(clerk.id,), priority="urgent", due_at=now + timedelta(hours=4),
            payload={"fields": [{"key": "tracking_no", "label": "Tracking number", "required": True}]})],
            order=seed.get(Order, order.id), actor=None, now=now, source="rule")
        seed.commit()

        card = clerk_page.get_by_role("article", name="Enter the tracking number")
        expect(card).to_be_visible(timeout=10_000)
        expect(card).to_contain_text("LIVE-1")
        expect(card).to_contain_text("Live Pumps")
        expect(clerk_page.locator("#inbox-count")).to_have_text("1")
        assert clerk_page.evaluate("window.__noReload === true"), "the inbox reloaded instead of updating live"
        # the order's owner sees it appear in "started by me", live as well
        expect(rep_page.get_by_role("article", name="Enter the tracking number")).to_be_visible(timeout=10_000)

        # the owner's "started by me" tab learns about it when it changes; act in place at phone width
        card.get_by_role("button", name="Complete").click()  # the required field is empty: browser refuses
        expect(card).to_be_visible()
        card.get_by_label("Tracking number").fill("SF1234567")
        card.get_by_role("button", name="Complete").click()
        done = clerk_page.locator("article.inbox-item[data-state=done]")
        expect(done.or_(clerk_page.get_by_text("Nothing to do."))).to_be_visible()
        expect(clerk_page.locator("#inbox-count")).to_have_text("")
        assert clerk_page.evaluate("window.__noReload === true")

        started = rep_page.get_by_role("article", name="Enter the tracking number")
        expect(started).to_have_attribute("data-state", "done", timeout=10_000)
        expect(started).to_contain_text("Clerk Wang")
        assert rep_page.evaluate("window.__noReload === true")
        seed.expire_all()
        assert seed.get(Order, order.id).data["tracking_no"] == "SF1234567"
    finally:
        clerk_ctx.close()
        rep_ctx.close()


def test_a_second_click_after_someone_else_acted_is_refused_clearly(browser: Browser, base_url, seed):
    a = make_user(seed, username="inbox.a", roles=["warehouse"], display_name="Clerk A", locale="en")
    b = make_user(seed, username="inbox.b", roles=["warehouse"], display_name="Clerk B", locale="en")
    rep = make_user(seed, username="inbox.rep2", roles=["sales"], locale="en")
    order = make_order(seed, owner=rep, stage="shipping", number="LIVE-2")
    now = datetime.now(UTC)
    apply_effects(seed, [fx.CreateTodo(dedupe_key=f"rule:pack:{order.id}", kind="task", title="Pack the goods",
                                       assignee_ids=(a.id, b.id))], order=order, actor=None, now=now, source="rule")
    seed.commit()
    ctx_a, ctx_b = browser.new_context(locale="en-US"), browser.new_context(locale="en-US")
    try:
        page_a, page_b = ctx_a.new_page(), ctx_b.new_page()
        for page, user in ((page_a, "inbox.a"), (page_b, "inbox.b")):
            sign_in(page, base_url, user)
            page.goto(f"{base_url}/inbox")
            expect(page.get_by_role("article", name="Pack the goods")).to_be_visible()
        # B's page is stale (a phone that lost its connection: no live updates) while A completes
        page_b.evaluate("htmx.remove(document.getElementById('inbox-badge'))")
        page_a.get_by_role("article", name="Pack the goods").get_by_role("button", name="Complete").click()
        expect(page_a.locator("article.inbox-item[data-state=done]")).to_be_visible()
        page_b.get_by_role("article", name="Pack the goods").get_by_role("button", name="Complete").click()
        expect(page_b.locator("#toast")).to_contain_text("already handled")
        expect(page_b.locator("#toast")).to_contain_text("Clerk A")
    finally:
        ctx_a.close()
        ctx_b.close()


def test_approval_arrives_live_and_is_approved_in_place_at_phone_width(browser: Browser, base_url, seed):
    from backend.auth.actor import Actor
    from backend.flows import service as flows_service
    from backend.flows import service_instance
    from tests.backend.inbox.test_flow_actions import FLOW
    from tests.factories.people import make_department

    manager = make_user(seed, username="inbox.mgr", roles=["sales", "approver"], display_name="Manager Qian",
                        locale="en")
    dept = make_department(seed, name="Live sales", head=manager)
    rep = make_user(seed, username="inbox.rep3", roles=["sales"], department=dept, locale="en")
    designer = make_user(seed, username="inbox.designer", roles=["designer", "admin"])
    order = make_order(seed, owner=rep, number="LIVE-3", customer=make_customer(seed, name="Approval Works"))
    seed.commit()
    designer_actor = Actor(user_id=designer.id, username=designer.username, display_name="D",
                           roles=frozenset({"designer", "admin"}))
    now = datetime.now(UTC)
    flows_service.save_draft(seed, actor=designer_actor, key="live_flow", definition={**FLOW, "key": "live_flow"},
                             now=now)
    flows_service.publish_flow(seed, actor=designer_actor, key="live_flow", now=now)

    ctx = browser.new_context(**PHONE)
    try:
        page = ctx.new_page()
        sign_in(page, base_url, "inbox.mgr")
        page.goto(f"{base_url}/inbox")
        _ws_open(page)
        _no_reload_flag(page)
        rep_actor = Actor(user_id=rep.id, username=rep.username, display_name="Rep", roles=frozenset({"sales"}),
                          department_id=dept.id)
        service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=rep_actor, now=now, key="live_flow")
        seed.commit()
        card = page.get_by_role("article", name="Manager approval")
        expect(card).to_be_visible(timeout=10_000)
        expect(card).to_contain_text("LIVE-3")
        card.get_by_label("Note").fill("Fine by me")
        card.get_by_role("button", name="Approve").click()
        expect(page.locator("article.inbox-item[data-state=done]").or_(page.get_by_text("Nothing to do."))
               ).to_be_visible()
        assert page.evaluate("window.__noReload === true")
        seed.expire_all()
        assert seed.get(Order, order.id).stage == "shipping"
    finally:
        ctx.close()
