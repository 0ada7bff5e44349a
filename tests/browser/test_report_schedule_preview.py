"""Issue 16: before scheduling, a manager previews the chart image the e-mail and robots would get
(drawn on the server, no browser involved), on a desktop and on a 390 px phone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from backend.auth.service import load_actor
from backend.reports import dashboards
from tests.browser.conftest import sign_in
from tests.browser.test_report_schedule import manager_with_report

WAIT = 60_000  # the machine is shared: generous bounds


@pytest.mark.parametrize("width", [1280, 390])
def test_manager_previews_the_delivery_image(page: Page, base_url, seed, width):
    tag = uuid.uuid4().hex[:6].lower()
    manager, key = manager_with_report(seed, "reportimg", tag, dimension="status", view="bar")

    sign_in(page, base_url, manager.username)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{base_url}/designer/reports/{key}")
    section = page.locator("#rp-schedules")
    expect(section.get_by_role("heading", name="Scheduled delivery")).to_be_visible(timeout=WAIT)
    section.get_by_label("Language").select_option("en")
    section.get_by_role("link", name="Preview the delivery").click()
    image = section.get_by_role("img", name="The chart image this schedule sends")
    expect(image).to_be_visible(timeout=WAIT)
    expect(image).to_have_attribute("src", f"/designer/reports/{key}/schedules/preview.png?locale=en")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=WAIT)
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [960, 540]  # the PNG itself
    shown = image.bounding_box()
    assert shown is not None and 0 < shown["width"] <= width
    expect(section.get_by_text("What e-mail (inline, with the Excel file) and robots get")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_manager_previews_a_dashboard_as_one_image_on_a_phone(page: Page, base_url, seed):
    tag = uuid.uuid4().hex[:6].lower()
    manager, key = manager_with_report(seed, "reportimg", tag, dimension="status", view="pie")
    board = f"reportimg_board_{tag}"
    dashboards.save_and_publish(seed, actor=load_actor(seed, manager.id), now=datetime.now(UTC), definition={
        "key": board, "name": {"zh": "看板", "en": f"Reportimg board {tag}"},
        "tiles": [{"report": key, "x": 0, "y": 0, "w": 6, "h": 4}, {"report": key, "x": 6, "y": 0, "w": 6, "h": 4}]})
    seed.commit()

    sign_in(page, base_url, manager.username)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/dashboards/{board}")
    section = page.locator("#rp-schedules")
    expect(section.get_by_text("Send this dashboard as one image of its tiles")).to_be_visible(timeout=WAIT)
    section.get_by_role("link", name="Preview the delivery").click()
    image = section.get_by_role("img", name="The chart image this schedule sends")
    expect(image).to_be_visible(timeout=WAIT)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=WAIT)
    assert image.evaluate("img => img.naturalWidth") == 1200  # the composed dashboard
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
