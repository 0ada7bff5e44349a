"""Walkthrough of the form and flow designers at phone width (360 px) and their version history.

Found on the demo data: the form designer's 375 px phone preview and the flow designer's
simulation box (cols="60") made the whole page scroll sideways on a phone, and the flow
designer's version history printed UTC times in ISO form where every other page shows local time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Browser, Page, expect

from backend.auth.actor import Actor
from backend.flows import service as flows_service
from tests.browser.conftest import sign_in
from tests.browser.test_walkthrough_order_page import FLOW
from tests.browser.test_walkthrough_phone import phone_page
from tests.factories.people import make_user


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, page.evaluate(
        "Array.from(document.querySelectorAll('main *')).filter(e => e.getBoundingClientRect().right > 361)"
        ".slice(0, 3).map(e => e.tagName + '#' + e.id).join(', ')")


def test_both_designers_fit_a_phone(browser: Browser, base_url, seed):
    make_user(seed, username="walk.phone.designer", roles=["designer"], locale="zh_CN")
    seed.commit()
    with phone_page(browser, base_url, "walk.phone.designer") as page:
        page.goto(f"{base_url}/designer/forms")
        expect(page.get_by_role("button", name="发布")).to_be_visible()
        expect(page.locator("#forms-preview-phone")).to_be_visible()
        _no_sideways_scroll(page)

        page.goto(f"{base_url}/designer/flows/walk_phone_flow")
        expect(page.locator("#fd-sim-facts")).to_be_visible()
        _no_sideways_scroll(page)
        page.locator("#fd-sim-facts").fill('{"amount": 5}')
        expect(page.locator("#fd-sim-facts")).to_have_value('{"amount": 5}')


def test_the_flow_version_history_shows_local_time(page: Page, base_url, seed):
    designer = make_user(seed, username="walk.history.designer", roles=["designer"], locale="en")
    seed.commit()
    actor = Actor(user_id=designer.id, username=designer.username, display_name="D", roles=frozenset({"designer"}))
    flows_service.save_draft(seed, actor=actor, key="walk_history", definition={**FLOW, "key": "walk_history"},
                             now=datetime(2026, 11, 26, 9, 50, tzinfo=UTC))
    sign_in(page, base_url, "walk.history.designer")
    page.goto(f"{base_url}/designer/flows/walk_history")
    cell = page.locator("time[datetime^='2026-11-26T09:50']")
    expect(cell).to_have_count(1)
    assert not re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", cell.inner_text().strip())
    expect(cell).to_have_text("11/26/26, 5:50 PM")  # the order list's format, in the company's time zone
