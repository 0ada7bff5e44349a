"""Typing line items on the new order page shows the order amount the save will store: the lines'
total, not quantity × unit price (before: ¥12,000 stored while the lines came to ¥8,400)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, select

from backend.auth.service import load_actor
from backend.forms import service as forms_service
from backend.forms.models import FormDefinitionRow
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer
from tests.factories.people import make_user
from tests.frontend.test_order_form_amount import FORM


@pytest.fixture
def published_form(seed):
    """The live database is shared: publish the order form for this test only."""
    seed.execute(delete(FormDefinitionRow))
    seed.commit()
    actor = load_actor(seed, make_user(seed, roles=["designer"]).id)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    forms_service.save_draft(seed, actor=actor, key="order", now=now, definition=FORM)
    forms_service.publish_form(seed, actor=actor, key="order", now=now)
    yield
    seed.execute(delete(FormDefinitionRow))
    seed.commit()


def test_the_amount_follows_the_line_items_as_you_type(page: Page, base_url, seed, published_form):
    make_user(seed, username="live.amount", roles=["sales"], locale="en")
    customer = make_customer(seed, name="Live Amount Co")
    seed.commit()
    sign_in(page, base_url, "live.amount")
    page.goto(f"{base_url}/orders/new")
    page.get_by_label("Customer").select_option(str(customer.id))
    page.locator("[name=product]").fill("Valve")
    page.locator("[name=quantity]").fill("100")
    page.locator("[name=unit_price]").fill("120")
    amount = page.locator("#orders-amount")
    expect(amount).to_have_text("CN¥12,000.00")
    page.locator('[name="items.0.qty"]').fill("60")
    page.locator('[name="items.0.price"]').fill("140")
    expect(amount).to_have_text("CN¥8,400.00")
    page.get_by_role("button", name="Save order").click()
    page.wait_for_url(lambda url: "/orders/new" not in url)
    seed.expire_all()
    stored = seed.exec(select(Order.amount).where(Order.customer_id == customer.id)).scalar_one()
    assert str(stored) == "8400.00"
