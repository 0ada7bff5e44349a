"""A save the server refuses, in the rule designer: the toast says why in the designer's language
(the server's own words) and what the designer typed stays on the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.people import make_user


@pytest.mark.parametrize(("locale", "message", "problem"), [
    ("zh_CN", "规则有 1 个问题，已在设计器中标出。", "规则标识: 规则标识只能包含小写字母、数字和 _"),
    ("en", "The rule has 1 problem(s); they are marked in the designer.", "key:"),
])
def test_refused_rule_save_says_why_and_keeps_the_input(page: Page, base_url, seed, locale, message, problem):
    make_user(seed, username=f"rd.err.{locale}", roles=["designer"], locale=locale)
    seed.commit()
    sign_in(page, base_url, f"rd.err.{locale}")
    page.goto(f"{base_url}/designer/rules/new")
    page.locator("#rd-key").fill("bad key!")
    page.locator("#rd-name-zh").fill("逾期提醒")
    page.locator("#rd-name-en").fill("Overdue reminder")
    page.locator("#rd-save").click()

    toast = page.locator("#toast .toast-msg")
    expect(toast.locator("strong")).to_have_text(message)
    expect(page.locator("#rd-issues")).to_contain_text(problem)
    # nothing lost: the key can be corrected where it was typed
    expect(page.locator("#rd-key")).to_have_value("bad key!")
    expect(page.locator("#rd-key")).to_be_editable()
    expect(page.locator("#rd-name-zh")).to_have_value("逾期提醒")
    expect(page.locator("#rd-name-en")).to_have_value("Overdue reminder")
    page.locator("#rd-key").fill("overdue_reminder")
    page.locator("#rd-save").click()
    expect(page.locator("#rd-key")).to_have_attribute("readonly", "")  # saved: the key is fixed now


@pytest.mark.parametrize(("locale", "message"), [
    ("zh_CN", "表单定义有问题。"),
    ("en", "The form definition has problems."),
])
def test_refused_form_import_says_why_and_keeps_the_form(page: Page, base_url, seed, tmp_path, locale, message):
    make_user(seed, username=f"fd.err.{locale}", roles=["designer"], locale=locale)
    seed.commit()
    sign_in(page, base_url, f"fd.err.{locale}")
    page.goto(f"{base_url}/designer/forms")
    before = page.locator("#forms-canvas > li").count()
    page.evaluate("window.__stayed = true")  # a reload (what a good import does) would drop it
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    page.locator("#forms-import").set_input_files(str(broken))

    expect(page.locator("#toast .toast-msg strong")).to_have_text(message)
    expect(page.locator("#forms-message")).to_have_class("error")
    expect(page.locator("#forms-canvas > li")).to_have_count(before)
    assert page.evaluate("window.__stayed === true")
