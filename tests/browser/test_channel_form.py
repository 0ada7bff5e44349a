"""Issue 17: notification channel options were a raw JSON box. The admin now picks a kind and
fills that kind's fields; the other kinds' fields are out of the way; secrets are not shown again."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import delete, select

from backend.notify.models import ChannelConfig
from tests.browser.conftest import sign_in
from tests.factories.people import make_user


def test_add_an_smtp_server_with_its_own_fields(page: Page, base_url, seed):
    make_user(seed, username="frm.channels", roles=["admin"], locale="en")
    seed.commit()
    sign_in(page, base_url, "frm.channels")
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(f"{base_url}/admin/channels")
    page.get_by_label("Name", exact=True).fill("FRM-smtp")
    page.get_by_label("Kind").select_option("dingtalk")
    expect(page.get_by_label("Webhook URL")).to_be_visible()
    expect(page.get_by_label("SMTP host")).to_be_hidden()
    page.get_by_label("Kind").select_option("email")
    expect(page.get_by_label("Webhook URL")).to_be_hidden()
    page.get_by_label("SMTP host").fill("smtp example")  # a space: refused next to the field
    page.get_by_label("Port").fill("587")
    page.get_by_label("User name").fill("orders")
    page.get_by_label("Password").fill("FRM-pw-1")
    page.get_by_label("Sender address").fill("orders@frm.example.com")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#err-smtp_host")).to_have_text("A host name such as smtp.example.com.")
    expect(page.get_by_label("Password")).to_have_value("")  # the secret is not sent back
    expect(page.get_by_label("User name")).to_have_value("orders")
    page.get_by_label("SMTP host").fill("smtp.frm.example.com")
    page.get_by_label("Password").fill("FRM-pw-1")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("cell", name="FRM-smtp")).to_be_visible()
    assert "FRM-pw-1" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    row = seed.exec(select(ChannelConfig).where(ChannelConfig.name == "FRM-smtp")).scalar_one()
    seed.rollback()
    saved = (row.target, row.secret, row.options)
    # the browser tests share one live database: a made-up SMTP server left enabled would carry
    # every other test's mail from now on
    seed.execute(delete(ChannelConfig).where(ChannelConfig.name == "FRM-smtp"))
    seed.commit()
    assert saved == (
        "smtp.frm.example.com:587", "FRM-pw-1",
        {"from": "orders@frm.example.com", "username": "orders", "starttls": True})
