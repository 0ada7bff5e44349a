"""Issue 13, bad input in a real browser: a photo saved as .xlsx and a zip bomb uploaded to
Admin → Imports are refused with a sentence in the user's language, and no import is kept; the
page still fits a phone."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.backend.ingest.test_not_a_spreadsheet import PNG, _bomb
from tests.browser.conftest import sign_in
from tests.factories.people import make_user


def test_a_photo_and_a_zip_bomb_are_refused_in_words(page: Page, base_url, seed, tmp_path):
    make_user(seed, username="g13nt.admin", roles=["admin"], locale="zh_CN")
    seed.commit()
    photo, bomb = tmp_path / "g13nt-合同照片.xlsx", tmp_path / "g13nt-bomb.xlsx"
    photo.write_bytes(PNG)
    bomb.write_bytes(_bomb())
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, base_url, "g13nt.admin")

    page.goto(f"{base_url}/admin/imports")
    page.get_by_label("CSV 文件", exact=True).set_input_files(str(photo))
    page.get_by_role("button", name="上传").click()
    expect(page.locator("body")).to_contain_text("该文件不是 Gendan 能读取的表格（是图片、PDF 或旧版 .xls 吗？）：请另存为 CSV 或 .xlsx。")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_label("CSV 文件", exact=True).set_input_files(str(bomb))
    page.get_by_role("button", name="上传").click()
    expect(page.locator("body")).to_contain_text("解压后超过")
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.goto(f"{base_url}/admin/imports")
    expect(page.locator("body")).not_to_contain_text("g13nt-")  # no job was kept
