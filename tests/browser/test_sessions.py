"""Signing out in the browser ends the session for real: the same cookie, replayed in another
window (a shared computer, a stolen cookie), opens nothing. Regression (issue 18): the cookie
still worked after sign-out, for up to 8 hours."""

from __future__ import annotations

from tests.browser.conftest import sign_in
from tests.factories.people import make_user


class TestSignOut:
    def test_a_copied_cookie_is_dead_after_signing_out(self, browser, base_url, seed):
        make_user(seed, username="sess.rep", roles=["sales"], display_name="Session Rep", locale="en")
        seed.commit()
        first = browser.new_context()
        page = first.new_page()
        sign_in(page, base_url, "sess.rep")
        copied = [c for c in first.cookies() if c["name"] == "gendan_session"]
        assert copied
        page.get_by_label("User menu").click()
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login")
        second = browser.new_context()
        second.add_cookies(copied)
        other = second.new_page()
        other.goto(f"{base_url}/orders")
        assert "/login" in other.url
        assert other.get_by_role("button", name="Sign in").or_(other.get_by_role("button", name="登录")).is_visible()
        first.close()
        second.close()
