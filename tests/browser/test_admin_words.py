"""What an admin reads about deliveries, and how anyone picks a time zone: in words and from a list
(before: the outbox showed "ConnectionRefusedError: [Errno 111] Connection refused", and the time zone
was a free-text box where "Shanghai" or "+8" was accepted as typed)."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.effects import enqueue
from backend.notify.models import NotificationPreference
from tests.browser.conftest import sign_in
from tests.factories.people import make_user


def test_the_outbox_says_why_a_delivery_failed_in_the_admins_language(page: Page, base_url, seed):
    make_user(seed, username="words.admin", roles=["admin"], locale="zh_CN")
    row = enqueue(seed, dedupe_key="words-refused", channel="email", recipient="buyer@example.com",
                  subject="Words refused", body="b", payload={}, order_id=None, now=datetime.now(UTC))
    row.state, row.last_error = "failed", "ConnectionRefusedError: [Errno 111] Connection refused"
    seed.commit()
    sign_in(page, base_url, "words.admin")
    page.goto(f"{base_url}/admin/outbox")
    cell = page.locator(f"#outbox-{row.id}")
    expect(cell).to_contain_text("对方服务器拒绝连接")
    expect(cell.get_by_text("ConnectionRefusedError")).to_be_hidden()  # kept, behind "技术细节"
    cell.get_by_text("技术细节").click()
    expect(cell.get_by_text("ConnectionRefusedError")).to_be_visible()


def test_the_time_zone_is_picked_from_a_list(page: Page, base_url, seed):
    user = make_user(seed, username="words.zone", roles=["sales"], locale="en")
    seed.commit()
    sign_in(page, base_url, "words.zone")
    page.goto(f"{base_url}/notifications/preferences")
    zone = page.get_by_label("Time zone")
    zone.select_option("America/Sao_Paulo")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(lambda url: "saved=1" in url)
    expect(page.get_by_label("Time zone")).to_have_value("America/Sao_Paulo")
    seed.expire_all()
    stored = seed.exec(select(NotificationPreference.timezone).where(
        NotificationPreference.user_id == user.id)).scalar_one()
    assert stored == "America/Sao_Paulo"
