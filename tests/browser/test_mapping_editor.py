"""Issue 13 mapping editor in a real browser: an admin fetches a sample from a local HTTP source,
drags source fields onto order fields, adds "divide by 100" and a value map, sees the preview (amount,
stage, a per-record error), saves (version 2 appears), exports JSON; the page fits a phone."""

from __future__ import annotations

import json
import uuid

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect

from backend.auth.service import load_actor
from backend.clock import utcnow
from backend.connectors import service
from backend.connectors.schemas import ConnectorCreate
from tests.browser.conftest import sign_in
from tests.factories.connector_source import Source
from tests.factories.people import make_user


@pytest.fixture
def source():
    tag = uuid.uuid4().hex[:6].upper()
    records = [{"id": f"MAP-{tag}-1", "buyer": {"code": f"MAP{tag}", "name": f"映射客户{tag}"}, "amount_fen": "123456",
                "status": "已签约"},
               {"id": f"MAP-{tag}-2", "buyer": {"code": f"MAP{tag}", "name": f"映射客户{tag}"}, "amount_fen": "12x",
                "status": "已签约"}]
    server = Source(records).start()
    server.tag = tag
    yield server
    server.stop()


def _connector(seed, admin, source, name: str) -> int:
    return service.create_connector(seed, actor=load_actor(seed, admin.id), now=utcnow(),
                                    payload=ConnectorCreate.model_validate({
        "name": name, "settings": {"url_template": source.url + "/orders/link?page=1", "paging": "next_link",
                                   "next_link_path": "links.next", "records_path": "data.items"},
        "mapping": {"columns": {"external_id": "id", "customer": "buyer.name", "amount": "total"},
                    "create_customers": True,
                    "source": f"map{source.tag.lower()}"}})).id


def test_admin_maps_by_dragging_previews_saves_and_exports(page: Page, base_url, seed, source, monkeypatch):
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    admin = make_user(seed, roles=["admin"], locale="en")
    seed.commit()
    cid = _connector(seed, admin, source, f"MAP shop {source.tag}")
    # tall enough that the source and the order field are both in view: Playwright's drag scrolls the
    # page between mouse down and up otherwise, which a person's drag (with auto-scroll) does not
    page.set_viewport_size({"width": 1280, "height": 1600})
    sign_in(page, base_url, admin.username)
    page.goto(f"{base_url}/admin/connectors/{cid}")
    page.get_by_role("link", name="Field mapping").click()
    expect(page.get_by_role("heading", name=f"Mapping of MAP shop {source.tag}")).to_be_visible()
    page.get_by_role("button", name="Fetch sample").click()
    sources = page.locator("#mapping-sources")
    expect(sources).to_contain_text("buyer.code", timeout=60_000)  # a live fetch: slow on a loaded machine
    expect(page.locator("#mapping-sample-count")).to_have_text("2 sample records")

    def target(key: str):
        return page.locator(f'.mapping-target[data-target="{key}"]')

    page.locator('.mapping-source[data-path="buyer.code"]').drag_to(target("customer_code"))
    expect(target("customer_code").locator(".mapping-badge")).to_have_text("← buyer.code")
    expect(target("customer_code").locator(".mapping-connect")).to_be_hidden()  # shown after a source is clicked
    page.locator('.mapping-source[data-path="amount_fen"]').drag_to(target("amount"))
    expect(target("amount").locator(".mapping-badge")).to_have_text("← amount_fen")
    expect(page.locator('.mapping-lines path[data-line="amount"]')).to_have_count(1)  # a line drawn too
    page.get_by_label("Add transform to Amount").select_option(label="Divide by 100 (fen → yuan)")
    # click-to-connect: the source, then "Connect status" on the stage field
    page.locator('.mapping-source[data-path="status"]').click()
    target("stage").get_by_role("button", name="Connect status").click()
    expect(target("stage").locator(".mapping-badge")).to_have_text("← status")
    page.get_by_label("Add transform to Stage or status").select_option(label="Value map")
    target("stage").get_by_label("Values (one per line: source=result)").fill("已签约=approval")
    preview = page.locator("#mapping-preview")
    first = preview.locator('tr[data-position="1"]')
    expect(first.locator('[data-field="amount"]')).to_have_text("amount: 1234.56", timeout=20_000)
    expect(first.locator('[data-field="stage"]')).to_have_text("stage: approval")
    expect(first).to_contain_text("OK")
    expect(preview.locator('tr[data-position="2"]')).to_contain_text(
        "amount_fen: Step 1 (unit/scale) of Amount: 12x is not a number.")
    page.get_by_role("button", name="Save mapping").click()
    expect(page.locator("#mapping-status")).to_have_text("Saved as version 2.", timeout=20_000)
    versions = page.locator("#mapping-versions")
    expect(versions.locator('li[data-version="2"]')).to_contain_text("Version 2")
    expect(versions.locator('li[data-version="1"]').get_by_role("button", name="Restore version 1")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name="Export JSON").click()
    document = json.loads(open(info.value.path(), encoding="utf-8").read())
    assert document["version"] == 2
    assert document["mapping"]["columns"]["amount"] == "amount_fen"
    assert document["mapping"]["transforms"]["amount"] == [{"op": "scale", "mode": "divide", "by": "100"}]
    assert document["mapping"]["transforms"]["stage"][0]["values"] == {"已签约": "approval"}


def test_mapping_editor_fits_a_phone(browser, base_url, seed, source, monkeypatch):
    from tests.browser.test_walkthrough_phone import phone_page

    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    admin = make_user(seed, roles=["admin"], locale="zh-CN")
    seed.commit()
    cid = _connector(seed, admin, source, f"MAP phone {source.tag}")
    with phone_page(browser, base_url, admin.username, locale="zh-CN") as page:
        page.set_viewport_size({"width": 390, "height": 800})
        page.goto(f"{base_url}/admin/connectors/{cid}/mapping")
        page.get_by_role("button", name="获取样例").click()
        expect(page.locator("#mapping-sources")).to_contain_text("amount_fen", timeout=20_000)
        # on a phone the select connects (no dragging needed)
        page.get_by_label("金额的来源").select_option("amount_fen")
        page.get_by_label("向金额添加转换").select_option(label="除以 100（分 → 元）")
        page.get_by_label("来源系统中的订单号的来源").select_option("id")
        page.get_by_label("客户编号的来源").select_option("buyer.code")
        expect(page.locator('#mapping-preview tr[data-position="2"]')).to_contain_text("12x 不是数字", timeout=20_000)
        for width in (390, 360):
            page.set_viewport_size({"width": width, "height": 800})
            assert page.evaluate("document.documentElement.scrollWidth") <= width, width
        page.goto(f"{base_url}/admin/connectors/mapping-editor")
        expect(page.get_by_role("heading", name="新连接器的映射编辑器")).to_be_visible()
        # an unsaved connector: pasted CSV records, connected with the selects, previewed
        page.get_by_text("粘贴记录（JSON，或带表头行的 CSV）").click()
        page.get_by_role("textbox", name="样例记录").fill("单号,客户,金额分\nP-1,K9,250\nP-2,K9,x")
        page.get_by_role("button", name="使用这些记录").click()
        expect(page.locator("#mapping-sample-count")).to_have_text("2 条样例记录")
        page.get_by_label("来源系统中的订单号的来源").select_option("单号")
        page.get_by_label("客户编号的来源").select_option("客户")
        page.get_by_label("金额的来源").select_option("金额分")
        page.get_by_label("向金额添加转换").select_option(label="除以 100（分 → 元）")
        rows = page.locator("#mapping-preview tbody tr")
        expect(rows.nth(0).locator('[data-field="amount"]')).to_have_text("amount: 2.5", timeout=20_000)
        expect(rows.nth(1)).to_contain_text("金额分: 金额的第 1 步（单位换算）：x 不是数字。")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
