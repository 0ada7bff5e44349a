"""The rule designer in a real browser (issue 6): build "pending approval for more than 24 hours ->
to-do for the approver, copy their manager" by clicking, dry-run it, enable it, and find the to-do
in the approver's inbox after the next scan."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page, expect

from backend.inbox.models import InboxItem
from backend.rules.tasks import scan_time_rules
from tests.browser.conftest import sign_in
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user


def _waiting(seed, owner, approver, number, hours, now):
    order = make_order(seed, owner=owner, stage="approval", number=number, at=now - timedelta(hours=hours))
    seed.add(InboxItem(dedupe_key=f"flow:browser-approval:{order.id}", order_id=order.id, assignee_id=approver.id,
                       kind="approval", title=f"Approve {number}", created_at=now))
    seed.flush()
    return order


def test_build_dry_run_enable_and_the_todo_arrives(page: Page, browser: Browser, base_url, seed, live_engine):
    now = datetime.now(UTC)
    make_user(seed, username="rules.admin", roles=["admin", "designer"], locale="en")
    boss = make_user(seed, username="rules.boss", roles=["approver"], display_name="Boss Zhao", locale="en")
    dept = make_department(seed, name="Rule approvals", head=boss)
    approver = make_user(seed, username="rules.approver", roles=["approver"], department=dept, locale="en")
    rep = make_user(seed, username="rules.rep", roles=["sales"], locale="en")
    _waiting(seed, rep, approver, "WAIT-30H", 30, now)
    _waiting(seed, rep, approver, "WAIT-2H", 2, now)
    seed.commit()

    sign_in(page, base_url, "rules.admin")
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_label("Rule key").fill("browser_approval_wait")
    page.get_by_label("Name (English)").fill("Approval waiting too long")

    # if: stage equals approval AND hours in stage more than 24
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).nth(0).select_option(label="Stage")
    page.get_by_label("Operator", exact=True).nth(0).select_option(label="equals")
    page.get_by_label("Value", exact=True).nth(0).select_option(label="Approval")  # stages are listed by name
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).nth(1).select_option(label="Hours in stage")
    page.get_by_label("Operator", exact=True).nth(1).select_option(label="more than")
    expect(page.locator(".rd-unit")).to_have_text("hours")
    page.get_by_label("Value", exact=True).nth(1).fill("24")

    # the JSON-logic tab shows the same condition and round-trips
    page.get_by_role("tab", name="JSON-logic").click()
    json_box = page.get_by_label("Condition as JSON-logic")
    expect(json_box).to_have_value('{\n  "and": [\n    {\n      "==": [\n        {\n          "var": "stage"\n'
                                   '        },\n        "approval"\n      ]\n    },\n    {\n      ">": [\n'
                                   '        {\n          "var": "hours_in_stage"\n        },\n        24\n      ]\n'
                                   '    }\n  ]\n}')
    page.get_by_role("tab", name="Visual builder").click()
    expect(page.get_by_label("Value", exact=True).nth(1)).to_have_value("24")
    # and only this test's orders: the browser tests share one live database, where other tests'
    # orders wait in approval too and would crowd WAIT-30H out of the dry run's first page
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).nth(2).select_option(label="Order number")
    page.get_by_label("Operator", exact=True).nth(2).select_option(label="contains")
    page.get_by_label("Value", exact=True).nth(2).fill("WAIT-")

    # then: a to-do for the current approver, copied to their manager
    page.get_by_role("button", name="Add a to-do").click()
    page.get_by_label("Assignee", exact=True).select_option(label="The current approver")
    page.get_by_label("Copy to", exact=True).select_option(label="The current approver's manager")
    page.get_by_label("Priority", exact=True).select_option(label="High")
    page.get_by_label("Title", exact=True).fill("Approve {{ order.number }} now")

    page.get_by_role("button", name="Dry run").click()
    dry = page.locator("#rd-dry table")
    expect(dry).to_contain_text("WAIT-30H")
    expect(dry).to_contain_text("To-do “Approve WAIT-30H now” for")
    expect(dry).to_contain_text("(the current approver); copy to Boss Zhao")
    expect(dry).not_to_contain_text("WAIT-2H")

    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#rd-status")).to_have_text("Published.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Enable").click()
    # the orders waiting now are to be acted on too (the default is from now on)
    page.get_by_label(re.compile(r"Also the \d+ orders matching now")).check()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#rd-status")).to_have_text("Enabled.")

    # the next scan (drained inline, as the worker would run it)
    assert scan_time_rules(live_engine, datetime.now(UTC)) >= 1

    context = browser.new_context(locale="en-US")
    try:
        approver_page = context.new_page()
        sign_in(approver_page, base_url, "rules.approver")
        approver_page.goto(f"{base_url}/inbox")
        expect(approver_page.get_by_text("Approve WAIT-30H now")).to_be_visible()
        expect(approver_page.get_by_text("Approve WAIT-2H now")).to_have_count(0)
    finally:
        context.close()
    with live_engine.connect() as conn:
        from sqlalchemy import select

        cc = conn.execute(select(InboxItem.kind).where(InboxItem.assignee_id == boss.id,
                                                       InboxItem.title == "Approve WAIT-30H now")).scalars().all()
    assert cc == ["cc"]

    # the designer shows the firing in the rule's history
    page.goto(f"{base_url}/designer/rules/browser_approval_wait")
    expect(page.get_by_role("link", name="WAIT-30H")).to_be_visible()


def test_conditions_drag_between_groups_and_json_round_trips(page: Page, base_url, seed):
    make_user(seed, username="rules.dragger", roles=["designer"], locale="en")
    seed.commit()
    sign_in(page, base_url, "rules.dragger")
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).nth(0).select_option(label="Stage")
    page.get_by_label("Value", exact=True).nth(0).select_option(label="Approval")
    page.get_by_role("button", name="Add group").first.click()
    nested = page.get_by_role("group", name="Any of these (OR)")
    expect(nested).to_be_visible()
    page.get_by_role("group", name="Condition").first.get_by_title("Drag to move this condition").drag_to(nested)
    page.get_by_role("tab", name="JSON-logic").click()
    json_box = page.get_by_label("Condition as JSON-logic")
    expect(json_box).to_have_value('{\n  "and": [\n    {\n      "or": [\n        {\n          "==": [\n'
                                   '            {\n              "var": "stage"\n            },\n'
                                   '            "approval"\n          ]\n        }\n      ]\n    }\n  ]\n}')
    # JSON the builder cannot show stays as an advanced row, unchanged
    json_box.fill('{"or": [{">": [{"+": [{"var": "amount"}, 5]}, 10]}, {"in": ["vip", {"var": "tags"}]}]}')
    page.get_by_role("button", name="Apply JSON").click()
    page.get_by_role("tab", name="Visual builder").click()
    expect(page.get_by_role("group", name="Any of these (OR)")).to_be_visible()
    expect(page.locator(".rd-raw")).to_contain_text('"+"')
    expect(page.get_by_label("Operator", exact=True)).to_have_value("contains")
    page.get_by_role("tab", name="JSON-logic").click()
    assert '"+"' in json_box.input_value() and '"vip"' in json_box.input_value()


def test_history_says_where_an_alert_for_nobody_went(page: Page, base_url, seed, live_engine):
    from backend.rules import definitions
    from engine.rules.classics import classic_rule
    from tests.backend.rules.test_service import actor_of

    now = datetime.now(UTC)
    admin = make_user(seed, username="rules.hist", roles=["admin", "designer"], locale="en")
    boss = make_user(seed, username="rules.hist.boss", display_name="Boss Qian", locale="en")
    dept = make_department(seed, name="History sales", head=boss)
    rep = make_user(seed, username="rules.hist.rep", roles=["sales"], department=dept, locale="en")
    make_order(seed, owner=rep, stage="approval", number="NOBODY-1", at=now - timedelta(days=10))  # no approval to-do
    for step in (definitions.save_draft, definitions.publish_rule):
        kwargs = {"definition": classic_rule("approval_timeout")} if step is definitions.save_draft else {
            "key": "approval_timeout"}
        step(seed, actor=actor_of(admin, "admin"), now=now, **kwargs)
    definitions.enable_rule(seed, actor=actor_of(admin, "admin"), key="approval_timeout", confirm=True, now=now)
    seed.commit()
    # other tests' orders in the shared live database may wait in approval too: this one must be among them
    assert scan_time_rules(live_engine, now) >= 1

    sign_in(page, base_url, "rules.hist")
    page.goto(f"{base_url}/designer/rules/approval_timeout")
    history = page.get_by_role("region", name="Firing history")
    expect(history).to_contain_text("NOBODY-1")
    expect(history).to_contain_text(
        "Nobody fits the assignee “The current approver” for this order; it went to “The owner's manager” instead.")
