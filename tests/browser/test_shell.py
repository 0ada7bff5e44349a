"""The shell in a real browser: the orders list updated in place (search, filter, sort, next page),
an order's timeline, the language switch, row-level access by URL, phone width, no console errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from backend.auth.service import load_actor
from backend.orders import service as orders_service
from backend.orders.schemas import OrderUpdate
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

T = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """Errors the page logs or throws; each test asserts there are none."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and r.request.resource_type
            not in ("document", "xhr", "fetch") else None)
    return errors


def _rows(page: Page):
    return page.locator("#orders-table tbody tr")


def _mark_document(page: Page) -> None:
    """A flag that survives htmx swaps but not a full page load."""
    page.evaluate("window.__noReload = true")


def _not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__noReload === true")


class TestOrdersList:
    def test_search_and_filter_update_the_table_in_place(self, page: Page, base_url, seed, console_errors):
        rep = make_user(seed, username="shell.search", roles=["sales"], locale="en")
        make_order(seed, owner=rep, number="SRCH-1", stage="production",
                   customer=make_customer(seed, name="Quokka Metals"))
        make_order(seed, owner=rep, number="SRCH-2", stage="draft", customer=make_customer(seed, name="Wombat Glass"))
        make_order(seed, owner=rep, number="SRCH-3", stage="production",
                   customer=make_customer(seed, name="Wombat Steel"))
        seed.commit()
        sign_in(page, base_url, "shell.search")
        expect(_rows(page)).to_have_count(3)
        _mark_document(page)

        page.get_by_label("Search").fill("wombat")
        expect(_rows(page)).to_have_count(2)
        expect(page.locator("#orders-table")).not_to_contain_text("Quokka")
        expect(page).to_have_url(re.compile(r"q=wombat"))

        page.get_by_label("Stage").select_option(label="Production")
        expect(_rows(page)).to_have_count(1)
        expect(page.get_by_role("link", name="SRCH-3")).to_be_visible()
        assert _not_reloaded(page)

        page.get_by_label("Search").fill("nothing-like-this")
        expect(page.get_by_text("No orders match these filters.")).to_be_visible()
        assert console_errors == []

    def test_sort_by_a_column_and_keep_it_while_filtering(self, page: Page, base_url, seed, console_errors):
        rep = make_user(seed, username="shell.sort", roles=["sales"], locale="en")
        for i, amount in enumerate(["300.00", "100.00", "900.00"]):
            make_order(seed, owner=rep, number=f"SORT-{i}", amount=amount, at=T + timedelta(hours=i))
        seed.commit()
        sign_in(page, base_url, "shell.sort")
        _mark_document(page)
        page.get_by_role("link", name="Amount").click()
        expect(_rows(page).first).to_contain_text("SORT-2")  # 900, descending first
        expect(page.get_by_role("columnheader", name=re.compile("Amount"))).to_have_attribute("aria-sort", "descending")
        page.get_by_role("link", name=re.compile("Amount")).click()
        expect(_rows(page).first).to_contain_text("SORT-1")  # 100, ascending
        page.get_by_label("Search").fill("SORT-")  # a filter change keeps the chosen sort
        expect(page).to_have_url(re.compile(r"q=SORT-"))
        expect(_rows(page).first).to_contain_text("SORT-1")
        expect(page).to_have_url(re.compile(r"sort=amount"))
        assert _not_reloaded(page)
        assert console_errors == []

    def test_next_page_by_keyset(self, page: Page, base_url, seed, console_errors):
        rep = make_user(seed, username="shell.pages", roles=["sales"], locale="en")
        for i in range(53):
            make_order(seed, owner=rep, number=f"PG-{i:03d}", at=T + timedelta(minutes=i))
        seed.commit()
        sign_in(page, base_url, "shell.pages")
        expect(page.get_by_text("53 orders")).to_be_visible()
        expect(_rows(page)).to_have_count(50)
        expect(_rows(page).first).to_contain_text("PG-052")  # newest first
        page.get_by_role("link", name="Next page").click()
        expect(_rows(page)).to_have_count(3)
        expect(_rows(page).nth(0)).to_contain_text("PG-002")
        expect(_rows(page).nth(2)).to_contain_text("PG-000")
        expect(page.get_by_role("link", name="Next page")).to_have_count(0)
        page.get_by_role("link", name="First page").click()
        expect(_rows(page)).to_have_count(50)
        assert console_errors == []


class TestErrorStates:
    def test_a_failed_update_shows_a_message_and_keeps_the_table(self, page: Page, base_url, seed):
        rep = make_user(seed, username="shell.fail", roles=["sales"], locale="en")
        make_order(seed, owner=rep, number="FAIL-1")
        seed.commit()
        sign_in(page, base_url, "shell.fail")
        expect(_rows(page)).to_have_count(1)
        page.route(re.compile(r".*/orders\?.*q=boom.*"), lambda route: route.fulfill(status=502, body="bad gateway"))
        page.get_by_label("Search").fill("boom")
        expect(page.get_by_role("alert").filter(has_text="Something went wrong on the server")).to_be_visible()
        expect(page.get_by_role("link", name="FAIL-1")).to_be_visible()
        page.route(re.compile(r".*/orders\?.*q=gone.*"), lambda route: route.abort())
        page.get_by_label("Search").fill("gone")
        expect(page.get_by_role("alert").filter(has_text="could not be reached")).to_be_visible()

    def test_an_error_from_the_server_is_shown_in_its_language(self, page: Page, base_url, seed):
        rep = make_user(seed, username="shell.toast", roles=["sales"], locale="zh_CN")
        make_order(seed, owner=rep, number="TOAST-1")
        seed.commit()
        sign_in(page, base_url, "shell.toast")
        # an htmx request the server refuses (a stale CSRF token): the coded error lands in the toast
        page.evaluate("""() => htmx.ajax('POST', '/lang', {target: '#orders-table', headers: {'X-CSRF-Token': 'stale'}})""")
        toast = page.locator("#toast .toast-msg")
        expect(toast).to_have_attribute("data-code", "auth.csrf_failed")
        expect(toast).to_contain_text("表单已过期")


class TestOrderDetail:
    def test_open_an_order_and_read_its_timeline(self, page: Page, base_url, seed, console_errors):
        rep = make_user(seed, username="shell.detail", roles=["sales"], locale="en", display_name="Dana Detail")
        customer = make_customer(seed, name="Timeline Textiles", contact_name="Mr. Wang", phone="+86 10 8888 0000")
        order = make_order(seed, owner=rep, number="TL-1", customer=customer)
        seed.commit()
        orders_service.update_order(seed, actor=load_actor(seed, rep.id), order_id=order.id, now=T,
                                    payload=OrderUpdate(version=1, stage="production"))
        orders_service.update_order(seed, actor=load_actor(seed, rep.id), order_id=order.id,
                                    now=T + timedelta(hours=1), payload=OrderUpdate(version=2, amount="4321.00"))
        seed.commit()
        sign_in(page, base_url, "shell.detail")
        page.get_by_role("link", name="TL-1").click()
        expect(page.get_by_role("heading", name="Order TL-1")).to_be_visible()
        expect(page.locator("#orders-customer")).to_contain_text("Mr. Wang")
        expect(page.locator("#orders-customer")).to_contain_text("+86 10 8888 0000")
        timeline = page.locator("#orders-timeline > li")
        expect(timeline).to_have_count(2)
        expect(timeline.nth(0)).to_contain_text("Order updated")  # newest first
        expect(timeline.nth(0).locator("[data-field=amount]")).to_contain_text("4,321.00")
        expect(timeline.nth(1)).to_contain_text("Stage changed")
        expect(timeline.nth(1)).to_contain_text("Dana Detail")
        expect(timeline.nth(1).locator("[data-field=stage]")).to_have_text("Stage: Draft → Production")
        assert console_errors == []

    def test_sales_cannot_open_another_teams_order_by_url(self, page: Page, base_url, seed):
        make_user(seed, username="shell.nosy", roles=["sales"], locale="en")
        other = make_user(seed, username="shell.other", roles=["sales"])
        foreign = make_order(seed, owner=other, number="SECRET-1", customer=make_customer(seed, name="Hidden Ltd"))
        seed.commit()
        sign_in(page, base_url, "shell.nosy")
        response = page.goto(f"{base_url}/orders/{foreign.id}")
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        expect(page.locator("body")).not_to_contain_text("Hidden Ltd")
        expect(page.locator("body")).not_to_contain_text("SECRET-1")


class TestLanguageAndLayout:
    def test_switch_to_chinese_and_back(self, page: Page, base_url, seed, console_errors):
        rep = make_user(seed, username="shell.lang", roles=["sales"], locale="en")
        make_order(seed, owner=rep, number="LANG-1", stage="production")
        seed.commit()
        sign_in(page, base_url, "shell.lang")
        expect(page.get_by_role("heading", name="Orders")).to_be_visible()
        page.get_by_role("button", name="中文").click()
        expect(page.get_by_role("heading", name="订单")).to_be_visible()
        expect(page.get_by_role("navigation", name="主导航").get_by_role("link", name="看板")).to_be_visible()
        expect(page.locator("#orders-table")).to_contain_text("生产")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        page.get_by_role("button", name="English").click()
        expect(page.get_by_role("heading", name="Orders")).to_be_visible()
        expect(page.locator("#orders-table")).to_contain_text("Production")
        assert console_errors == []

    def test_the_browser_language_is_the_default(self, browser, base_url, seed):
        make_user(seed, username="shell.zh", roles=["sales"])  # no saved language
        seed.commit()
        context = browser.new_context(locale="zh-CN")
        page = context.new_page()
        page.goto(f"{base_url}/login")
        expect(page.get_by_role("heading", name="登录跟单")).to_be_visible()
        context.close()

    def test_the_list_at_phone_width(self, page: Page, base_url, seed, console_errors):
        rep = make_user(seed, username="shell.phone", roles=["sales"], locale="en")
        make_order(seed, owner=rep, number="PHONE-1", customer=make_customer(seed, name="Pocket Devices"))
        seed.commit()
        page.set_viewport_size({"width": 360, "height": 740})
        sign_in(page, base_url, "shell.phone")
        expect(page.get_by_role("link", name="PHONE-1")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        nav = page.get_by_role("navigation", name="Main")
        expect(nav).to_be_hidden()
        page.locator("label.nav-burger").click()
        expect(nav.get_by_role("link", name="Dashboard")).to_be_visible()
        nav.get_by_role("link", name="Dashboard").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert console_errors == []

    def test_an_order_with_long_addresses_fits_a_phone(self, page: Page, base_url, seed, console_errors):
        rep = make_user(seed, username="shell.phone.detail", roles=["sales"], locale="en")
        rep.email = "shell.phone.detail.with.a.long.name@sales-department.example.com"
        customer = make_customer(seed, name="Pocket Devices Long Name Manufacturing Co",
                                 email="purchasing.department@pocket-devices-long-name-manufacturing.example.cn")
        order = make_order(seed, owner=rep, number="PHONE-2", customer=customer)
        seed.commit()
        page.set_viewport_size({"width": 375, "height": 740})
        sign_in(page, base_url, "shell.phone.detail")
        page.goto(f"{base_url}/orders/{order.id}")
        expect(page.get_by_role("heading", name="Order PHONE-2")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert console_errors == []

    def test_sign_out(self, page: Page, base_url, seed):
        make_user(seed, username="shell.out", roles=["viewer"], locale="en", display_name="Otto Out")
        seed.commit()
        sign_in(page, base_url, "shell.out")
        page.get_by_label("User menu").click()
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in to Gendan")).to_be_visible()
        page.goto(f"{base_url}/orders")
        expect(page).to_have_url(re.compile(r"/login\?next=%2Forders"))


class TestDashboard:
    def test_dashboard_shows_overdue_and_risky_orders(self, page: Page, base_url, seed, console_errors):
        rep = make_user(seed, username="shell.dash", roles=["sales"], locale="en")
        # the installation's own today (Asia/Shanghai by default), as the dashboard counts: UTC's
        # date is a day behind it from 16:00 UTC
        make_order(seed, owner=rep, number="DB-LATE", stage="production",
                   planned_delivery=orders_service.installation_today(seed) - timedelta(days=4))
        make_order(seed, owner=rep, number="DB-RISK", stage="approval", risk_flags=["credit_hold"])
        seed.commit()
        sign_in(page, base_url, "shell.dash")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
        expect(page.locator("#dashboard-overdue .kpi-n")).to_have_text("1")
        expect(page.locator("#dashboard-risk .kpi-n")).to_have_text("1")
        expect(page.locator("#dashboard-overdue-list")).to_contain_text("4 days late")
        expect(page.locator("#dashboard-risk-list")).to_contain_text("DB-RISK")
        expect(page.locator("#dashboard-weeks > li")).to_have_count(12)
        assert console_errors == []

    def test_short_cells_stay_on_one_line_beside_long_customer_names(self, page: Page, base_url, seed):
        rep = make_user(seed, username="shell.dash.zh", roles=["sales"], locale="zh_CN", display_name="张伟")
        late = (datetime.now(UTC) - timedelta(days=40)).date()
        for i in range(3):
            customer = make_customer(seed, name=f"青岛新宇包装材料股份有限公司华东第{i}分公司")
            make_order(seed, owner=rep, customer=customer, number=f"SO20260817-0141{i}", stage="production",
                       planned_delivery=late, risk_flags=["late-delivery"])
        seed.commit()
        page.set_viewport_size({"width": 1280, "height": 900})
        sign_in(page, base_url, "shell.dash.zh")
        page.goto(f"{base_url}/dashboard")
        expect(page.locator("#dashboard-risk-list")).to_contain_text("交期延误")
        # lines each short cell's text takes (a Range gives one rectangle per line)
        lines = page.evaluate("""() => [...document.querySelectorAll(
            '#dashboard-overdue-list tbody td:not(:nth-child(2)), #dashboard-risk-list tbody td:not(:nth-child(2))')]
            .map(td => { const r = document.createRange(); r.selectNodeContents(td);
                         const tops = [...r.getClientRects()].map(x => x.top).sort((a, b) => a - b);
                         const n = tops.filter((t, i) => i === 0 || t - tops[i - 1] > 8).length;
                         return [td.textContent.trim(), n]; })""")
        assert lines and all(n == 1 for _, n in lines), [t for t, n in lines if n != 1]
