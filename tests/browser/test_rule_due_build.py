"""Enabling a time rule over many orders (issue 15): its due times are computed by the worker, and
the designer says "Computing due times…" with a progress bar until they are done, then that they
are ready; on a 390 px phone too. The live server runs no worker: the test runs the worker's job
`rules_due_build` itself, as the worker would, and only one rule of its own is pending."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.clock import utcnow
from backend.rules import definitions, due_build
from backend.rules.models import RuleDue
from tests.backend.rules.test_service import actor_of
from tests.browser.conftest import sign_in
from tests.factories.orders import make_order
from tests.factories.people import make_user


def _rule(key: str) -> dict:
    return {
        "key": key, "name": {"en": "Wake-up build", "zh": "到期构建"}, "trigger": {"kind": "time"},
        "condition": {"and": [{"==": [{"var": "stage"}, f"{key}_stage"]}, {">": [{"var": "hours_in_stage"}, 24]}]},
        "actions": [{"type": "create_todo", "assignee": {"kind": "owner"}, "title_template": "Late {{ order.number }}"}],
        "firing": {"mode": "once_per_episode"},
    }


@pytest.mark.parametrize("width", [1280, 390])
def test_enabling_shows_the_due_times_being_computed_until_done(page: Page, base_url, seed, live_engine,
                                                                 monkeypatch, width):
    key = f"wakeup_build_{width}"
    designer = make_user(seed, username=f"wakeup.designer.{width}", roles=["designer", "admin"], locale="en")
    rep = make_user(seed, username=f"wakeup.rep.{width}", roles=["sales"])
    order = make_order(seed, owner=rep, stage=f"{key}_stage", at=utcnow())
    seed.commit()
    actor = actor_of(designer, "designer", "admin")
    definitions.save_draft(seed, actor=actor, definition=_rule(key), now=utcnow())
    definitions.publish_rule(seed, actor=actor, key=key, now=utcnow())
    monkeypatch.setattr(due_build, "INLINE_ORDERS", 0)  # any order in scope: the worker builds it

    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, base_url, designer.username)
    page.goto(f"{base_url}/designer/rules/{key}")
    page.get_by_role("button", name="Enable", exact=True).click()
    page.get_by_role("button", name="Confirm", exact=True).click()
    status = page.locator("#rd-due-build")
    expect(status).to_contain_text("Computing due times…", timeout=30_000)
    expect(status.get_by_role("progressbar", name="Due times computed")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0

    seed.rollback()  # a fresh snapshot (SQLite keeps the old one for an open transaction)
    row_id = definitions.get_rule(seed, actor=actor, key=key).id
    for _ in range(1000):  # the worker's job, until our rule is built (other pending builds go too)
        seed.rollback()
        due_build.job(live_engine, utcnow())
        if seed.get(due_build.RuleDueBuild, row_id) is None:
            break
    expect(status).to_contain_text("Due times are ready", timeout=30_000)
    seed.rollback()
    moments = seed.execute(select(RuleDue.order_id).where(RuleDue.rule_id == row_id)).scalars().all()
    assert moments == [order.id]
    page.reload()
    expect(page.locator("#rd-due-build")).to_be_hidden()
