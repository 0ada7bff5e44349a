"""Walkthrough as an admin importing orders on a phone (360 px).

Found: the "first rows of the file" table lost its header row at phone width (as every grid does)
and its cells had no labels, so a row read "IMP-001 / 常州… / 12,345.60 / CNY" with nothing
saying which column was which, exactly when the admin has to decide what each column holds.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.browser.conftest import sign_in
from tests.factories.people import make_user

CSV = "订单号,客户,金额\nIMP-W1,走查客户,\"12,345.60\"\n"


def test_the_sample_rows_name_their_columns_on_a_phone(browser: Browser, base_url, seed, tmp_path):
    make_user(seed, username="walk.import.admin", roles=["admin"], locale="zh_CN")
    seed.commit()
    upload = tmp_path / "走查.csv"
    upload.write_bytes(CSV.encode("utf-8"))
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        sign_in(page, base_url, "walk.import.admin")
        page.goto(f"{base_url}/admin/imports")
        page.get_by_label("CSV 文件", exact=True).set_input_files(str(upload))
        page.get_by_role("button", name="上传").click()
        sample = page.locator("#imports-sample")
        expect(sample.get_by_role("cell", name="客户: 走查客户")).to_be_visible()
        expect(sample.get_by_role("cell", name="金额: 12,345.60")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        ctx.close()
