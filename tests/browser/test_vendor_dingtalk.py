"""Issue 13, vendor templates in a real browser at phone width: an admin chooses New from template →
DingTalk approvals, reads what it fills and leaves, enters the fake DingTalk's address, app key,
form code and secret, saves, runs it now and finds the order from the approved 合同审批 (the refused
one makes none)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from backend.clock import utcnow
from backend.connectors.models import Connector
from backend.orders.models import Order
from tests.browser.test_walkthrough_phone import phone_page
from tests.factories.people import make_user
from tests.factories.vendor_sources2 import SHANGHAI, FakeDingTalk


@pytest.fixture
def ding():
    tag = uuid.uuid4().hex[:6].upper()
    created = (utcnow() - timedelta(hours=2)).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")

    def inst(n, result):
        return {"id": f"pi-{tag}-{n}", "process_code": FakeDingTalk.PROCESS, "create_time": created,
                "finish_time": created, "status": "COMPLETED", "result": result, "business_id": f"BIZ{tag}{n}",
                "form": {"合同编号": f"DD-{tag}-{n}", "客户名称": f"钉钉客户{tag}", "合同金额": "8800.00",
                         "交货日期": "2026-12-31"}}

    server = FakeDingTalk([inst(1, "agree"), inst(2, "refuse")]).start()
    server.tag = tag
    yield server
    server.stop()


def _fits(page, what: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, what


def test_admin_sets_up_dingtalk_approvals_from_the_template_on_a_phone(browser: Browser, base_url, seed, ding,
                                                                       monkeypatch):
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    admin = make_user(seed, roles=["admin"], locale="en")
    seed.commit()
    name = f"DD approvals {ding.tag}"
    with phone_page(browser, base_url, admin.username) as page:
        page.goto(f"{base_url}/admin/connectors")
        page.get_by_role("link", name="New from template").click()
        card = page.locator('[data-template="dingtalk_approval"]')
        expect(card).to_contain_text("DingTalk approvals")
        expect(card.locator("[data-fills]")).to_contain_text("Amount")
        expect(card.locator("[data-fills]")).to_contain_text("Approval number (DingTalk business_id)")
        expect(card.locator("[data-leaves]")).to_contain_text("The approval and fulfilment flow")
        _fits(page, "templates")
        card.get_by_role("link", name="Use this template").click()
        expect(page.locator("#connectors-template")).to_contain_text("Approval number (DingTalk business_id)")
        _fits(page, "form")
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label(re.compile(r"^Server address")).fill(ding.url)
        page.get_by_label(re.compile(r"^AppKey of the internal app")).fill(FakeDingTalk.APP_KEY)
        page.get_by_label(re.compile(r"^Approval form code")).fill(FakeDingTalk.PROCESS)
        expect(page.get_by_label(re.compile(r"^Form field: contract number"))).to_have_value("合同编号")
        page.get_by_label(re.compile(r"^AppSecret")).fill(FakeDingTalk.APP_SECRET)
        page.get_by_role("button", name="Save connector").click()
        expect(page.get_by_role("heading", name=f"Connector {name}")).to_be_visible()
        _fits(page, "detail")
        page.get_by_role("button", name="Run now").click()
        expect(page.locator("#connectors-flash")).to_contain_text("1 read, 1 created", timeout=30_000)
        seed.expire_all()
        order = seed.exec(select(Order).where(Order.source == "dingtalk",
                                              Order.external_id == f"DD-{ding.tag}-1")).scalar_one()
        assert seed.exec(select(Order).where(Order.external_id == f"DD-{ding.tag}-2")).first() is None
        page.goto(f"{base_url}/orders/{order.id}")
        expect(page.locator("body")).to_contain_text(f"DD-{ding.tag}-1")
        expect(page.locator("body")).to_contain_text(f"钉钉客户{ding.tag}")
        expect(page.locator("body")).to_contain_text("8,800.00")
        _fits(page, "order")
    connector = seed.exec(select(Connector).where(Connector.name == name)).scalar_one()
    connector.is_enabled = False  # the fake is gone: keep the shared live server's worker off it
    seed.commit()
