"""Issue 13 in a real browser: an admin creates a watched folder connector, an ERP export (a CSV the
test writes) lands in the folder, "Run now" makes its orders; the bad row is listed with its file
and row number; the file is taken once and moved to done/."""

from __future__ import annotations

import os
import re
import time
import uuid

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.people import make_user


def test_admin_builds_a_folder_connector_and_runs_it(page: Page, base_url, seed, tmp_path, monkeypatch):
    root = tmp_path / "inbox"
    (root / "erp").mkdir(parents=True)
    monkeypatch.setenv("GENDAN_CONNECTOR_FOLDER_ROOT", str(root))
    tag = uuid.uuid4().hex[:6].upper()
    admin = make_user(seed, roles=["admin"], locale="en")
    seed.commit()
    sign_in(page, base_url, admin.username)
    page.goto(f"{base_url}/admin/connectors")
    page.get_by_role("link", name="New watched folder").click()
    expect(page.get_by_role("heading", name="New watched folder connector")).to_be_visible()
    expect(page.get_by_label(re.compile(r"^URL"))).to_have_count(0)
    name = f"FLD erp {tag}"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label(re.compile(r"^Folder")).fill("erp")
    page.get_by_label(re.compile(r"^File names")).fill("*.csv")
    page.get_by_label(re.compile(r"^Leave files younger than")).fill("0")
    export = root / "erp" / f"export-{tag}.csv"
    export.write_text("单号,客户编码,客户,金额,状态,下单时间\n"
                      f"FLD-{tag}-1,FLD{tag},文件客户{tag},120.00,已签约,2026-11-02 09:00\n"
                      f"FLD-{tag}-2,FLD{tag},文件客户{tag},80.50,已签约,not a date\n"
                      f"FLD-{tag}-3,FLD{tag},文件客户{tag},300.00,已签约,2026-11-03 10:00\n", encoding="utf-8")
    old = time.time() - 60
    os.utime(export, (old, old))
    page.get_by_role("button", name="Fetch sample").click()
    sample = page.locator("#connectors-sample")
    expect(sample).to_contain_text(f"export-{tag}.csv", timeout=20_000)
    expect(sample).to_contain_text("客户编码")
    for i, (header, target) in enumerate([("单号", "external_id"), ("单号", "number"), ("客户编码", "customer_code"),
                                          ("客户", "customer"), ("金额", "amount"), ("状态", "stage"),
                                          ("下单时间", "created")]):
        page.get_by_label(f"Source path {i + 1}", exact=True).fill(header)
        page.get_by_label(f"Order field {i + 1}", exact=True).select_option(target)
    page.get_by_label("Stage for each value of the source", exact=False).fill("已签约=approval")
    page.get_by_label("Create unknown customers", exact=False).check()
    page.get_by_label("Source name", exact=False).fill(f"fld{tag.lower()}")
    page.get_by_role("button", name="Fetch sample").click()
    preview = page.locator("#connectors-preview")
    expect(preview).to_contain_text("approval", timeout=20_000)
    expect(preview).to_contain_text(f"FLD-{tag}-3")
    page.get_by_role("button", name="Save connector").click()
    expect(page.get_by_role("heading", name=f"Connector {name}")).to_be_visible()
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#connectors-flash")).to_contain_text("3 read, 2 created", timeout=30_000)
    health = page.locator("#connectors-health")
    expect(health.locator('[data-count="created"]')).to_have_text("2")
    expect(health.locator('[data-count="failed"]')).to_have_text("1")
    errors = page.locator("#connectors-record-errors")
    expect(errors).to_contain_text(f"export-{tag}.csv, row 3")
    expect(errors).to_contain_text(f"FLD-{tag}-2")
    assert (root / "erp" / "done" / f"export-{tag}.csv").exists() and not export.exists()
    page.get_by_role("button", name="Run now").click()  # the file was taken once: nothing more to read
    expect(page.locator("#connectors-flash")).to_contain_text("0 read, 0 created", timeout=30_000)
    page.goto(f"{base_url}/orders?q=FLD-{tag}")
    expect(page.get_by_text(f"FLD-{tag}-1")).to_be_visible()
    expect(page.get_by_text(f"FLD-{tag}-3")).to_be_visible()
    expect(page.get_by_text(f"FLD-{tag}-2")).to_have_count(0)


def test_folder_connector_pages_fit_a_phone(browser, base_url, seed, tmp_path, monkeypatch):
    from backend.auth.service import load_actor
    from backend.clock import utcnow
    from backend.connectors import runner, service
    from backend.connectors.schemas import ConnectorCreate
    from tests.browser.test_walkthrough_phone import phone_page

    root = tmp_path / "inbox"
    (root / "erp").mkdir(parents=True)
    monkeypatch.setenv("GENDAN_CONNECTOR_FOLDER_ROOT", str(root))
    tag = uuid.uuid4().hex[:6].upper()
    admin = make_user(seed, roles=["admin"], locale="zh-CN")
    seed.commit()
    export = root / "erp" / f"一个很长的导出文件名-{tag}-2026-11-30-销售订单.csv"
    export.write_text(f"单号,客户,金额\nFLD-{tag}-P1,手机客户{tag},not money\n", encoding="utf-8")
    old = time.time() - 60
    os.utime(export, (old, old))
    connector = service.create_connector(seed, actor=load_actor(seed, admin.id), now=utcnow(),
                                         payload=ConnectorCreate.model_validate({
        "name": f"FLD phone {tag}", "kind": "folder", "settings": {"folder": "erp", "settle_seconds": 0},
        "mapping": {"columns": {"external_id": "单号", "customer": "客户", "amount": "金额"}, "create_customers": True,
                    "source": f"fldp{tag.lower()}"}}))
    runner.run_connector(seed.get_bind(), connector.id, utcnow(), trigger="manual")
    with phone_page(browser, base_url, admin.username, locale="zh-CN") as page:
        for path in ("/admin/connectors/new?kind=folder", f"/admin/connectors/{connector.id}",
                     f"/admin/connectors/{connector.id}/edit"):
            page.goto(base_url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        page.goto(f"{base_url}/admin/connectors/{connector.id}")
        expect(page.locator("#connectors-record-errors")).to_contain_text("第 2 行")
