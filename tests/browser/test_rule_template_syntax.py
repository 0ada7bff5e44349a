"""A broken message template is refused on save in the designer's language, in words ("the {% if %}
on line 2 is never closed"), never with Jinja's English token names."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.people import make_user


def test_an_unclosed_block_is_named_in_chinese(page: Page, base_url, seed):
    make_user(seed, username="tsx.admin", roles=["admin", "designer"], locale="zh-CN")
    seed.commit()
    sign_in(page, base_url, "tsx.admin")
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_label("规则标识").fill("tsx_browser")
    page.get_by_label("名称（英文）").fill("TSX syntax")
    page.get_by_role("button", name="添加待办").click()
    todo = page.get_by_role("group", name="1. 待办")
    todo.get_by_label("标题", exact=True).fill("{% if order.amount > 100 %}大单")
    page.get_by_role("button", name="保存草稿").click()
    status = page.locator("#rd-status")
    expect(status).to_contain_text("第 1 行或之前的 {% if %} 块没有结束")
    expect(status).not_to_contain_text("Jinja")
    expect(status).not_to_contain_text("innermost")
