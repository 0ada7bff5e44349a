"""Republishing an enabled rule asks, as enabling does, when the new version would match every order
(issue 18): the admin edits the condition, clicks Publish, and the page asks; declining keeps the
old version live, accepting publishes the new one still enabled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.rules import definitions
from backend.rules.models import RuleDefinitionRow
from engine.rules.classics import classic_rule
from tests.backend.rules.test_service import actor_of
from tests.browser.conftest import sign_in
from tests.factories.orders import make_order
from tests.factories.people import make_user

# its own key: the browser tests share one live database, where test_rules.py publishes the classic
# approval_timeout rule too
KEY = "republish_timeout"


def published(live_engine) -> list[tuple[int, bool]]:
    with live_engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(RuleDefinitionRow.version, RuleDefinitionRow.enabled)
            .where(RuleDefinitionRow.key == KEY, RuleDefinitionRow.status == "published"))]


def test_republishing_a_rule_that_would_match_every_order_asks_first(page: Page, base_url, seed, live_engine):
    now = datetime.now(UTC)
    admin = make_user(seed, username="rules.republish", roles=["admin", "designer"], locale="en")
    rep = make_user(seed, username="rules.republish.rep", roles=["sales"], locale="en")
    make_order(seed, owner=rep, stage="approval", number="REPUB-30H", at=now - timedelta(hours=30))
    make_order(seed, owner=rep, stage="production", number="REPUB-1H", at=now - timedelta(hours=1))
    actor = actor_of(admin, "admin", "designer")
    definitions.save_draft(seed, actor=actor, definition={**classic_rule("approval_timeout"), "key": KEY}, now=now)
    definitions.publish_rule(seed, actor=actor, key=KEY, now=now)
    definitions.enable_rule(seed, actor=actor, key=KEY, now=now)  # matches one order of two
    seed.commit()

    sign_in(page, base_url, "rules.republish")
    page.goto(f"{base_url}/designer/rules/{KEY}")
    page.get_by_role("tab", name="JSON-logic").click()
    page.get_by_label("Condition as JSON-logic").fill('{">": [{"var": "amount"}, 0]}')
    page.get_by_role("button", name="Apply JSON").click()

    asked: list[str] = []

    def decline(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", decline)
    page.get_by_role("button", name="Publish").click()
    page.get_by_role("button", name="Confirm").click()  # from now on (the choice republishing asks for)
    expect(page.locator("#rd-status")).to_contain_text("Please confirm before enabling")
    assert asked == ["This rule would match every order. Enable it anyway?"]
    assert published(live_engine) == [(1, True)]  # the old version stays live

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Publish").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#rd-status")).to_have_text("Published.")
    assert published(live_engine) == [(2, True)]
