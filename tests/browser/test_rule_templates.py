"""Message templates in the rule designer (issue 17): a variable clicked from the list goes into the
text, each language has its own tab, an unknown variable is refused with the closest known name,
the preview renders the customer's name, and a saved rule comes back with both languages."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.rules.models import RuleDefinitionRow
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


def test_click_a_variable_fill_both_languages_save_and_see_them(page: Page, base_url, seed, live_engine):
    make_user(seed, username="tpl.admin", roles=["admin", "designer"], locale="en")
    rep = make_user(seed, username="tpl.rep", roles=["sales"], display_name="TPL Rep", locale="en")
    customer = make_customer(seed, name="TPL-Acme Ltd")
    make_order(seed, owner=rep, customer=customer, stage="production", number="TPL-9001", amount="6000")
    seed.commit()

    sign_in(page, base_url, "tpl.admin")
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_label("Rule key").fill("tpl_browser")
    page.get_by_label("Name (English)").fill("TPL templates")
    page.get_by_role("button", name="Add a to-do").click()
    todo = page.get_by_role("group", name="1. To-do")

    # the English tab is open for an English-speaking designer; a variable is clicked in (the title
    # is the first of the to-do's two templates, each with its tabs and variables)
    title = todo.get_by_label("Title", exact=True)
    expect(todo.get_by_role("tab", name="English").first).to_have_attribute("aria-selected", "true")
    title.fill("Hello ")
    todo.locator("summary", has_text="Insert a variable").first.click()
    todo.get_by_role("button", name="Insert: Customer name {{ order.customer_name }}").first.click()
    expect(title).to_have_value("Hello {{ order.customer_name }}")
    title.press("End")
    title.type(", ")
    todo.get_by_role("button", name="Insert: Amount with currency {{ order.amount | money }}").first.click()
    expect(title).to_have_value("Hello {{ order.customer_name }}, {{ order.amount | money }}")

    # the Chinese tab edits its own text; the English one is kept
    todo.get_by_role("tab", name="中文").first.click()
    expect(title).to_have_value("")
    title.fill("你好 {{ order.customer_name }}")
    todo.get_by_role("tab", name="English").first.click()
    expect(title).to_have_value("Hello {{ order.customer_name }}, {{ order.amount | money }}")

    # the preview speaks the designer's language, with the customer's name and the money formatted
    page.get_by_label("Preview on order").fill("TPL-9001")
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(todo.get_by_role("status", name="Preview")).to_contain_text("Title: Hello TPL-Acme Ltd, 6,000.00 CNY")

    # a typo in a variable is refused on save, named with the closest known one
    body = todo.get_by_label("Message", exact=True)
    body.fill("{{ order.customer_nme }}")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#rd-status")).to_contain_text("Did you mean “order.customer_name”?")
    expect(page.locator("body")).not_to_contain_text("dict object")
    body.fill("")

    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#rd-status")).to_have_text("Draft saved.")
    with live_engine.connect() as conn:
        stored = conn.execute(select(RuleDefinitionRow.definition).where(
            RuleDefinitionRow.key == "tpl_browser")).scalar_one()
    assert stored["actions"][0]["title_template"] == {
        "zh": "你好 {{ order.customer_name }}", "en": "Hello {{ order.customer_name }}, {{ order.amount | money }}"}

    # reload: both languages come back
    page.goto(f"{base_url}/designer/rules/tpl_browser")
    todo = page.get_by_role("group", name="1. To-do")
    expect(todo.get_by_label("Title", exact=True)).to_have_value(
        "Hello {{ order.customer_name }}, {{ order.amount | money }}")
    todo.get_by_role("tab", name="中文").first.click()
    expect(todo.get_by_label("Title", exact=True)).to_have_value("你好 {{ order.customer_name }}")
    # the manager's manager is offered beside the other assignees
    expect(todo.get_by_label("Assignee", exact=True).locator("option", has_text="The owner's manager's manager")) \
        .to_have_count(1)


def test_the_variable_list_speaks_chinese_and_fits_a_phone(page: Page, base_url, seed):
    make_user(seed, username="tpl.phone", roles=["designer"], locale="zh_CN")
    seed.commit()
    page.set_viewport_size({"width": 360, "height": 780})
    sign_in(page, base_url, "tpl.phone")
    page.goto(f"{base_url}/designer/rules/new?template=payment_due_reminder")
    message = page.get_by_role("group", name="1. 给客户的消息")
    subject = message.get_by_label("主题")
    # a Chinese designer sees the Chinese text of the classic rule first; the English one is a tab away
    expect(message.get_by_role("tab", name="中文").first).to_have_attribute("aria-selected", "true")
    expect(subject).to_have_value("订单 {{ order.number }} 付款提醒")
    message.get_by_role("tab", name="English").first.click()
    expect(subject).to_have_value("Payment reminder for order {{ order.number }}")
    message.locator("summary", has_text="插入变量").first.click()
    subject.press("End")
    message.get_by_role("button", name="插入: 客户名称 {{ order.customer_name }}").first.click()
    expect(subject).to_have_value("Payment reminder for order {{ order.number }}{{ order.customer_name }}")
    assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0
