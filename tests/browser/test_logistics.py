"""Issue 13 (logistics) in a real browser: an admin configures a Kuaidi100-shaped tracking source
(a real local server), staff enter a carrier and tracking number, "Poll now" brings the carrier's
events onto the order page and the customer's tracking page, a signed push marks the order signed,
at phone width nothing overflows."""

from __future__ import annotations

import uuid

import httpx
import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect
from sqlalchemy import delete, select

from backend.logistics.models import TrackingSource
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_order
from tests.factories.people import make_user
from tests.factories.tracking_source import CUSTOMER, KEY, SALT, TrackingServer, push_form

EVENTS = [("2026-11-24 09:00:00", "【杭州市】中通快递 已揽收", "揽收"),
          ("2026-11-24 21:40:00", "【杭州转运中心】已发出，下一站【北京转运中心】", "在途")]
SIGNED = EVENTS + [("2026-11-25 15:20:00", "【北京市】已签收，签收人：前台", "签收")]


@pytest.fixture
def server():
    s = TrackingServer().start()
    yield s
    s.stop()


def test_admin_configures_source_and_events_reach_order_and_customer_pages(page: Page, base_url, seed, server,
                                                                            monkeypatch):
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    tag = uuid.uuid4().hex[:6].upper()
    number, name = f"ZTO{tag}", f"LOG-source {tag}"
    admin = make_user(seed, roles=["admin"], locale="en")
    order = make_order(seed, owner=admin, number=f"LOG-{tag}")
    seed.commit()
    server.feeds[number] = ("0", EVENTS)
    try:
        sign_in(page, base_url, admin.username)
        # the admin configures the tracking source
        page.goto(f"{base_url}/admin/logistics")
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Query address").fill(f"{server.url}/poll/query.do")
        page.get_by_label("Customer id").fill(CUSTOMER)
        page.get_by_label("Authorization key").fill(KEY)
        page.get_by_label("Push salt").fill(SALT)
        page.get_by_label("Poll every (minutes)").fill("30")
        page.get_by_role("button", name="Save tracking source").click()
        row = page.locator(f'#logistics-sources tr[data-source="{name}"]')
        expect(row).to_contain_text("Active")
        expect(row.locator(".logistics-push-url")).to_contain_text("/api/v1/tracking-push/")
        expect(page.locator("body")).not_to_contain_text(KEY)
        # staff record the shipment on the order's customer-tracking page
        page.goto(f"{base_url}/orders/{order.id}/tracking")
        page.get_by_label("Carrier").fill("zhongtong")
        page.get_by_label("Tracking number").fill(number)
        page.get_by_role("button", name="Save shipment").click()
        page.goto(f"{base_url}/orders/{order.id}")
        expect(page.locator("#logistics-panel")).to_contain_text(number, timeout=20_000)
        # poll now (what the worker does on schedule)
        page.goto(f"{base_url}/admin/logistics")
        page.get_by_role("button", name="Poll due shipments now").click()
        expect(page.locator("#logistics-flash")).to_contain_text("shipments polled", timeout=30_000)
        page.goto(f"{base_url}/orders/{order.id}")
        panel = page.locator("#logistics-panel")
        expect(panel).to_contain_text("杭州转运中心", timeout=20_000)
        expect(panel).to_contain_text("In transit")
        items = panel.locator(".logistics-events li")
        expect(items).to_have_count(2)
        expect(items.first).to_contain_text("杭州转运中心")  # newest first
        # the customer's tracking page: the same events, in the customer's language
        page.goto(f"{base_url}/orders/{order.id}/tracking")
        if page.locator("#tracking-url").count() == 0:  # the "shipped" message may have made one already
            page.get_by_role("button", name="Make a tracking link").click()
        link = page.locator("#tracking-url").input_value()
        customer_page = page.context.browser.new_context().new_page()  # the customer's own browser
        customer_page.goto(link)
        customer_panel = customer_page.locator("#logistics-panel")
        expect(customer_panel).to_contain_text("杭州转运中心", timeout=20_000)
        expect(customer_panel).to_contain_text("运输中")
        expect(customer_panel).not_to_contain_text("上次查询")
        # the aggregator pushes "signed": the order is signed, the customer sees it
        key = seed.execute(select(TrackingSource.push_key).where(TrackingSource.name == name)).scalar_one()
        answer = httpx.post(f"{base_url}/api/v1/tracking-push/{key}", data=push_form(number, "3", SIGNED))
        assert answer.status_code == 200 and answer.json()["result"] is True
        customer_page.reload()
        expect(customer_page.locator("#logistics-signed")).to_be_visible(timeout=20_000)
        expect(customer_page.locator("#logistics-panel")).to_contain_text("已签收")
        seed.rollback()  # a fresh read (the seed session's snapshot is older than the push)
        assert seed.get(Order, order.id).signed_at is not None
        # phone width: nothing overflows
        for width in (390, 360):
            for target in (page, customer_page):
                target.set_viewport_size({"width": width, "height": 800})
            page.goto(f"{base_url}/orders/{order.id}")
            expect(page.locator("#logistics-signed")).to_be_visible(timeout=20_000)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            customer_page.reload()
            expect(customer_page.locator("#logistics-signed")).to_be_visible(timeout=20_000)
            assert customer_page.evaluate("document.documentElement.scrollWidth") <= width
            page.goto(f"{base_url}/admin/logistics")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        # the admin removes the source (a global setting of the shared database)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.locator(f'#logistics-sources tr[data-source="{name}"]').get_by_role("button", name="Delete").click()
        expect(page.locator("#logistics-flash")).to_contain_text("deleted")
        expect(page.locator(f'#logistics-sources tr[data-source="{name}"]')).to_have_count(0)
    finally:
        seed.rollback()
        seed.execute(delete(TrackingSource).where(TrackingSource.name == name))
        seed.commit()
