"""Admin → Inbound sources in a real browser: give a source the sender's own format (a records path,
mapping rows, a value map) and a GitHub-style signature, test a sample body and read the preview."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.ingest.models import InboundSource
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer
from tests.factories.people import make_user

SAMPLE = {"data": {"orders": [
    {"id": "WHF-B1", "buyer": {"code": "WHF-BC1"}, "total": "12.50", "due": "2030-12-20", "state": "已签约"},
    {"id": "WHF-B2", "buyer": {"code": "WHF-BC1"}, "total": "30", "due": "2030-02-30", "state": "已签约"},
]}}


def test_admin_configures_a_mapped_signed_source_and_previews_a_sample(page: Page, base_url, seed, live_engine):
    make_user(seed, username="whf.admin", roles=["admin"], locale="en")
    make_customer(seed, code="WHF-BC1", name="WHF buyer")
    seed.commit()
    sign_in(page, base_url, "whf.admin")

    page.goto(f"{base_url}/admin/inbound")
    page.get_by_label("Key (in the URL, lower case)").fill("whf-browser")
    page.get_by_label("Name", exact=True).fill("WHF browser shop")
    page.get_by_role("button", name="Create source").click()
    expect(page.locator("#inbound-new-secret")).to_be_visible()
    page.get_by_role("link", name="Format and signature of whf-browser").click()

    expect(page.get_by_role("heading", name="Format and signature of WHF browser shop")).to_be_visible()
    page.get_by_label("Format", exact=True).select_option("mapped")
    page.get_by_label("Path to the records (empty: the body itself)").fill("data.orders")
    for i, (path, target) in enumerate([("id", "external_id"), ("buyer.code", "customer_code"),
                                        ("total", "amount"), ("due", "planned_delivery"), ("state", "stage")]):
        page.get_by_label(f"Source path {i + 1}", exact=True).fill(path)
        page.get_by_label(f"Order field {i + 1}", exact=True).select_option(target)
    page.get_by_label("Value map", exact=False).fill("已签约 = approval")
    page.get_by_label("Time zone of the sender's dates", exact=False).fill("Asia/Shanghai")
    page.get_by_label("Signature scheme").select_option("hmac_sha256_hex")
    page.get_by_label("Signature header").fill("X-Hub-Signature-256")
    page.get_by_label("Signature prefix").fill("sha256=")
    page.get_by_label("The sender's secret", exact=False).fill("WHF-github-secret-0001")

    page.get_by_label("Sample body (JSON)").fill(json.dumps(SAMPLE, ensure_ascii=False))
    page.get_by_role("button", name="Test the sample").click()
    preview = page.locator("#inbound-preview")
    expect(preview).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Nothing was stored.")).to_be_visible()
    good = preview.locator("tr", has_text="WHF-B1")
    expect(good).to_contain_text("stage: approval")
    expect(good).to_contain_text("amount: 12.50")
    bad = preview.locator("tr", has_text="WHF-B2")
    expect(bad).to_contain_text("due")
    expect(bad).to_have_class("rejected")
    # the unsaved settings stay in the form
    expect(page.get_by_label("Source path 2", exact=True)).to_have_value("buyer.code")

    # the secret is never written back into the page: type it again to save it
    expect(page.get_by_label("The sender's secret", exact=False)).to_have_value("")
    page.get_by_label("The sender's secret", exact=False).fill("WHF-github-secret-0001")
    page.get_by_role("button", name="Save format and signature").click()
    expect(page.locator("#inbound-format-saved")).to_be_visible(timeout=30_000)
    expect(page.get_by_label("Signature header")).to_have_value("X-Hub-Signature-256")
    expect(page.get_by_label("Source path 4", exact=True)).to_have_value("due")
    seed.expire_all()
    source = seed.exec(select(InboundSource).where(InboundSource.key == "whf-browser")).scalars().one()
    assert source.body_format == "mapped" and source.signature["scheme"] == "hmac_sha256_hex"
    assert source.secret == "WHF-github-secret-0001"
    assert source.mapped["mapping"]["stage_map"] == {"已签约": "approval"}
    assert seed.exec(select(Order).where(Order.source == "whf-browser")).scalars().first() is None
    # the page fits a 360 px phone, preview included
    page.set_viewport_size({"width": 360, "height": 740})
    page.get_by_label("Sample body (JSON)").fill(json.dumps(SAMPLE, ensure_ascii=False))
    page.get_by_role("button", name="Test the sample").click()
    expect(page.locator("#inbound-preview")).to_be_visible(timeout=30_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
