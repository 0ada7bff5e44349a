"""Vendor templates in a real browser: an admin picks "New from template" → Kingdee K/3 Cloud, sees
what it fills and leaves, enters the address and credentials of a local fake K/3 Cloud, saves,
runs it now and sees the orders; the pages fit a phone."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.people import make_user
from tests.factories.vendor_sources import FakeKingdee


@pytest.fixture
def k3():
    tag = uuid.uuid4().hex[:6].upper()
    local = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    bills = [{"FBillNo": f"VT{tag}-{i}", "FDate": (local - timedelta(days=1)).strftime("%Y-%m-%dT00:00:00"),
              "FModifyDate": (local - timedelta(hours=3, minutes=i)).strftime("%Y-%m-%dT%H:%M:%S"),
              "FCustId.FNumber": f"VT{tag}", "FCustId.FName": f"金蝶客户{tag}", "FDocumentStatus": "C",
              "FBillAllAmount": 1000.0 * i, "FSettleCurrId.FCode": "CNY",
              "lines": [{"FMaterialId.FNumber": f"MAT-{j}", "FQty": j + 1, "FTaxPrice": 100.0} for j in range(i)]}
             for i in range(1, 4)]
    server = FakeKingdee(bills).start()
    server.tag = tag
    yield server
    server.stop()


def test_admin_creates_a_kingdee_connector_from_the_template(page: Page, base_url, seed, k3, monkeypatch):
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    admin = make_user(seed, roles=["admin"], locale="en")
    seed.commit()
    sign_in(page, base_url, admin.username)
    page.goto(f"{base_url}/admin/connectors")
    page.get_by_role("link", name="New from template").click()
    card = page.locator('[data-template="kingdee_k3cloud"]')
    expect(card).to_contain_text("Kingdee K/3 Cloud sales orders")
    expect(card.locator("[data-fills]")).to_contain_text("Customer code")
    expect(card.locator("[data-fills]")).to_contain_text("Line items")
    expect(card.locator("[data-leaves]")).to_contain_text("Planned delivery")
    expect(page.locator('[data-template="tmall_top"]')).to_be_visible()
    card.get_by_role("link", name="Use this template").click()
    template = page.locator("#connectors-template")
    expect(template.locator("[data-leaves]")).to_contain_text("Payment due")
    expect(page.get_by_label("Form id")).to_have_value("SAL_SaleOrder")
    expect(page.get_by_label("Source path 1", exact=True)).to_have_value("FBillNo")
    name = f"VT kingdee {k3.tag}"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Server address").fill(k3.base)
    page.get_by_label("Data center id (acctID)").fill(FakeKingdee.ACCT)
    page.get_by_label("User name").fill(FakeKingdee.USER)
    page.get_by_label("Password").fill(FakeKingdee.PASSWORD)
    page.get_by_label("Source name", exact=False).fill(f"vt{k3.tag.lower()}")
    page.get_by_role("button", name="Fetch sample").click()
    expect(page.locator("#connectors-preview")).to_contain_text(f"VT{k3.tag}-1", timeout=20_000)
    page.get_by_role("button", name="Save connector").click()
    expect(page.get_by_role("heading", name=f"Connector {name}")).to_be_visible()
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#connectors-flash")).to_contain_text("3 read, 3 created", timeout=30_000)
    seed.expire_all()
    got = {o.number: o for o in seed.exec(select(Order).where(Order.source == f"vt{k3.tag.lower()}")).scalars()}
    assert sorted(got) == [f"VT{k3.tag}-{i}" for i in (1, 2, 3)]
    assert str(got[f"VT{k3.tag}-3"].amount) == "3000.00" and "MAT-2" in got[f"VT{k3.tag}-3"].data["vendor_lines"]
    page.get_by_role("link", name="Edit").click()
    expect(page.locator('[data-saved="password"]')).to_be_visible()
    assert FakeKingdee.PASSWORD not in page.content()
    page.goto(f"{base_url}/orders?q=VT{k3.tag}")
    for i in (1, 2, 3):
        expect(page.get_by_text(f"VT{k3.tag}-{i}", exact=True).first).to_be_visible()


def test_wrong_password_shows_on_the_health_page(page: Page, base_url, seed, k3, monkeypatch):
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    admin = make_user(seed, roles=["admin"], locale="zh-CN")
    seed.commit()
    sign_in(page, base_url, admin.username)
    page.goto(f"{base_url}/admin/connectors/new?template=kingdee_k3cloud")
    expect(page.locator("#connectors-template")).to_contain_text("金蝶云星空")
    page.get_by_label("名称", exact=True).fill(f"VT 错密码 {k3.tag}")
    page.get_by_label("服务器地址").fill(k3.base)
    page.get_by_label("数据中心 ID（acctID）").fill(FakeKingdee.ACCT)
    page.get_by_label("用户名").fill(FakeKingdee.USER)
    page.get_by_label("密码", exact=True).fill("wrong")
    page.locator('input[name="source"]').fill(f"vtw{k3.tag.lower()}")
    page.locator("#connectors-form button[type=submit]").click()
    page.locator("form[action$='/run'] button").click()
    expect(page.locator("#connectors-flash")).to_contain_text("拒绝登录", timeout=30_000)
    expect(page.locator("#connectors-flash")).to_contain_text("用户名或密码错误")


def test_template_pages_fit_a_phone(browser, base_url, seed):
    from tests.browser.test_walkthrough_phone import phone_page

    admin = make_user(seed, roles=["admin"], locale="zh-CN")
    seed.commit()
    with phone_page(browser, base_url, admin.username, locale="zh-CN") as page:
        for path in ("/admin/connector-templates", "/admin/connectors/new?template=kingdee_k3cloud",
                     "/admin/connectors/new?template=tmall_top"):
            page.goto(base_url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        page.goto(base_url + "/admin/connector-templates")
        expect(page.locator('[data-template="jd_pop"]')).to_contain_text("京东")
