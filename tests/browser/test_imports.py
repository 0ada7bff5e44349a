"""Admin → Imports in a real browser: upload, map, watch the progress finish, read the errors, open an order."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from backend.clock import utcnow
from backend.ingest import service as import_service
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer
from tests.factories.people import make_user

CSV = ("订单号,客户,金额,交货日期\n"
       "BR-1,浏览器客户,1200,2030-12-31\n"
       "BR-2,浏览器客户,80.5,2030-02-30\n"
       "BR-3,浏览器客户,99,2030/11/30\n")


def test_import_a_csv_with_one_bad_date(page: Page, base_url, seed, live_engine, tmp_path):
    make_user(seed, username="import.admin", roles=["admin"], locale="zh_CN")
    make_customer(seed, name="浏览器客户")
    seed.commit()
    upload = tmp_path / "订单.csv"
    upload.write_bytes(CSV.encode("gb18030"))  # as Chinese Excel saves "CSV (逗号分隔)"
    sign_in(page, base_url, "import.admin")

    page.goto(f"{base_url}/admin/users")
    page.get_by_role("link", name="导入", exact=True).click()
    page.get_by_label("CSV 文件", exact=True).set_input_files(str(upload))
    page.get_by_role("button", name="上传").click()

    expect(page.get_by_role("heading", name="为 订单.csv 对应列")).to_be_visible()
    expect(page.get_by_label("来源系统中的订单号")).to_have_value("订单号")  # mapped from the Chinese header
    expect(page.get_by_label("客户名称")).to_have_value("客户")
    expect(page.get_by_role("combobox", name=re.compile("^金额"))).to_have_value("金额")
    expect(page.get_by_label("计划交期")).to_have_value("交货日期")
    page.get_by_label("来源名称（同一来源内订单号唯一）").fill("browser-csv")
    page.get_by_role("button", name="开始导入").click()

    progress = page.locator("#imports-progress")
    expect(progress).to_contain_text("已处理 0 / 3 行")
    # the live server runs no worker: the test is the worker (the page keeps polling meanwhile)
    job_id = int(re.search(r"/admin/imports/(\d+)", page.url).group(1))
    import_service.run_to_end(live_engine, job_id, utcnow(), batch_size=2)

    expect(page.locator("#imports-summary")).to_contain_text("2 条已导入，1 条失败", timeout=10_000)
    errors = page.locator("#imports-row-errors")
    expect(errors).to_contain_text("交货日期")
    expect(errors).to_contain_text("2030-02-30 不是有效日期")
    expect(page.get_by_role("link", name="下载这些行（CSV），修改后重新上传")).to_be_visible()

    first = page.locator("#imports-orders a").first
    number = first.inner_text()
    first.click()
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    expect(page.get_by_role("heading", name=re.compile(re.escape(number)))).to_be_visible()
    expect(page.locator("body")).to_contain_text("浏览器客户")
