"""Issue 16: a manager schedules a report from the report designer (types the time, picks the
recipients), sees it listed, pauses and deletes it; the section fits a 390 px phone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from backend.auth.service import load_actor
from backend.reports import service
from tests.browser.conftest import sign_in
from tests.factories.people import make_user

WAIT = 60_000  # the machine is shared: generous bounds


def manager_with_report(seed, prefix: str, tag: str, *, dimension: str = "owner_id", view: str = "table"):
    """An admin (English) and a published report `<prefix>_<tag>` counting orders by `dimension`."""
    manager = make_user(seed, username=f"{prefix}.manager.{tag}", roles=["admin"], locale="en")
    seed.commit()
    key = f"{prefix}_{tag}"
    now = datetime.now(UTC)
    service.save_draft(seed, actor=load_actor(seed, manager.id), now=now,
                       definition={"key": key, "name": {"zh": "定时", "en": f"{prefix} {tag}"},
                                   "dimensions": [{"field": dimension}], "measures": [{"op": "count"}],
                                   "view": {"type": view}})
    service.publish(seed, actor=load_actor(seed, manager.id), key=key, now=now)
    seed.commit()
    return manager, key


def test_manager_schedules_a_report_and_sees_it_listed(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6].lower()
    make_user(seed, display_name=f"RPS Reader {tag}")
    manager, key = manager_with_report(seed, "rps", tag)

    sign_in(page, base_url, manager.username)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/designer/reports/{key}")
    section = page.locator("#rp-schedules")
    expect(section.get_by_role("heading", name="Scheduled delivery")).to_be_visible(timeout=WAIT)
    expect(section.locator("#rp-schedule-none")).to_be_visible()
    section.get_by_label("How often").select_option("weekly")
    section.get_by_label("Weekday (weekly)").select_option(label="Friday")
    # a wrong time is refused in words and what was typed stays
    section.get_by_label("Time").fill("7.30")
    section.get_by_label(f"RPS Reader {tag}").check()
    section.get_by_role("button", name="Add schedule").click()
    expect(page.locator("#rp-schedule-error")).to_have_text("Type a time like 08:30.", timeout=WAIT)
    section = page.locator("#rp-schedules")
    expect(section.get_by_label(f"RPS Reader {tag}")).to_be_checked()
    section.get_by_label("Time").fill("07:30")
    section.get_by_role("button", name="Add schedule").click()
    item = page.locator("#rp-schedule-list li")
    expect(item).to_have_count(1, timeout=WAIT)
    expect(item).to_contain_text("Every Friday at 07:30")
    expect(item).to_contain_text(f"RPS Reader {tag}")
    expect(item).to_contain_text("Next:")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    item.get_by_role("button", name="Pause").click()
    expect(page.locator("#rp-schedule-list li")).to_contain_text("Paused", timeout=WAIT)
    page.reload()
    expect(page.locator("#rp-schedule-list li")).to_contain_text("Every Friday at 07:30", timeout=WAIT)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#rp-schedule-list li").get_by_role("button", name="Delete").click()
    expect(page.locator("#rp-schedule-none")).to_be_visible(timeout=WAIT)
