"""The rule designer says how each rule runs (issue 15): a designer builds a time rule on the
due-time index, publishes it and reads "fires within seconds of its moment"; the rule list says,
per rule, "at its moment", "every minute (scan)" or "on events"; a Chinese designer reads it in
Chinese on a 390 px phone."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from backend.rules import definitions
from tests.backend.rules.test_service import actor_of
from tests.browser.conftest import sign_in
from tests.factories.people import make_user


def _rule(key: str, name: str, condition, trigger=None) -> dict:
    return {"key": key, "name": {"zh": name, "en": name}, "trigger": trigger or {"kind": "time"},
            "condition": condition, "firing": {"mode": "once_per_episode"},
            "actions": [{"type": "create_todo", "assignee": {"kind": "owner"},
                         "title_template": {"zh": "看看 {{ order.number }}", "en": "Look at {{ order.number }}"}}]}


def test_the_designer_and_the_list_say_how_each_rule_runs(page: Page, base_url, seed):
    now = datetime.now(UTC)
    admin = make_user(seed, username="kind.designer", roles=["admin", "designer"], locale="en")
    make_user(seed, username="kind.zh", roles=["admin", "designer"], locale="zh_CN")
    seed.commit()
    actor = actor_of(admin, "admin", "designer")
    for rule in (
        _rule("kind_scanned", "KIND-Scanned", {"or": [{">": [{"var": "hours_in_stage"}, 48]},
                                                       {"==": [{"var": "stage"}, "payment"]}]}),
        _rule("kind_event", "KIND-Event", {"==": [{"var": "stage"}, "shipping"]},
              {"kind": "event", "events": ["stage_entered"]}),
    ):
        definitions.save_draft(seed, actor=actor, definition=rule, now=now)
        definitions.publish_rule(seed, actor=actor, key=rule["key"], now=now)

    sign_in(page, base_url, "kind.designer")
    page.goto(f"{base_url}/designer/rules/new")
    page.get_by_label("Rule key").fill("kind_indexed")
    page.get_by_label("Name (English)").fill("KIND-Indexed")
    page.get_by_role("tab", name="JSON-logic").click()
    page.get_by_label("Condition as JSON-logic").fill(
        '{"and": [{"==": [{"var": "stage"}, "production"]}, {">": [{"var": "working_hours_in_stage"}, 16]}]}')
    page.get_by_role("button", name="Apply JSON").click()
    page.get_by_role("tab", name="Visual builder").click()
    page.get_by_role("button", name="Add a to-do").click()
    page.get_by_label("Assignee", exact=True).select_option(label="The order owner")
    page.get_by_label("Title", exact=True).fill("Production slow: {{ order.number }}")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#rd-status")).to_have_text("Published.")

    page.goto(f"{base_url}/designer/rules/kind_indexed")
    expect(page.locator("#rd-kind")).to_contain_text(
        "Time rule on the due-time index: fires within seconds of its moment.")
    page.goto(f"{base_url}/designer/rules/kind_scanned")
    expect(page.locator("#rd-kind")).to_contain_text("Time rule checked by the scan: noticed within a minute.")

    page.goto(f"{base_url}/designer/rules")
    table = page.get_by_role("table", name="Alert rules")
    expect(table.get_by_role("row").filter(has_text="KIND-Indexed")).to_contain_text("At its moment (due-time index)")
    expect(table.get_by_role("row").filter(has_text="KIND-Scanned")).to_contain_text("Every minute (scan)")
    expect(table.get_by_role("row").filter(has_text="KIND-Event")).to_contain_text("On events")

    # in Chinese, on a phone
    page.context.clear_cookies()
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(page, base_url, "kind.zh")
    page.goto(f"{base_url}/designer/rules/kind_indexed")
    note = page.locator("#rd-kind")
    expect(note).to_contain_text("定时规则（到期索引）：到点后数秒内触发。")
    note.scroll_into_view_if_needed()  # the reader scrolls down to the condition
    expect(note).to_be_in_viewport()
    box = note.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
