"""Issue 17: the shipped order form asks for the payment due date, keeps later-stage fields
(production done, carrier, ...) off the new order form and shows them once the order reaches
their stage; the form designer sets "shown from stage" with a picker, not JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, select, update

from backend.auth.service import load_actor
from backend.demo_designs import DEMO_FORM
from backend.forms import service as forms_service
from backend.forms.models import FormDefinitionRow
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer
from tests.factories.people import make_user

NOW = datetime(2026, 12, 6, tzinfo=UTC)


@pytest.fixture
def clean_forms(seed):
    """The live database is shared: no published order form outlives the test."""
    seed.execute(delete(FormDefinitionRow))
    seed.commit()
    yield
    seed.execute(delete(FormDefinitionRow))
    seed.commit()


def publish(seed, definition):
    actor = load_actor(seed, make_user(seed, roles=["designer"]).id)
    forms_service.save_draft(seed, actor=actor, key="order", now=NOW, definition=definition)
    forms_service.publish_form(seed, actor=actor, key="order", now=NOW)


def field(page: Page, key: str):
    return page.locator(f'#orders-form-fields [data-field="{key}"]')


def test_later_stage_fields_appear_at_their_stage(page: Page, base_url, seed, clean_forms):
    publish(seed, DEMO_FORM)
    make_user(seed, username="frm.stages", roles=["sales"], locale="en")
    customer = make_customer(seed, name="FRM- Stages Co")
    seed.commit()
    sign_in(page, base_url, "frm.stages")
    page.goto(f"{base_url}/orders/new")
    expect(page.get_by_label("Payment due")).to_be_visible()
    for later in ("production_done_on", "carrier", "tracking_no", "signed_on", "invoice_no", "paid_on"):
        expect(field(page, later)).to_have_count(1)  # on the page, not shown
        expect(field(page, later)).to_be_hidden()
    page.locator("[name=customer_id]").select_option(str(customer.id))
    page.locator("[name=product]").fill("FRM-valve")
    page.locator("[name=quantity]").fill("2")
    page.locator("[name=unit_price]").fill("50")
    page.get_by_label("Payment due").fill("2027-01-15")
    page.get_by_role("button", name="Save order").click()
    page.wait_for_url(lambda url: "/orders/new" not in url)
    seed.expire_all()
    order = seed.exec(select(Order).where(Order.customer_id == customer.id)).scalar_one()
    assert order.payment_due == date(2027, 1, 15)  # the core column R5 reads
    # the order reaches shipping: production, shipping and sign-off fields are there (the customer
    # signs for it while it is in shipping; delivered comes after), invoicing not yet
    seed.execute(update(Order).where(Order.id == order.id).values(stage="shipping"))
    seed.commit()
    page.goto(f"{base_url}/orders/{order.id}/edit")
    for shown in ("production_done_on", "carrier", "tracking_no", "signed_on"):
        expect(field(page, shown)).to_be_visible()
    for later in ("invoice_no", "paid_on"):
        expect(field(page, later)).to_have_count(1)
        expect(field(page, later)).to_be_hidden()
    page.locator("[name=carrier]").fill("FRM-SF Express")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(lambda url: "/edit" not in url)
    expect(page.locator("#orders-designed-fields, main").first).to_contain_text("FRM-SF Express")
    seed.expire_all()
    assert seed.get(Order, order.id).data["carrier"] == "FRM-SF Express"
    seed.rollback()


def test_designer_sets_shown_from_stage_without_json(page: Page, base_url, seed, clean_forms):
    user = make_user(seed, username="frm.designer", roles=["designer"], locale="en")
    seed.commit()
    forms_service.save_draft(seed, actor=load_actor(seed, user.id), key="order", now=NOW, definition={
        "key": "order", "title": {"en": "Order", "zh-CN": "订单"},
        "fields": [{"key": "carrier", "type": "text", "label": {"en": "Carrier", "zh-CN": "承运商"}}]})
    sign_in(page, base_url, "frm.designer")
    page.set_viewport_size({"width": 1400, "height": 1200})
    page.goto(f"{base_url}/designer/forms")
    page.locator("#forms-canvas li[data-index]").first.click()
    picker = page.locator("#forms-properties").get_by_label("Shown from stage")
    expect(picker).to_have_value("")
    picker.select_option(label="Shipping")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#forms-message")).to_have_text("Draft saved.")
    seed.expire_all()
    working = forms_service.get_working_copy(seed, actor=None, key="order")
    seed.rollback()  # end the read: a snapshot left open would refuse the teardown's write
    assert working.definition["fields"][0]["visible_if"] == forms_service.shown_from_stage("shipping")
    # the picker reads the condition back after a reload
    page.reload()
    page.locator("#forms-canvas li[data-index]").first.click()
    expect(page.locator("#forms-properties").get_by_label("Shown from stage")).to_have_value("shipping")
    # and publishing accepts it
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#forms-message")).to_contain_text("Published version")
