"""A designer makes a new dashboard from the dashboards page (there was only the built-in one and the
API): named in their language, it opens empty, and a report dragged onto it stays on it."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.browser.conftest import sign_in
from tests.factories.people import make_user

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def test_dashboard_new_named_in_chinese_on_a_phone(browser: Browser, base_url, seed):
    make_user(seed, username="dash.new.designer", roles=["designer"], locale="zh_CN")
    seed.commit()
    ctx = browser.new_context(**PHONE, locale="zh-CN")
    try:
        page = ctx.new_page()
        sign_in(page, base_url, "dash.new.designer")
        page.goto(f"{base_url}/dashboards")
        name = page.get_by_label("新建看板")
        expect(name).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # no name: refused in words, nothing made
        before = page.locator(".rp-dashboards li").count()
        name.fill("   ")
        page.get_by_role("button", name="创建").click()
        expect(page.locator("#rp-new-dashboard").get_by_role("alert")).to_contain_text("请为看板填写名称")
        expect(page.locator(".rp-dashboards li")).to_have_count(before)
        # a name: the new dashboard opens under it, empty, and the list holds it
        page.get_by_label("新建看板").fill("华东区周报")
        page.get_by_role("button", name="创建").click()
        # the next free key (other tests share the live database and may have made some)
        page.wait_for_url(re.compile(r"/dashboards/dashboard_\d+$"))
        first = int(page.url.rsplit("_", 1)[1])
        expect(page.locator("h1")).to_contain_text("华东区周报")
        page.goto(f"{base_url}/dashboards")
        expect(page.locator(".rp-dashboards li", has_text="华东区周报")).to_be_visible()
        # a second one gets the next key
        page.get_by_label("新建看板").fill("Second")
        page.get_by_role("button", name="创建").click()
        expect(page).to_have_url(f"{base_url}/dashboards/dashboard_{first + 1}")
    finally:
        ctx.close()


def test_dashboard_new_is_not_offered_to_a_sales_rep(browser: Browser, base_url, seed):
    make_user(seed, username="dash.new.rep", roles=["sales"], locale="en")
    seed.commit()
    ctx = browser.new_context(locale="en-US")
    try:
        page = ctx.new_page()
        sign_in(page, base_url, "dash.new.rep")
        page.goto(f"{base_url}/dashboards")
        expect(page.locator("h1")).to_have_text("Dashboards")
        expect(page.get_by_label("New dashboard")).to_have_count(0)
    finally:
        ctx.close()
