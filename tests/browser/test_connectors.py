"""Issue 13 in a real browser: an admin creates an HTTP JSON connector against a local server,
fetches a sample, maps the fields, saves, clicks "Run now" and sees the orders and the counts."""

from __future__ import annotations

import re
import uuid

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.connector_source import Source
from tests.factories.people import make_user


@pytest.fixture
def source():
    tag = uuid.uuid4().hex[:6].upper()
    records = [{"id": f"CON-{tag}-{i}", "no": f"CON-{tag}-{i}", "buyer": {"code": f"CON{tag}", "name": f"连接客户{tag}"},
                "total": f"{100 * i}.00", "status": "已签约"} for i in range(1, 4)]
    server = Source(records).start()
    server.tag = tag
    yield server
    server.stop()


def test_admin_builds_a_connector_and_runs_it(page: Page, base_url, seed, source, monkeypatch):
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    admin = make_user(seed, roles=["admin"], locale="en")
    seed.commit()
    sign_in(page, base_url, admin.username)
    page.goto(f"{base_url}/admin/connectors")
    page.get_by_role("link", name="New connector").click()
    name = f"CON shop {source.tag}"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label(re.compile(r"^URL")).fill(source.url + "/orders/link?page=1")
    page.get_by_label("Secret header name (e.g. Authorization)").fill("X-Api-Key")
    page.get_by_label("Secret header value").fill("browser-secret-9")
    page.get_by_label(re.compile(r"^Path to the list of records")).fill("data.items")
    page.get_by_label("Paging").select_option("next_link")
    page.get_by_label(re.compile(r"^Path to the next link")).fill("links.next")
    page.get_by_role("button", name="Fetch sample").click()
    sample = page.locator("#connectors-sample")
    expect(sample).to_contain_text(f"CON-{source.tag}-1", timeout=20_000)
    expect(sample).to_contain_text("buyer.code")
    for i, (path, target) in enumerate([("id", "external_id"), ("no", "number"), ("buyer.code", "customer_code"),
                                        ("buyer.name", "customer"), ("total", "amount"), ("status", "stage")]):
        page.get_by_label(f"Source path {i + 1}", exact=True).fill(path)
        page.get_by_label(f"Order field {i + 1}", exact=True).select_option(target)
    page.get_by_label("Stage for each value of the source", exact=False).fill("已签约=approval")
    page.get_by_label("Create unknown customers", exact=False).check()
    page.get_by_label("Source name", exact=False).fill(f"con{source.tag.lower()}")
    page.get_by_role("button", name="Fetch sample").click()  # now with the mapping: a preview of the orders
    preview = page.locator("#connectors-preview")
    expect(preview).to_contain_text("approval", timeout=20_000)
    expect(preview).to_contain_text("200.00")
    page.get_by_role("button", name="Save connector").click()
    expect(page.get_by_role("heading", name=f"Connector {name}")).to_be_visible()
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#connectors-flash")).to_contain_text("3 read, 3 created", timeout=30_000)
    health = page.locator("#connectors-health")
    expect(health.locator('[data-count="created"]')).to_have_text("3")
    expect(health.locator('[data-count="failed"]')).to_have_text("0")
    page.get_by_role("link", name="Edit").click()
    expect(page.locator('[data-saved="secret_header_value"]')).to_be_visible()
    assert "browser-secret-9" not in page.content()
    seed.expire_all()
    numbers = sorted(seed.exec(select(Order.number).where(Order.source == f"con{source.tag.lower()}")).scalars())
    assert numbers == [f"CON-{source.tag}-{i}" for i in (1, 2, 3)]
    page.goto(f"{base_url}/admin/connectors")
    expect(page.locator(f'[data-connector="{name}"]')).to_contain_text("3")


def test_connector_pages_fit_a_phone(browser, base_url, seed, source, monkeypatch):
    from backend.auth.service import load_actor
    from backend.clock import utcnow
    from backend.connectors import runner, service
    from backend.connectors.schemas import ConnectorCreate
    from tests.browser.test_walkthrough_phone import phone_page

    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    admin = make_user(seed, roles=["admin"], locale="zh-CN")
    seed.commit()
    source.records[0]["total"] = "not money"
    connector = service.create_connector(seed, actor=load_actor(seed, admin.id), now=utcnow(),
                                         payload=ConnectorCreate.model_validate({
        "name": f"CON phone {source.tag}", "settings": {"url_template": source.url + "/orders/link?page=1",
                                                        "paging": "next_link", "next_link_path": "links.next",
                                                        "records_path": "data.items"},
        "mapping": {"columns": {"external_id": "id", "customer": "buyer.name", "amount": "total"},
                    "create_customers": True, "source": f"conp{source.tag.lower()}"}}))
    runner.run_connector(seed.get_bind(), connector.id, utcnow(), trigger="manual")
    with phone_page(browser, base_url, admin.username, locale="zh-CN") as page:
        for path in ("/admin/connectors", "/admin/connectors/new", f"/admin/connectors/{connector.id}",
                     f"/admin/connectors/{connector.id}/edit"):
            page.goto(base_url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        page.goto(f"{base_url}/admin/connectors/{connector.id}")
        expect(page.locator("#connectors-record-errors")).to_contain_text("not money 不是有效金额")
