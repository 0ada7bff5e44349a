"""Auto-approval in a real browser: a manager configures it on an approval step, back-tests it and
sees the figures, publishes; an order under the threshold is approved by the system with the reason
on its timeline; the step's approver undoes it (also at phone width)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from backend.auth.actor import Actor
from backend.flows import service, service_instance
from tests.browser.conftest import sign_in
from tests.browser.test_flow_designer import FlowDesignerPage
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user


def _flow(key: str) -> dict:
    return {
        "key": key, "name": {"en": "Auto flow", "zh-CN": "自动审批流程"},
        "nodes": [
            {"type": "start", "key": "start", "x": 60, "y": 200},
            {"type": "approval", "key": "approve", "name": {"en": "Manager approval"}, "stage": "approval",
             "assignees": [{"kind": "manager_chain", "levels": 1}], "x": 240, "y": 200},
            {"type": "task", "key": "work", "name": {"en": "Production"}, "stage": "production",
             "assignees": [{"kind": "role", "role": "warehouse"}], "x": 440, "y": 200},
            {"type": "end", "key": "end", "x": 620, "y": 200},
        ],
        "edges": [{"key": "e1", "source": "start", "target": "approve"},
                  {"key": "e2", "source": "approve", "target": "work"},
                  {"key": "e3", "source": "work", "target": "end"}],
    }


def test_configure_backtest_auto_approve_and_undo(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6]
    key = f"ad_{tag}"
    designer_user = make_user(seed, username=f"ad.designer.{tag}", roles=["designer", "admin"], locale="en")
    manager = make_user(seed, username=f"ad.manager.{tag}", roles=["sales"], locale="en",
                        display_name=f"AD Manager {tag}")
    team = make_department(seed, name=f"AD Sales {tag}", head=manager)
    rep = make_user(seed, username=f"ad.rep.{tag}", roles=["sales"], department=team, locale="en")
    make_user(seed, username=f"ad.shipper.{tag}", roles=["warehouse"], locale="en")
    seed.commit()
    as_designer = Actor(user_id=designer_user.id, username=designer_user.username,
                        display_name=designer_user.display_name, roles=frozenset({"designer", "admin"}))
    now = datetime.now(UTC)
    service.save_draft(seed, actor=as_designer, key=key, definition=_flow(key), now=now)
    service.publish_flow(seed, actor=as_designer, key=key, now=now)

    # history: a reliable customer (3 orders delivered on time) with two orders that reached the step
    customer = make_customer(seed, name=f"AD Reliable {tag}")
    past = now - timedelta(days=20)
    for i in range(3):
        make_order(seed, owner=rep, customer=customer, amount=900, status="completed", number=f"AD-H{i}-{tag}",
                   at=past - timedelta(days=60), planned_delivery=(past - timedelta(days=30)).date(),
                   closed_at=past - timedelta(days=31 + i))
    small = make_order(seed, owner=rep, customer=customer, amount=1500, at=past, number=f"AD-SMALL-{tag}",
                       planned_delivery=(now - timedelta(days=3)).date())  # overdue today: late
    big = make_order(seed, owner=rep, customer=customer, amount=80000, at=past, number=f"AD-BIG-{tag}")
    for order in (small, big):
        service_instance.start_flow(seed, order=order, actor=None, now=past, key=key)
    seed.commit()

    # the manager configures auto-approval on the approval step and back-tests it
    sign_in(page, base_url, designer_user.username)
    designer = FlowDesignerPage(page, base_url)
    designer.open(key)
    designer.select_node("approve")
    props = designer.props
    props.get_by_label("Approve automatically when the condition holds").check()
    props.get_by_role("button", name="Add a condition").click()
    rows = props.locator(".fd-auto-row")
    rows.nth(0).get_by_label("Condition: field").select_option("amount")
    rows.nth(0).get_by_label("Operator").select_option("<")
    rows.nth(0).get_by_label("Value").fill("5000")
    props.get_by_role("button", name="Add a condition").click()
    rows.nth(1).get_by_label("Condition: field").select_option("customer_on_time_rate")
    rows.nth(1).get_by_label("Operator").select_option(">=")
    rows.nth(1).get_by_label("Value").fill("0.95")
    props.get_by_label("Back-test: last weeks").fill("8")
    props.get_by_role("button", name="Back-test", exact=True).click()
    result = page.locator("#fd-backtest")
    expect(result).to_contain_text("2 orders reached this step in the last 8 weeks.", timeout=60_000)
    expect(result).to_contain_text("1 would have been approved automatically (50%).")
    expect(result).to_contain_text("Of those: 1 late, 0 cancelled, 0 unpaid, 1 still open.")
    expect(result).to_contain_text("Amount < 5000 and Customer on-time rate ≥ 0.95")
    expect(result.get_by_role("link", name=small.number)).to_be_visible()
    designer.apply()
    designer.click("Publish")
    expect(page.locator("#fd-status")).to_contain_text("Published version 2", timeout=60_000)

    # a new order under the threshold: the system approves it, with the reason on its timeline
    fresh = make_order(seed, owner=rep, customer=customer, amount=1200, number=f"AD-NEW-{tag}",
                       customer_on_time_rate=1.0, at=datetime.now(UTC))
    service_instance.start_flow(seed, order=fresh, actor=None, now=datetime.now(UTC), key=key)
    seed.commit()
    page.goto(f"{base_url}/orders/{fresh.id}")
    expect(page.get_by_text("Condition met: Amount < 5000 and Customer on-time rate ≥ 0.95").first) \
        .to_be_visible(timeout=60_000)
    # its stored scores, computed as its flow started (standard tier 10 + small amount 5)
    expect(page.locator("#orders-priority")).to_contain_text("15 / 100 · customer on time 100%")

    # the step's approver undoes it, at phone width: the approval opens again as their to-do
    page.context.clear_cookies()
    sign_in(page, base_url, manager.username)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/orders/{fresh.id}/flow")
    undo = page.get_by_role("button", name="Undo auto-approval")
    expect(undo).to_be_visible(timeout=60_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    undo.click()
    expect(page.locator("g.flow-node[aria-current=step]")).to_have_attribute("data-node-key", "approve",
                                                                             timeout=60_000)
    expect(page.get_by_role("heading", name="Your to-dos")).to_be_visible()
    expect(page.get_by_role("button", name="Undo auto-approval")).to_have_count(0)
    expect(page.get_by_text("Auto-approval undone").first).to_be_visible()
