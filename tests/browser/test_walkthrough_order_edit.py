"""Walkthrough: a sales rep edits an order through the designed form.

Found on the demo data: the order page offered no way to change an order (no edit page existed)
and no way to the customer's tracking link page (/orders/{id}/tracking was linked from nowhere).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete

from backend.auth.service import load_actor
from backend.forms import service as forms_service
from backend.forms.models import FormDefinitionRow
from backend.orders import service as orders_service
from backend.orders.schemas import OrderUpdate
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

FIELDS = [
    {"key": "quantity", "type": "number", "required": True, "label": {"en": "Quantity", "zh-CN": "数量"}},
    {"key": "unit_price", "type": "number", "label": {"en": "Unit price", "zh-CN": "单价"}},
    {"key": "remark", "type": "text", "label": {"en": "Remark", "zh-CN": "备注"}},
]


@pytest.fixture
def published_form(seed):
    """The live database is shared: publish the order form for this test only."""
    seed.execute(delete(FormDefinitionRow))
    seed.commit()
    designer = make_user(seed, roles=["designer"])
    seed.commit()
    actor = load_actor(seed, designer.id)
    now = datetime(2026, 11, 26, tzinfo=UTC)
    forms_service.save_draft(seed, actor=actor, key="order", now=now, definition={"key": "order", "fields": FIELDS})
    forms_service.publish_form(seed, actor=actor, key="order", now=now)
    yield
    seed.execute(delete(FormDefinitionRow))
    seed.commit()


def _rep_and_order(seed, suffix: str, locale: str = "en"):
    rep = make_user(seed, username=f"walk.edit.{suffix}", roles=["sales"], locale=locale)
    order = make_order(seed, owner=rep, number=f"EDIT-{suffix}", customer=make_customer(seed, name=f"Edit Co {suffix}"),
                       data={"quantity": 2, "unit_price": 10})
    seed.commit()
    return rep, order


class TestEditOrder:
    def test_edit_keeps_input_on_error_and_saves(self, page: Page, base_url, seed, published_form):
        rep, order = _rep_and_order(seed, "save")
        sign_in(page, base_url, rep.username)
        page.goto(f"{base_url}/orders/{order.id}")
        page.get_by_role("link", name="Edit", exact=True).click()
        expect(page.get_by_role("heading", name=f"Edit order {order.number}")).to_be_visible()
        expect(page.get_by_label("Quantity")).to_have_value("2")
        expect(page.get_by_label("Customer")).to_have_value(str(order.customer_id))

        page.get_by_label("Quantity").fill("")
        page.get_by_label("Remark").fill("rush, call first")
        page.get_by_role("button", name="Save changes").click()
        field = page.locator('[data-field="quantity"]')
        expect(field.get_by_role("alert")).not_to_be_empty()
        expect(page.get_by_label("Remark")).to_have_value("rush, call first")

        page.get_by_label("Quantity").fill("5")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("status").filter(has_text="Order saved.")).to_be_visible()
        expect(page.locator("#orders-form-fields, #orders-data")).to_contain_text("rush, call first")
        timeline = page.locator("#orders-timeline")
        expect(timeline).to_contain_text("Form fields · Remark: rush, call first")
        expect(timeline).to_contain_text("Form fields · Quantity: 2 → 5")  # the form's words, not the keys
        expect(timeline).not_to_contain_text("unit_price")

    def test_someone_elses_change_is_refused_and_the_typing_kept(self, page: Page, base_url, seed, published_form):
        rep, order = _rep_and_order(seed, "conflict")
        sign_in(page, base_url, rep.username)
        page.goto(f"{base_url}/orders/{order.id}/edit")
        page.get_by_label("Remark").fill("mine")
        orders_service.update_order(seed, actor=load_actor(seed, rep.id), order_id=order.id,
                                    payload=OrderUpdate(version=order.version, data={"remark": "theirs"}),
                                    now=datetime.now(UTC))
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator("#orders-form-error")).to_contain_text("Someone else changed this order")
        expect(page.get_by_label("Remark")).to_have_value("mine")

    def test_chinese_and_the_tracking_link_and_no_edit_for_viewers(self, page: Page, base_url, seed, published_form):
        rep, order = _rep_and_order(seed, "zh", locale="zh_CN")
        make_user(seed, username="walk.edit.viewer", roles=["viewer"], locale="en")
        seed.commit()
        sign_in(page, base_url, rep.username)
        page.goto(f"{base_url}/orders/{order.id}")
        page.get_by_role("link", name="编辑", exact=True).click()
        expect(page.get_by_role("button", name="保存修改")).to_be_visible()
        page.get_by_role("link", name="取消").click()
        page.get_by_role("link", name="客户跟踪").click()
        expect(page).to_have_url(f"{base_url}/orders/{order.id}/tracking")

        page.context.clear_cookies()
        sign_in(page, base_url, "walk.edit.viewer")
        page.goto(f"{base_url}/orders/{order.id}")
        expect(page.get_by_role("heading", name=f"Order {order.number}")).to_be_visible()
        expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
