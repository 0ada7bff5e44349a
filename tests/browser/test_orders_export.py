"""Exporting the current orders list to Excel: the filtered orders only, and a note typed as a formula
comes out as text (before: no export at all)."""

from __future__ import annotations

from io import BytesIO

from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def test_export_the_filtered_list(page: Page, base_url, seed):
    rep = make_user(seed, username="export.rep", roles=["sales"], locale="en")
    hostile = make_customer(seed, name="=HYPERLINK(\"http://evil.example\",\"click\") EXP")
    make_order(seed, owner=rep, customer=hostile, number="EXP-1", stage="production")
    make_order(seed, owner=rep, customer=make_customer(seed, name="Calm EXP"), number="EXP-2", stage="draft")
    seed.commit()
    sign_in(page, base_url, "export.rep")
    page.goto(f"{base_url}/orders?q=EXP&stage=production")
    expect(page.locator("#orders-table")).to_contain_text("EXP-1")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export this list to Excel").click()
    sheet = load_workbook(BytesIO(open(download.value.path(), "rb").read())).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:3] == ["Order no.", "Customer", "Owner"]
    assert [r[0] for r in rows[1:]] == ["EXP-1"]  # the filter applies; EXP-2 is a draft
    assert rows[1][1] == "'=HYPERLINK(\"http://evil.example\",\"click\") EXP"
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
