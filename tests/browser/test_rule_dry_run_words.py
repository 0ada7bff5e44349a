"""The dry run says in words who gets what, and enabling asks "from now on" or "also the N orders
matching now" (issue 17): a designer builds a rule, dry-runs it and reads the recipients with their
counts and why two of three to-dos fall back to the owner, enables it from now on (the count of the
other choice on offer) and the next scan fires nothing for the orders that already matched; a rule
that would give one person 22 to-dos at once is named with the number before it can fire on them
(on a 360 px phone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from backend.inbox.models import InboxItem
from backend.orders.models import Order
from backend.rules import definitions
from backend.rules.models import RuleDefinitionRow, RuleFiring
from backend.rules.tasks import scan_time_rules
from tests.backend.rules.test_service import actor_of
from tests.browser.conftest import sign_in
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user


def firings(live_engine, key: str) -> int:
    with live_engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(RuleFiring).where(RuleFiring.rule_key == key)).scalar_one()


def test_dry_run_in_words_and_enable_from_now_on(page: Page, base_url, seed, live_engine):
    now = datetime.now(UTC)
    make_user(seed, username="dry.designer", roles=["admin", "designer"], locale="en")
    boss = make_user(seed, username="dry.boss", roles=["approver"], display_name="DRY-Boss Zhao", locale="en")
    dept = make_department(seed, name="DRY approvals", head=boss)
    approver = make_user(seed, username="dry.approver", roles=["approver"], department=dept,
                         display_name="王经理", locale="en")
    rep = make_user(seed, username="dry.rep", roles=["sales"], display_name="DRY-Rep Li", locale="en")
    waiting = make_order(seed, owner=rep, stage="approval", number="DRY-W1", amount="7777.77",
                         at=now - timedelta(hours=30))
    seed.add(InboxItem(dedupe_key=f"flow:dry-approval:{waiting.id}", order_id=waiting.id, assignee_id=approver.id,
                       kind="approval", title="Approve DRY-W1", created_at=now))
    for number in ("DRY-W2", "DRY-W3"):  # in approval for 40 h, but no approval running
        make_order(seed, owner=rep, stage="approval", number=number, amount="7777.77", at=now - timedelta(hours=40))
    late = make_order(seed, owner=rep, stage="production", number="DRY-W0", amount="7777.77",
                      at=now - timedelta(hours=40))
    seed.commit()

    sign_in(page, base_url, "dry.designer")
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_label("Rule key").fill("dry_words_wait")
    page.get_by_label("Name (English)").fill("DRY-Approval waiting")
    page.get_by_role("tab", name="JSON-logic").click()
    page.get_by_label("Condition as JSON-logic").fill(
        '{"and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "hours_in_stage"}, 24]},'
        ' {"==": [{"var": "amount"}, 7777.77]}]}')
    page.get_by_role("button", name="Apply JSON").click()
    page.get_by_role("tab", name="Visual builder").click()
    page.get_by_role("button", name="Add a to-do").click()
    page.get_by_label("Assignee", exact=True).select_option(label="The current approver")
    page.get_by_label("Copy to", exact=True).select_option(label="The current approver's manager")
    page.get_by_label("Title", exact=True).fill("Approve {{ order.number }}")

    page.get_by_role("button", name="Dry run").click()
    dry = page.locator("#rd-dry")
    expect(dry.get_by_role("status")).to_have_text("3 order(s) match now.")
    summary = dry.get_by_role("list", name="What would happen")
    expect(summary).to_contain_text("Action 1 (to-do): on 3 orders: DRY-Rep Li 2, 王经理 1")
    expect(summary).to_contain_text("2 of 3 orders have no running approval: it goes to the order owner instead.")
    expect(summary).to_contain_text("2 of 3 orders have no running approval (or its approver has no manager): nobody is copied.")
    table = dry.locator("table")
    expect(table).to_contain_text("To-do “Approve DRY-W1” for 王经理 (the current approver); copy to DRY-Boss Zhao")
    expect(table).to_contain_text("To-do “Approve DRY-W2” for DRY-Rep Li (the order owner, as nobody is the current "
                                  "approver)")
    expect(table).to_contain_text("Approval")
    expect(table).not_to_contain_text("CreateTodo")
    expect(table).not_to_contain_text("DRY-W0")

    # a problem names the action by position and kind, not actions.0.title_template
    page.get_by_label("Title", exact=True).fill("")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("list", name="Problems")).to_contain_text("Action 1 (to-do), title:")
    expect(page.get_by_role("list", name="Problems")).not_to_contain_text("actions.0")
    page.get_by_label("Title", exact=True).fill("Approve {{ order.number }}")

    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#rd-status")).to_have_text("Published.")
    page.get_by_role("button", name="Enable", exact=True).click()
    choice = page.get_by_role("group", name="Enable the rule: which orders should it act on?")
    expect(choice).to_be_visible()
    expect(choice.get_by_label("From now on: only orders whose match starts after enabling")).to_be_checked()
    expect(choice.get_by_label("Also the 3 orders matching now (they fire at the next check)")).not_to_be_checked()
    choice.get_by_role("button", name="Confirm").click()
    expect(page.locator("#rd-status")).to_have_text("Enabled.")

    with live_engine.connect() as conn:
        chosen = conn.execute(select(RuleDefinitionRow.start_from_now).where(
            RuleDefinitionRow.key == "dry_words_wait", RuleDefinitionRow.status == "published")).scalar_one()
    assert chosen is True
    scan_time_rules(live_engine, datetime.now(UTC))  # the worker's next scan
    assert firings(live_engine, "dry_words_wait") == 0  # the three orders that already matched

    # an order that starts to match after enabling fires, and the history says so in words
    later = seed.get(Order, late.id)
    later.stage, later.stage_entered_at = "approval", datetime.now(UTC) - timedelta(hours=30)
    seed.commit()
    scan_time_rules(live_engine, datetime.now(UTC) + timedelta(minutes=1))
    assert firings(live_engine, "dry_words_wait") == 1
    page.goto(f"{base_url}/designer/rules/dry_words_wait")
    history = page.get_by_role("region", name="Firing history")
    expect(history).to_contain_text("To-do “Approve DRY-W0” for DRY-Rep Li (the order owner, as nobody is the "
                                    "current approver)")
    expect(history).to_contain_text("to-do open")
    expect(history).not_to_contain_text("CreateTodo")


def test_enabling_warns_when_one_person_would_get_many_todos(page: Page, base_url, seed, live_engine):
    now = datetime.now(UTC)
    admin = make_user(seed, username="dry.heavy.admin", roles=["admin", "designer"], locale="en")
    clerk = make_user(seed, username="dry.heavy.clerk", roles=["sales"], display_name="DRY-Clerk Wu", locale="en")
    for i in range(22):
        make_order(seed, owner=clerk, stage="production", number=f"DRY-H{i:02d}", amount="8888.88",
                   at=now - timedelta(hours=3))
    rule = {"key": "dry_heavy", "name": {"en": "DRY-Heavy"}, "trigger": {"kind": "time"},
            "condition": {"==": [{"var": "amount"}, 8888.88]},
            "actions": [{"type": "create_todo", "assignee": {"kind": "user", "user_id": clerk.id},
                         "title_template": "Check {{ order.number }}"}]}
    actor = actor_of(admin, "admin", "designer")
    definitions.save_draft(seed, actor=actor, definition=rule, now=now)
    definitions.publish_rule(seed, actor=actor, key="dry_heavy", now=now)
    seed.commit()

    page.set_viewport_size({"width": 360, "height": 780})  # on a phone, nothing runs off the side
    sign_in(page, base_url, "dry.heavy.admin")
    page.goto(f"{base_url}/designer/rules/dry_heavy")
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#rd-dry")).to_contain_text("DRY-Clerk Wu would get 22 to-dos at once.")

    page.get_by_role("button", name="Enable", exact=True).click()
    choice = page.get_by_role("group", name="Enable the rule: which orders should it act on?")
    expect(choice.get_by_role("list", name="Warnings")).to_contain_text("DRY-Clerk Wu would get 22 to-dos at once.")
    assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0
    choice.get_by_label("Also the 22 orders matching now (they fire at the next check)").check()
    asked: list[str] = []

    def decline(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", decline)
    choice.get_by_role("button", name="Confirm").click()
    expect(page.locator("#rd-status")).to_contain_text("DRY-Clerk Wu would get 22 to-dos at once")
    assert asked and "DRY-Clerk Wu would get 22 to-dos at once" in asked[0]
    with live_engine.connect() as conn:
        enabled = conn.execute(select(RuleDefinitionRow.enabled).where(
            RuleDefinitionRow.key == "dry_heavy", RuleDefinitionRow.status == "published")).scalar_one()
    assert enabled is False  # declined: nothing changed
