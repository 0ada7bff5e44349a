"""History replay in a real browser: an Olist order imported with its history shows, on its page,
the timeline with the original dates, each past change marked as history (zh-CN and English)."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.auth.service import load_actor
from backend.clock import utcnow
from backend.ingest import service as import_service
from backend.ingest.history import read_mapping_file
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.people import make_user

OLIST = Path(__file__).resolve().parents[1] / "data" / "olist"


def test_a_replayed_order_shows_its_past_with_the_original_dates(page: Page, base_url, seed, live_engine):
    tag = uuid.uuid4().hex[:6]
    admin = make_user(seed, username=f"rph.admin.{tag}", roles=["admin"], locale="zh_CN")
    make_user(seed, username=f"rph.en.{tag}", roles=["admin"], locale="en")
    seed.commit()
    lines = (OLIST / "olist_orders_dataset.csv").read_bytes().splitlines(keepends=True)
    content = lines[0] + lines[1]  # e481f51c...: bought, approved, to the carrier, delivered in October 2017
    mapping = read_mapping_file(OLIST / "mapping_history.json").model_copy(update={"source": f"rph-{tag}"})
    actor = load_actor(seed, admin.id)
    job = import_service.upload_import(seed, actor=actor, filename="olist.csv", content=content, now=utcnow()).job
    import_service.start_import(seed, actor=actor, job_id=job.id, mapping=mapping, now=utcnow())
    import_service.run_to_end(live_engine, job.id, utcnow())
    seed.rollback()
    order = seed.exec(select(Order).where(Order.source == f"rph-{tag}")).scalars().one()

    sign_in(page, base_url, f"rph.admin.{tag}")
    page.goto(f"{base_url}/orders")
    page.locator('input[name="q"]').first.fill(order.number)
    page.keyboard.press("Enter")
    # the search swaps the list in: click the link of the swapped-in list, not one being replaced
    expect(page.locator(f'a[href="/orders/{order.id}"]').first).to_be_visible(timeout=30_000)
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name=order.number).first.click()
    page.wait_for_url(f"**/orders/{order.id}", timeout=60_000)

    timeline = page.locator("#orders-timeline")
    history = timeline.locator("li.event-history")
    expect(history).to_have_count(3)
    expect(history.first).to_contain_text("历史记录")  # newest first: delivered
    expect(history.first.locator("time")).to_have_attribute("datetime", "2017-10-11T00:25:13+00:00")
    expect(history.first).to_contain_text("2017")
    expect(history.first.locator('[data-field="stage"]')).to_be_visible()  # shipping -> delivered
    expect(history.first.locator('[data-field="status"]')).to_be_visible()  # open -> completed
    expect(history.nth(2).locator("time")).to_have_attribute("datetime", "2017-10-02T14:07:15+00:00")
    expect(timeline.locator("li.event-created time")).to_have_attribute("datetime", "2017-10-02T13:56:33+00:00")
    expect(page.locator("#orders-timeline > li")).to_have_count(4)  # nothing else happened: no message, rule or flow

    page.set_viewport_size({"width": 360, "height": 800})
    page.reload()
    expect(history).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.context.clear_cookies()
    page.set_viewport_size({"width": 1200, "height": 800})
    sign_in(page, base_url, f"rph.en.{tag}")
    page.goto(f"{base_url}/orders/{order.id}")
    expect(timeline.locator("li.event-history").first).to_contain_text("From history")
