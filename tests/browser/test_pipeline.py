"""A stage moved by a flow is an order change like any other: an approver approves in the inbox,
the flow enters `shipping`, and the stage-entered rule's effect shows on the order's page."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from backend.auth.actor import Actor
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.orders.models import Order
from backend.rules import definitions as rule_definitions
from tests.backend.inbox.test_flow_actions import FLOW
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user

RULE = {
    "key": "pipe_shipping_tag", "name": {"en": "Tag orders on their way"},
    "trigger": {"kind": "event", "events": ["stage_entered"], "stages": ["shipping"]},
    "condition": {"==": [{"var": "number"}, "PIPE-1"]},
    "actions": [{"type": "add_tag", "tag": "on-its-way"}],
}


def test_approving_in_the_inbox_fires_the_stage_rule_shown_on_the_order_page(browser: Browser, base_url, seed):
    manager = make_user(seed, username="pipe.mgr", roles=["sales", "approver"], display_name="Manager Pipe",
                        locale="en")
    dept = make_department(seed, name="Pipe sales", head=manager)
    rep = make_user(seed, username="pipe.rep", roles=["sales"], department=dept, locale="en")
    admin = make_user(seed, username="pipe.admin", roles=["designer", "admin"])
    order = make_order(seed, owner=rep, number="PIPE-1", customer=make_customer(seed, name="Pipeline Works"))
    seed.commit()
    designer = Actor(user_id=admin.id, username=admin.username, display_name="A", roles=frozenset({"designer", "admin"}))
    now = datetime.now(UTC)
    flows_service.save_draft(seed, actor=designer, key="pipe_flow", definition={**FLOW, "key": "pipe_flow"}, now=now)
    flows_service.publish_flow(seed, actor=designer, key="pipe_flow", now=now)
    rule_definitions.save_draft(seed, actor=designer, definition=RULE, now=now)
    rule_definitions.publish_rule(seed, actor=designer, key=RULE["key"], now=now)
    rule_definitions.enable_rule(seed, actor=designer, key=RULE["key"], confirm=True, now=now)
    rep_actor = Actor(user_id=rep.id, username=rep.username, display_name="Rep", roles=frozenset({"sales"}),
                      department_id=dept.id)
    service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=rep_actor, now=now, key="pipe_flow")
    seed.commit()
    ctx = browser.new_context(locale="en-US")
    try:
        page = ctx.new_page()
        sign_in(page, base_url, "pipe.mgr")
        page.goto(f"{base_url}/inbox")
        card = page.get_by_role("article", name="Manager approval").filter(has_text="PIPE-1")
        card.get_by_label("Note").fill("Ship it")
        card.get_by_role("button", name="Approve").click()
        expect(page.locator("article.inbox-item[data-state=done]").or_(page.get_by_text("Nothing to do."))
               ).to_be_visible()
        page.goto(f"{base_url}/orders/{order.id}")
        timeline = page.locator("li", has_text="Tag added")
        expect(timeline.first).to_contain_text("on-its-way")
        expect(page.locator("li", has_text="Stage changed").first).to_be_visible()
    finally:
        ctx.close()
        rule_definitions.disable_rule(seed, actor=designer, key=RULE["key"], now=datetime.now(UTC))
        seed.commit()


def _approval_waiting(seed, number: str, prefix: str):
    """A manager, a rep with an order `number` whose flow waits for the manager's approval."""
    manager = make_user(seed, username=f"{prefix}.mgr", roles=["sales", "approver"], display_name=f"Mgr {prefix}",
                        locale="en")
    dept = make_department(seed, name=f"{prefix} sales", head=manager)
    rep = make_user(seed, username=f"{prefix}.rep", roles=["sales"], department=dept, locale="en")
    admin = make_user(seed, username=f"{prefix}.admin", roles=["designer", "admin"])
    order = make_order(seed, owner=rep, number=number, customer=make_customer(seed, name=f"{prefix} Co"))
    seed.commit()
    designer = Actor(user_id=admin.id, username=admin.username, display_name="A", roles=frozenset({"designer", "admin"}))
    now = datetime.now(UTC)
    key = f"{prefix}_flow"
    flows_service.save_draft(seed, actor=designer, key=key, definition={**FLOW, "key": key}, now=now)
    flows_service.publish_flow(seed, actor=designer, key=key, now=now)
    rep_actor = Actor(user_id=rep.id, username=rep.username, display_name="Rep", roles=frozenset({"sales"}),
                      department_id=dept.id)
    service_instance.start_flow(seed, order=seed.get(Order, order.id), actor=rep_actor, now=now, key=key)
    seed.commit()
    return order


def _decide_in_inbox(page, base_url, manager: str, number: str, note: str, button: str) -> None:
    sign_in(page, base_url, manager)
    page.goto(f"{base_url}/inbox")
    card = page.get_by_role("article", name="Manager approval").filter(has_text=number)
    card.get_by_label("Note").fill(note)
    card.get_by_role("button", name=button).click()
    expect(page.locator("article.inbox-item[data-state=done]").or_(page.get_by_text("Nothing to do."))
           ).to_be_visible()


def test_a_rejected_order_says_so_in_the_list_and_its_rep_reads_why(browser: Browser, base_url, seed):
    order = _approval_waiting(seed, "PIPE-REJ", "prej")
    ctx = browser.new_context(locale="en-US")
    try:
        _decide_in_inbox(ctx.new_page(), base_url, "prej.mgr", "PIPE-REJ", "Price too low", "Reject")
        rep = browser.new_context(locale="en-US").new_page()
        sign_in(rep, base_url, "prej.rep")
        rep.goto(f"{base_url}/orders?q=PIPE-REJ")
        row = rep.locator("tr", has_text="PIPE-REJ")
        expect(row).to_contain_text("Rejected")
        expect(row).not_to_contain_text("Approval")
        rep.goto(f"{base_url}/dashboard")  # the rep's only order: one open order, rejected, none in approval
        stages = rep.locator("#dashboard-stages")
        expect(stages).to_contain_text("Rejected")
        expect(stages).not_to_contain_text("Approval")
        rep.goto(f"{base_url}/notifications")
        expect(rep.get_by_text("Your order was rejected").first).to_be_visible()
        expect(rep.get_by_text("flow.rejected")).to_have_count(0)
        rep.goto(f"{base_url}/orders/{order.id}")
        expect(rep.get_by_text("Price too low").first).to_be_visible()
        rep.context.close()
    finally:
        ctx.close()


def test_a_note_typed_on_send_back_shows_in_the_orders_records(browser: Browser, base_url, seed):
    order = _approval_waiting(seed, "PIPE-BACK", "pback")
    ctx = browser.new_context(locale="en-US")
    try:
        _decide_in_inbox(ctx.new_page(), base_url, "pback.mgr", "PIPE-BACK", "Add the customer's PO number",
                         "Send back")
        rep = browser.new_context(locale="en-US").new_page()
        sign_in(rep, base_url, "pback.rep")
        rep.goto(f"{base_url}/orders?q=PIPE-BACK")
        expect(rep.locator("tr", has_text="PIPE-BACK")).to_contain_text("Returned to the initiator")
        rep.goto(f"{base_url}/orders/{order.id}")
        expect(rep.get_by_text("Add the customer's PO number").first).to_be_visible()
        rep.context.close()
    finally:
        ctx.close()
