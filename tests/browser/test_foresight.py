"""Foresight in the browser: an admin retrains (the worker runs the queued run), watches the progress
bar, opens the model page and sees the figures and both charts; a sales rep sees the delay risk and its
explanation on the order page (also at phone width); the rule builder offers the predicted completion.

Names are prefixed FSB (users fsb.*, customers FSB*, order numbers FSB*)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from backend.foresight import tasks
from tests.browser.conftest import sign_in
from tests.factories import foresight_history
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def _seed(seed, now):
    make_user(seed, username="fsb.admin", roles=["admin", "designer"], locale="en")
    rep = make_user(seed, username="fsb.rep", roles=["sales"], locale="en")
    customers = {n: make_customer(seed, name=f"FSB{n}").id for n in foresight_history.CUSTOMERS}
    seed.commit()
    start = now - timedelta(days=240)
    foresight_history.store(seed, foresight_history.history(240, start=start), owner_id=rep.id,
                            customer_ids=customers, prefix="FSB")
    from backend.customers.models import Customer

    order = make_order(seed, owner=rep, customer=seed.get(Customer, customers["Slowco"]), number="FSB-OPEN-1",
                       stage="production", at=now - timedelta(days=8), stage_entered_at=now - timedelta(days=6),
                       planned_delivery=(now + timedelta(days=1)).date())
    seed.commit()
    return order


def test_admin_retrains_and_a_sales_rep_reads_the_risk(page: Page, base_url, seed, live_engine):
    now = datetime.now(UTC)
    order = _seed(seed, now)

    sign_in(page, base_url, "fsb.admin")
    page.goto(f"{base_url}/admin/users")
    page.get_by_role("link", name="Delay-risk model").click()
    expect(page.get_by_role("heading", name="Delay-risk model")).to_be_visible()
    page.get_by_role("button", name="Retrain").click()
    bar = page.locator("#foresight-progress-bar")
    expect(bar).to_be_visible(timeout=30_000)
    expect(page.locator("#foresight-progress-step")).to_contain_text("Training run")

    # the worker picks the run up (the live server runs without its worker thread)
    worker = threading.Thread(target=tasks.train_due, args=(live_engine, datetime.now(UTC)), daemon=True)
    worker.start()
    expect(page.locator("#foresight-run-done")).to_be_visible(timeout=90_000)
    worker.join(60)
    page.get_by_role("link", name="Show the figures").click()
    newest = page.locator("#foresight-newest")
    expect(newest).to_be_visible()
    expect(newest.locator(".foresight-size")).to_contain_text("closed orders")
    expect(newest.locator(".foresight-auc")).not_to_have_text("–")
    expect(newest.locator(".foresight-brier")).not_to_have_text("–")
    expect(newest.locator('.foresight-chart[data-chart="reliability"] svg')).to_have_count(1, timeout=30_000)
    expect(newest.locator('.foresight-chart[data-chart="importances"] svg')).to_have_count(1)

    # the rule builder offers the predicted completion as a field
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_role("button", name="Add condition").click()
    field = page.get_by_role("group", name="Condition").get_by_label("Field", exact=True)
    expect(field.locator("option", has_text="Predicted completion at")).to_have_count(1)
    field.select_option(label="Predicted completion at")

    # the sales rep reads the risk and why
    page.context.clear_cookies()
    sign_in(page, base_url, "fsb.rep")
    page.goto(f"{base_url}/orders/{order.id}")
    panel = page.locator("#foresight-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("#foresight-risk")).to_contain_text("Delay risk")
    expect(panel.locator("#foresight-reasons")).to_contain_text("Production already 6.0 days")
    expect(panel.locator("#foresight-completion")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    expect(page.locator("#foresight-panel")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0
