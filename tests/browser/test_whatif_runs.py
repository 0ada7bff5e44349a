"""What-if replayed by the worker (issue 14): a designer lowers a rule's threshold and clicks "What if?";
the window is large, so the page shows a progress bar while the worker replays, then the difference.
A second replay is cancelled from the progress page. Nothing real is written; it reads at 390 px."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.clock import utcnow
from backend.replay import runs
from backend.replay.models import WhatIfRun
from backend.rules import definitions
from tests.backend.rules.test_service import actor_of
from tests.browser.conftest import sign_in
from tests.browser.test_rule_whatif import assert_nothing_written, rule, seed_rule, what_if
from tests.browser.test_rule_whatif import condition as rule_condition

KEY = "whatif2_big_orders"


def condition(threshold: int) -> str:
    return rule_condition(threshold, "WI2-")


def run_worker_until(live_engine, run_id: int, states=("done",)) -> None:
    """The worker job, run here until the run ends (other tests' runs, if any, are run too)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs.run_queued(live_engine, utcnow())
        with live_engine.connect() as conn:
            if conn.execute(select(WhatIfRun.state).where(WhatIfRun.id == run_id)).scalar_one() in states:
                return
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not end")


def test_a_designer_sees_the_progress_then_the_difference(page: Page, base_url, seed, live_engine, monkeypatch):
    monkeypatch.setattr(runs, "INLINE_MAX_ORDERS", 0)  # every window goes to the worker
    admin = seed_rule(seed, prefix="WI2-", key=KEY, users="whatif2")

    sign_in(page, base_url, "whatif2.designer")
    page.set_viewport_size({"width": 390, "height": 800})
    what_if(page, base_url, KEY, condition(5000), weeks="2")

    # queued: the progress bar, waiting for the worker
    bar = page.get_by_role("progressbar", name="Replay progress")
    expect(bar).to_be_visible(timeout=60_000)
    expect(page.locator("#whatif-progress-words")).to_contain_text("Waiting for the worker")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    run_id = int(page.url.rstrip("/").split("/")[-1])

    # the worker replays it; the page turns into the difference by itself
    run_worker_until(live_engine, run_id)
    compare = page.locator("#whatif-compare")
    alerted = compare.get_by_role("row", name="Orders alerted")
    expect(alerted.get_by_role("cell")).to_have_text(["1", "2"], timeout=30_000)
    added = page.locator("#whatif-added")
    expect(added).to_contain_text("Would fire now, did not before (1)")
    link = added.get_by_role("link", name="WI2-7000")
    link.scroll_into_view_if_needed()
    expect(link).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator("#whatif-draft-changed")).to_have_count(0)

    assert_nothing_written(live_engine, KEY)  # nothing was published, fired or created

    # another window, then cancelled from the progress page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("Weeks to replay").select_option("3")
    page.get_by_role("button", name="Replay again").click()
    expect(page.get_by_role("progressbar", name="Replay progress")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Cancel the replay").click()
    expect(page.locator("#whatif-cancelled")).to_have_text("This replay was cancelled.")

    # the draft changes after the first replay: its page says so
    definitions.save_draft(seed, actor=actor_of(admin, "admin", "designer"), now=utcnow(),
                           definition=rule(KEY, "WI2-", 6000))
    seed.commit()
    page.goto(f"{base_url}/designer/whatif/runs/{run_id}")
    expect(page.locator("#whatif-draft-changed")).to_contain_text("The draft changed since this replay")
