"""The order page's live updates do not wipe what the reader is typing: a push for the flow panel
while they type in a to-do's form waits until they leave the form (unchanged) or send it.

Found by the walkthrough (uxaudit): the inbox held its refresh while a form had the focus, but the
order page swapped its flow panel in whatever the reader was doing, and a half-typed comment went."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from backend.inbox.models import InboxItem
from tests.browser.test_live_order import _order_with_a_todo_for_the_rep_next, open_order


def _until(page, expression: str, bound_s: float = 30) -> None:
    """Wait for a page expression to hold (wait_for_function evaluates a string: the CSP refuses it)."""
    for _ in range(int(bound_s * 10)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"never held: {expression}")


def _approve(page, order_id):
    page.locator("#orders-flow form.flow-task").get_by_role("button", name="Approve").click()
    page.wait_for_url(f"**/orders/{order_id}/flow")


def _poke_the_flow_panel(seed, order, assignee, n: int) -> None:
    """A to-do for someone else on the order: its inbox row makes the order's flow panel change."""
    seed.add(InboxItem(dedupe_key=f"live-typing-{order.id}-{n}", order_id=order.id, assignee_id=assignee.id,
                       kind="follow_up", title=f"Call back {n}", source="manual", created_at=datetime.now(UTC)))
    seed.commit()


def test_live_typing_a_comment_survives_a_push_and_is_sent(browser: Browser, base_url, seed):
    manager, rep, order = _order_with_a_todo_for_the_rep_next(seed, "typing1")
    ctx_a, page_a = open_order(browser, base_url, manager.username, order.id)
    ctx_b, page_b = open_order(browser, base_url, rep.username, order.id, width=390)
    try:
        _approve(page_a, order.id)
        todo = page_b.locator("#orders-flow form.flow-task")
        expect(todo).to_contain_text("Confirm with the customer", timeout=30000)
        note = todo.get_by_label("Comment")
        note.click()
        note.type("Customer asked to ship on Fri")
        before = page_b.evaluate("window.gendanLive.messages")
        _poke_the_flow_panel(seed, order, manager, 1)
        _until(page_b, f"window.gendanLive.messages > {before}")
        page_b.wait_for_timeout(500)  # a swap (the bug) lands within milliseconds of the message
        expect(page_b.locator("#orders-flow form.flow-task").get_by_label("Comment")).to_have_value(
            "Customer asked to ship on Fri")
        expect(note).to_be_focused()
        assert page_b.evaluate("window.gendanLive.held") == 1
        # leaving the field does not drop it either: the form was changed and not sent
        page_b.locator("h1").first.click()
        page_b.wait_for_timeout(300)
        expect(page_b.locator("#orders-flow form.flow-task").get_by_label("Comment")).to_have_value(
            "Customer asked to ship on Fri")
        # sent: the comment is on the flow's history
        page_b.locator("#orders-flow form.flow-task").get_by_role("button", name="Complete").click()
        page_b.wait_for_url(f"**/orders/{order.id}/flow")
        expect(page_b.locator("table.flow-history")).to_contain_text("Customer asked to ship on Fri")
    finally:
        ctx_a.close()
        ctx_b.close()


def test_live_typing_a_form_left_unchanged_takes_the_held_update(browser: Browser, base_url, seed):
    manager, rep, order = _order_with_a_todo_for_the_rep_next(seed, "typing2")
    ctx_a, page_a = open_order(browser, base_url, manager.username, order.id)
    ctx_b, page_b = open_order(browser, base_url, rep.username, order.id)
    try:
        _approve(page_a, order.id)
        todo = page_b.locator("#orders-flow form.flow-task")
        expect(todo).to_contain_text("Confirm with the customer", timeout=30000)
        todo.get_by_label("Comment").focus()
        before = page_b.evaluate("window.gendanLive.messages")
        _poke_the_flow_panel(seed, order, manager, 2)
        _until(page_b, f"window.gendanLive.messages > {before}")
        assert page_b.evaluate("window.gendanLive.held") == 1
        refreshes = page_b.evaluate("window.gendanLive.refreshes")
        # the reader leaves the form without typing: the held panel is read again
        page_b.locator("h1").first.click()
        _until(page_b, f"window.gendanLive.refreshes > {refreshes}")
        assert page_b.evaluate("window.gendanLive.held") == 0
    finally:
        ctx_a.close()
        ctx_b.close()
