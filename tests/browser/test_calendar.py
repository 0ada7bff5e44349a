"""Admin → Calendar in a real browser: an admin sets the zone, a holiday and a 调休 Saturday, sees
them listed, and the import wizard proposes that zone and currency. At phone width the page fits.

The live database is shared by every browser test, so the calendar goes back to the defaults
at the end (zone Asia/Hong_Kong has Shanghai's offset and the dates are years away, so a test
running meanwhile sees the same times).
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import delete

from backend.installation import service as installation_service
from backend.installation.models import InstallationCalendarRow
from tests.browser.conftest import sign_in
from tests.browser.test_walkthrough_phone import phone_page
from tests.factories.people import make_user


def _restore_defaults(seed) -> None:
    seed.execute(delete(InstallationCalendarRow))
    seed.commit()
    installation_service.forget()


def test_admin_sets_zone_holiday_and_working_saturday(page: Page, base_url, seed, tmp_path):
    make_user(seed, username="cal.admin", roles=["admin"], locale="en")
    seed.commit()
    upload = tmp_path / "calendar-orders.csv"
    upload.write_bytes(b"Order no,Customer,Amount\nCAL-1,Calendar customer,10\n")
    try:
        sign_in(page, base_url, "cal.admin")
        page.goto(f"{base_url}/admin/users")
        page.get_by_role("link", name="Calendar", exact=True).click()
        expect(page.get_by_role("heading", name="Calendar", exact=True)).to_be_visible()
        zone = page.get_by_role("combobox", name=re.compile("^Time zone"))
        expect(zone).to_have_value("Asia/Shanghai")

        zone.select_option("Asia/Hong_Kong")
        page.get_by_label("Holidays (days off that would be working days)").fill("2031-10-01")
        page.get_by_label("Extra working days (调休: a Saturday or Sunday people work)").fill("2031-09-27")
        page.get_by_label("Default currency").fill("HKD")
        page.get_by_role("button", name="Save calendar").click()

        expect(page.locator("p.flash")).to_contain_text("The calendar was saved.")
        expect(zone).to_have_value("Asia/Hong_Kong")
        holidays = page.get_by_role("list", name="Holidays")
        expect(holidays.get_by_role("listitem")).to_have_count(1)
        expect(holidays.locator('time[datetime="2031-10-01"]')).to_be_visible()
        expect(holidays).to_contain_text("Wednesday")
        extra = page.get_by_role("list", name="Extra working days")
        expect(extra.locator('time[datetime="2031-09-27"]')).to_be_visible()
        expect(extra).to_contain_text("Saturday")

        # a mistake keeps what was typed and says what is wrong
        page.get_by_label("Extra working days (调休: a Saturday or Sunday people work)").fill("2031-09-27\n2031-10-01")
        page.get_by_role("button", name="Save calendar").click()
        expect(page.locator("#err-extra_working_days")).to_contain_text(
            "2031-10-01 is both a holiday and an extra working day.")
        expect(page.get_by_label("Extra working days (调休: a Saturday or Sunday people work)")).to_have_value(
            "2031-09-27\n2031-10-01")

        page.get_by_role("link", name="Imports", exact=True).click()
        page.get_by_label("CSV file", exact=True).set_input_files(str(upload))
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_label("Time zone of the dates in the file")).to_have_value("Asia/Hong_Kong")
        expect(page.get_by_label("Currency when the file has none")).to_have_value("HKD")
    finally:
        _restore_defaults(seed)


def test_the_calendar_page_fits_a_phone(browser: Browser, base_url, seed):
    make_user(seed, username="cal.phone.admin", roles=["admin"], locale="zh_CN")
    seed.commit()
    with phone_page(browser, base_url, "cal.phone.admin") as page:
        page.goto(f"{base_url}/admin/calendar")
        expect(page.get_by_role("heading", name="工作日历", exact=True)).to_be_visible()
        expect(page.get_by_role("checkbox", name="星期六")).not_to_be_checked()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
