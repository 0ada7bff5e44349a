"""Issue 13 in a real browser: an admin creates an SQL pull connector against a PostgreSQL view,
tests the connection, fetches a sample with the read order, saves, runs it and sees the orders."""

from __future__ import annotations

import re
import uuid

from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.orders.models import Order
from tests.backend.connectors.sql_sources import pg_source  # noqa: F401 (fixture)
from tests.browser.conftest import sign_in
from tests.factories.people import make_user


def test_admin_builds_an_sql_connector_and_runs_it(page: Page, base_url, seed, pg_source, monkeypatch):  # noqa: F811
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    tag = uuid.uuid4().hex[:6].upper()
    pg_source.put(*[(f"SQL-{tag}-{i}", f"SQL{tag}", f"{100 * i}.00", "已签约", f"2026-11-2{i} 10:00:00")
                    for i in range(1, 4)])
    admin = make_user(seed, roles=["admin"], locale="en")
    seed.commit()
    sign_in(page, base_url, admin.username)
    page.goto(f"{base_url}/admin/connectors")
    page.get_by_role("link", name="New SQL connector").click()
    expect(page.get_by_role("heading", name="New SQL connector")).to_be_visible()
    s = pg_source.settings
    name = f"SQL shop {tag}"
    page.get_by_label("Name", exact=True).fill(name)
    page.locator("select[name=dialect]").select_option("postgresql")
    page.get_by_label("Host", exact=True).fill(s["host"])
    page.get_by_label(re.compile(r"^Port")).fill(str(s["port"]))
    page.get_by_label("Database name").fill(s["database"])
    page.get_by_label("User (read-only login)").fill(s["user"])
    page.get_by_label(re.compile(r"^Schema")).fill("src")
    page.get_by_label("View or table").fill("v_orderz")
    page.get_by_label(re.compile(r"^Cursor column")).fill("updated")
    page.get_by_label(re.compile(r"^Key column")).fill("code")
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#connectors-test-result")
    expect(result).to_contain_text("There is no view or table src.v_orderz", timeout=20_000)
    page.get_by_label("View or table").fill("v_orders")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connectors-test-result")).to_contain_text("Connected read-only", timeout=20_000)
    for i, (path, target) in enumerate([("code", "external_id"), ("code", "number"), ("buyer", "customer_code"),
                                        ("total", "amount"), ("status", "stage")]):
        page.get_by_label(f"Source path {i + 1}", exact=True).fill(path)
        page.get_by_label(f"Order field {i + 1}", exact=True).select_option(target)
    page.get_by_label("Stage for each value of the source", exact=False).fill("已签约=approval")
    page.get_by_label("Create unknown customers", exact=False).check()
    page.get_by_label("Source name", exact=False).fill(f"sql{tag.lower()}")
    page.get_by_role("button", name="Fetch sample").click()
    expect(page.locator("#connectors-sample-order")).to_contain_text("src.v_orders ORDER BY updated, code",
                                                                     timeout=20_000)
    preview = page.locator("#connectors-preview")
    expect(preview).to_contain_text(f"SQL-{tag}-1")
    expect(preview).to_contain_text("approval")
    page.get_by_role("button", name="Save connector").click()
    expect(page.get_by_role("heading", name=f"Connector {name}")).to_be_visible(timeout=20_000)
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#connectors-flash")).to_contain_text("3 read, 3 created", timeout=30_000)
    seed.expire_all()
    numbers = sorted(seed.exec(select(Order.number).where(Order.source == f"sql{tag.lower()}")).scalars())
    assert numbers == [f"SQL-{tag}-{i}" for i in (1, 2, 3)]
    page.goto(f"{base_url}/orders?q=SQL-{tag}")
    expect(page.get_by_text(f"SQL-{tag}-2").first).to_be_visible(timeout=20_000)


def test_sql_connector_form_fits_a_phone(browser, base_url, seed):
    from tests.browser.test_walkthrough_phone import phone_page

    admin = make_user(seed, roles=["admin"], locale="zh-CN")
    seed.commit()
    with phone_page(browser, base_url, admin.username, locale="zh-CN") as page:
        page.goto(f"{base_url}/admin/connectors/new?kind=sql")
        expect(page.get_by_role("heading", name="新建 SQL 连接器")).to_be_visible()
        expect(page.get_by_role("button", name="测试连接")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.goto(f"{base_url}/admin/connectors")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
