"""Walkthrough: every link of the shell leads somewhere (the designer's menu entry, the admin's
notification channels and outbox), in both languages."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.people import make_user


class TestDesignerMenu:
    def test_the_designer_link_offers_the_three_designers(self, page: Page, base_url, seed):
        make_user(seed, username="walk.designer", roles=["designer"], locale="en")
        seed.commit()
        sign_in(page, base_url, "walk.designer")

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Designer").click()
        expect(page.get_by_role("heading", name="Designer", level=1)).to_be_visible()
        for name in ("Form designer", "Flow designer", "Rule designer"):
            expect(page.get_by_role("link", name=name)).to_be_visible()

        page.get_by_role("link", name="Flow designer").click()
        expect(page).to_have_url(f"{base_url}/designer/flows")

    def test_in_chinese_and_closed_to_sales(self, page: Page, base_url, seed):
        make_user(seed, username="walk.designer.zh", roles=["designer"], locale="zh_CN")
        make_user(seed, username="walk.sales.nodesign", roles=["sales"], locale="en")
        seed.commit()
        sign_in(page, base_url, "walk.designer.zh")
        page.get_by_role("link", name="设计器").click()
        expect(page.get_by_role("link", name="表单设计器")).to_be_visible()
        expect(page.get_by_text("订单要经过的步骤")).to_be_visible()

        page.context.clear_cookies()
        sign_in(page, base_url, "walk.sales.nodesign")
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Designer")).to_have_count(0)
        assert page.goto(f"{base_url}/designer").status == 403


class TestAdminTabs:
    def test_channels_and_outbox_are_reachable_from_the_admin_tabs(self, page: Page, base_url, seed):
        make_user(seed, username="walk.admin", roles=["admin"], locale="en")
        seed.commit()
        sign_in(page, base_url, "walk.admin")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()

        tabs = page.get_by_role("navigation", name="Administration")
        tabs.get_by_role("link", name="Channels").click()
        expect(page.get_by_role("heading", name="Channels", level=1)).to_be_visible()
        expect(tabs.get_by_role("link", name="Channels")).to_have_attribute("aria-current", "page")

        tabs.get_by_role("link", name="Outbox").click()
        expect(page.get_by_role("heading", name="Outbox", level=1)).to_be_visible()
        tabs.get_by_role("link", name="Users").click()
        expect(page).to_have_url(f"{base_url}/admin/users")


def test_the_outbox_names_its_channels_in_the_readers_language(page: Page, base_url, seed):
    """The outbox listed a message's channel as stored ("wecom"), in English on a Chinese page."""
    from datetime import UTC, datetime

    from backend.notify.models import OutboxMessage

    make_user(seed, username="walk.admin.outbox", roles=["admin"], locale="zh_CN")
    now = datetime.now(UTC)
    seed.add(OutboxMessage(dedupe_key=f"walk-outbox-{now.timestamp()}", channel="wecom", recipient="https://example.com/hook",
                           subject="走查消息", next_attempt_at=now, created_at=now))
    seed.commit()
    sign_in(page, base_url, "walk.admin.outbox")
    page.goto(f"{base_url}/admin/outbox")
    row = page.locator("tr", has_text="走查消息")
    expect(row.locator("td").nth(1)).to_have_text("企业微信")
