"""The rule designer on a 360 px phone (issue 6): nothing runs off the side with every editor open,
and, in Chinese, a template naming a missing field shows the translated problem under its action, from the preview
(the value is missing on that order) and from Check (no form has the field)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.factories.orders import make_order
from tests.factories.people import make_user


def _overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no sideways scrolling)."""
    over = page.evaluate("document.documentElement.scrollWidth - innerWidth")
    if over > 0:  # name the culprits, so a failure says what to fix
        print("wider than the phone:", page.evaluate("""[...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
            .slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + e.getBoundingClientRect().right)"""))
    return over


def test_invalid_template_on_a_phone_in_chinese(page: Page, base_url, seed):
    make_user(seed, username="rd.phone", roles=["designer"], locale="zh_CN")
    rep = make_user(seed, username="rd.phone.rep", roles=["sales"], display_name="Rep Phone")
    make_order(seed, owner=rep, stage="shipping", number="PH-0001")
    seed.commit()

    page.set_viewport_size({"width": 360, "height": 780})
    sign_in(page, base_url, "rd.phone")
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_label("规则标识").fill("rd_phone")
    page.get_by_role("button", name="添加条件", exact=True).click()
    page.get_by_role("button", name="添加给客户的消息").click()
    page.get_by_role("button", name="添加待办").click()
    message = page.get_by_role("group", name="1. 给客户的消息")
    message.get_by_label("主题").fill("订单 {{ order.number }}")
    message.get_by_label("内容").fill("贸易条款 {{ order.data.nope }}")
    assert _overflow(page) <= 0

    page.get_by_label("在订单上预览").fill("PH-0001")
    page.get_by_role("button", name="预览", exact=True).click()
    preview = message.get_by_role("status", name="预览")
    expect(preview).to_contain_text("主题: 订单 PH-0001")
    # on this order the value is missing: it renders empty and says so (issue 17)
    expect(preview.locator(".rd-problem")).to_contain_text("此订单没有 order.data.nope 的值")
    expect(preview.locator(".rd-problem")).to_be_visible()

    page.get_by_role("button", name="检查").click()
    expect(message.locator(".rd-problem")).to_contain_text("模板使用了“order.data.nope”，这不是可用的变量")
    assert _overflow(page) <= 0


def test_every_editor_fits_a_phone(page: Page, base_url, seed):
    make_user(seed, username="rd.phone.en", roles=["designer"], locale="en")
    # the user picker lists every user: the shared live database holds long names (and so may yours)
    make_user(seed, username="rd.phone.long", display_name="Maximilian Alexander Featherstonehaugh-Montgomery-Smythe")
    seed.commit()
    page.set_viewport_size({"width": 360, "height": 780})
    sign_in(page, base_url, "rd.phone.en")
    page.goto(f"{base_url}/designer/rules/new?template=approval_timeout")
    for name in ("Add a to-do", "Add a notification", "Add a message to the customer", "Add an escalation",
                 "Add a field update", "Add a tag", "Add a risk flag", "Add a flow start", "Add a webhook call"):
        page.get_by_role("button", name=name).click()
    page.get_by_role("group", name="2. To-do").get_by_label("Assignee", exact=True).select_option(label="A user")
    page.get_by_role("group", name="7. Tag").get_by_label("Tag").fill("watch")
    page.get_by_role("group", name="8. Risk flag").get_by_label("Flag").fill("late")
    assert _overflow(page) <= 0
    # a flow start needs a published flow (this database may have none): remove it, then dry-run
    page.get_by_role("group", name="9. Flow start").get_by_role("button", name="Remove action").click()
    expect(page.locator(".rd-action")).to_have_count(9)
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#rd-dry table")).to_be_visible()
    assert _overflow(page) <= 0
    page.get_by_role("button", name="Save draft").scroll_into_view_if_needed()
    expect(page.get_by_role("button", name="Save draft")).to_be_in_viewport()


def test_rule_list_fits_a_phone_in_english(page: Page, base_url, seed):
    from backend.clock import utcnow
    from backend.rules import definitions
    from engine.rules.classics import CLASSIC_RULES, classic_rule
    from tests.backend.rules.test_service import actor_of

    admin = make_user(seed, username="rd.list.admin", roles=["admin", "designer"], locale="en")
    for key in CLASSIC_RULES:
        definitions.save_draft(seed, actor=actor_of(admin, "admin"), definition=classic_rule(key), now=utcnow())
    seed.commit()
    page.set_viewport_size({"width": 360, "height": 780})
    sign_in(page, base_url, "rd.list.admin")
    page.goto(f"{base_url}/designer/rules")
    expect(page.get_by_role("table", name="Alert rules")).to_contain_text("Delivery delay risk")
    assert _overflow(page) <= 0
