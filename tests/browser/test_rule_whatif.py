"""What-if before publishing (issue 14): a designer lowers a rule's threshold, clicks "What if?",
and reads which orders the draft would have alerted over the last weeks beside the published
version; nothing is published or created. The page reads on a 390 px phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from backend.orders.models import OrderEvent
from backend.rules import definitions
from backend.rules.models import RuleDefinitionRow, RuleFiring
from tests.backend.rules.test_service import actor_of
from tests.browser.conftest import sign_in
from tests.factories.orders import make_order
from tests.factories.people import make_user

KEY = "whatif_big_orders"


def condition(threshold: int, prefix: str = "WIF-") -> str:
    return f'{{"and": [{{">": [{{"var": "amount"}}, {threshold}]}}, {{"in": ["{prefix}", {{"var": "number"}}]}}]}}'


def assert_nothing_written(live_engine, key: str) -> None:
    """The what-if published, fired and created nothing: the rule is still version 1 published and
    version 2 draft, without a firing."""
    with live_engine.connect() as conn:
        versions = conn.execute(select(RuleDefinitionRow.version, RuleDefinitionRow.status)
                                .where(RuleDefinitionRow.key == key).order_by(RuleDefinitionRow.version)).all()
        assert [tuple(v) for v in versions] == [(1, "published"), (2, "draft")]
        assert conn.execute(select(func.count()).select_from(RuleFiring)
                            .where(RuleFiring.rule_key == key)).scalar_one() == 0


def seed_rule(seed, *, prefix: str = "WIF-", key: str = KEY, users: str = "whatif"):
    """Three orders (3,000, 7,000, 12,000) with their created events and rule `key` published at
    amount > 10,000 (orders numbered `prefix…` only); returns the designer."""
    now = datetime.now(UTC)
    admin = make_user(seed, username=f"{users}.designer", roles=["admin", "designer"], locale="en")
    rep = make_user(seed, username=f"{users}.rep", roles=["sales"], locale="en")
    for amount, days in ((3000, 2), (7000, 4), (12000, 6)):
        order = make_order(seed, owner=rep, stage="approval", number=f"{prefix}{amount}", amount=amount,
                           at=now - timedelta(days=days))
        seed.add(OrderEvent(order_id=order.id, type="created", at=order.created_at,
                            after={"amount": f"{amount}.00", "stage": "approval", "status": "open", "data": {}}))
    definitions.save_draft(seed, actor=actor_of(admin, "admin", "designer"), now=now,
                           definition=rule(key, prefix, 10000))
    definitions.publish_rule(seed, actor=actor_of(admin, "admin", "designer"), key=key, now=now)
    seed.commit()
    return admin


def rule(key: str, prefix: str, threshold: int) -> dict:
    return {
        "key": key, "name": {"zh": "大额订单", "en": f"{prefix} big order"},
        "trigger": {"kind": "event", "events": ["order_created"]},
        "condition": {"and": [{">": [{"var": "amount"}, threshold]}, {"in": [prefix, {"var": "number"}]}]},
        "actions": [{"type": "create_todo", "assignee": {"kind": "role", "role": "finance"},
                     "title_template": {"en": "Check {{ order.number }}"}}],
    }


def what_if(page: Page, base_url: str, key: str, condition_json: str, *, weeks: str) -> None:
    """In the rule designer: a new condition as JSON-logic, the weeks, then "What if?"."""
    page.goto(f"{base_url}/designer/rules/{key}")
    page.get_by_role("tab", name="JSON-logic").click()
    page.get_by_label("Condition as JSON-logic").fill(condition_json)
    page.get_by_role("button", name="Apply JSON").click()
    page.get_by_label("Weeks to replay").select_option(weeks)
    page.get_by_role("button", name="What if? (replay last N weeks)").click()


def test_a_designer_sees_what_a_changed_rule_would_have_done(page: Page, base_url, seed, live_engine):
    seed_rule(seed)

    sign_in(page, base_url, "whatif.designer")
    what_if(page, base_url, KEY, condition(5000), weeks="2")

    expect(page).to_have_url(f"{base_url}/designer/rules/{KEY}/whatif?weeks=2", timeout=60_000)
    compare = page.locator("#whatif-compare")
    alerted = compare.get_by_role("row", name="Orders alerted")
    expect(alerted.get_by_role("cell")).to_have_text(["1", "2"])
    expect(compare).to_contain_text("To-dos for everyone with the role finance")
    added = page.locator("#whatif-added")
    expect(added).to_contain_text("Would fire now, did not before (1)")
    expect(added.get_by_role("link", name="WIF-7000")).to_be_visible()
    expect(page.locator("#whatif-removed")).to_contain_text("(0)")

    assert_nothing_written(live_engine, KEY)

    # a longer window, from the page itself; then on a phone
    page.get_by_label("Weeks to replay").select_option("4")
    page.get_by_role("button", name="Replay again").click()
    expect(page).to_have_url(f"{base_url}/designer/rules/{KEY}/whatif?weeks=4", timeout=60_000)
    expect(page.locator("#whatif-added")).to_contain_text("(1)")
    page.set_viewport_size({"width": 390, "height": 800})
    link = added.get_by_role("link", name="WIF-7000")
    link.scroll_into_view_if_needed()
    expect(link).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
