"""The audit trail in a real browser: an admin opens an order's customer, changes the e-mail, and
finds the change (old → new, by whom) in the customer's History and on Admin → Audit log, in
English on a desktop and in Chinese on a 360 px phone."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


class TestCustomerEmailChange:
    def test_admin_changes_the_email_and_finds_who_did_it(self, page: Page, base_url, seed):
        admin = make_user(seed, username="adm.audit", roles=["admin"], locale="en", display_name="Ada Auditor")
        customer = make_customer(seed, name="Audit Mould Co", email="old.buyer@mould.cn")
        make_order(seed, owner=admin, customer=customer, number="AUD-1")
        seed.commit()
        sign_in(page, base_url, "adm.audit")
        page.goto(f"{base_url}/orders")
        page.get_by_role("link", name="AUD-1").click()
        page.locator("#orders-customer").get_by_role("link", name="Audit Mould Co").click()

        history = page.get_by_role("region", name="Change history")
        expect(history).to_contain_text("No recorded changes yet.")
        email = page.get_by_role("group", name="Contact 1").get_by_label("Email")
        expect(email).to_have_value("old.buyer@mould.cn")
        email.fill("new.buyer@mould.cn")  # the primary contact's e-mail (several contacts per customer)
        page.get_by_role("button", name="Save contacts").click()
        expect(page.get_by_role("status")).to_contain_text("Contacts of Audit Mould Co were saved.")
        expect(history).to_contain_text("Ada Auditor")
        expect(history.locator("del", has_text=re.compile(r"^old\.buyer@mould\.cn$"))).to_have_count(1)
        expect(history.locator("ins", has_text=re.compile(r"^new\.buyer@mould\.cn$"))).to_have_count(1)

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
        page.get_by_role("navigation", name="Administration").get_by_role("link", name="Audit log").click()
        page.get_by_label("What changed").select_option(label="Customer")
        page.get_by_label("Changed by").select_option(label="Ada Auditor")
        page.get_by_role("button", name="Show changes").click()
        row = page.locator("#admin-audit tbody tr", has_text="Audit Mould Co")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Ada Auditor")
        expect(row).to_contain_text("changed")
        expect(row.locator("del", has_text=re.compile(r"^old\.buyer@mould\.cn$"))).to_have_count(1)
        expect(row.locator("ins", has_text=re.compile(r"^new\.buyer@mould\.cn$"))).to_have_count(1)
        row.get_by_role("link", name="Audit Mould Co").click()
        expect(page.get_by_role("group", name="Contact 1").get_by_label("Email")).to_have_value("new.buyer@mould.cn")

    def test_the_log_in_chinese_on_a_phone(self, page: Page, base_url, seed):
        make_user(seed, username="adm.audit.zh", roles=["admin"], locale="zh_CN", display_name="审计管理员")
        customer = make_customer(seed, name="手机审计客户", email="a@phone.cn")
        seed.commit()
        page.set_viewport_size({"width": 360, "height": 740})
        sign_in(page, base_url, "adm.audit.zh")
        page.goto(f"{base_url}/customers/{customer.id}")
        page.get_by_role("group", name="联系人 1").get_by_label("邮箱").fill("b@phone.cn")
        page.get_by_role("button", name="保存联系人").click()
        expect(page.get_by_role("status")).to_contain_text("手机审计客户 的联系人已保存。")
        page.get_by_role("link", name="在审计日志中查看全部变更").click()
        row = page.locator("#admin-audit tbody tr", has_text="手机审计客户")
        expect(row).to_contain_text("审计管理员")
        expect(row).to_contain_text("已修改")
        expect(row.locator("ins", has_text=re.compile(r"^b@phone\.cn$"))).to_have_count(1)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the audit log scrolls sideways at 360 px ({width} px wide)"
