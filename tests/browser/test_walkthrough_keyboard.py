"""Walkthrough with a keyboard on a phone-width screen: the menu.

Found: at 360 px the menu opened only by tapping ☰ (a label hidden from assistive technology) while
its check box was not displayed at all, so a keyboard or screen-reader user could not reach the
inbox, the dashboard or the designers.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.browser.conftest import sign_in
from tests.factories.people import make_user


def test_the_phone_menu_opens_from_the_keyboard(browser: Browser, base_url, seed):
    make_user(seed, username="walk.keys", roles=["sales"], locale="en")
    seed.commit()
    ctx = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = ctx.new_page()
        sign_in(page, base_url, "walk.keys")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav).to_be_hidden()
        menu = page.get_by_role("checkbox", name="Menu")
        menu.focus()
        expect(menu).to_be_focused()
        page.keyboard.press("Space")
        expect(nav).to_be_visible()
        page.keyboard.press("Tab")
        expect(nav.get_by_role("link", name="Orders")).to_be_focused()
        page.keyboard.press("Tab")
        expect(nav.get_by_role("link", name="Customers")).to_be_focused()
        page.keyboard.press("Tab")
        expect(nav.get_by_role("link", name="Inbox")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{base_url}/inbox")
    finally:
        ctx.close()
