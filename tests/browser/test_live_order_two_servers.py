"""Live order pages across two server processes on PostgreSQL: the change is made on server 1 (the
approver's page there) and seen on server 2's page by push (LISTEN/NOTIFY between processes)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session

from backend.db import make_engine
from backend.pipeline_assembly import assemble
from tests.browser.conftest import sign_in
from tests.browser.live_servers import server_processes
from tests.browser.test_live_order import NO_POLL
from tests.browser.test_walkthrough_order_page import _order_in_approval
from tests.conftest import make_test_database


@pytest.fixture(scope="module")
def pg_two_servers(tmp_path_factory):
    url = make_test_database("postgresql", tmp_path_factory.mktemp("live2"), label="live2")
    engine = assemble(make_engine(url))
    with server_processes(url, 2, data_dir=tmp_path_factory.mktemp("live2var")) as urls:
        yield engine, urls
    engine.dispose()


def test_a_change_on_server_one_appears_on_server_two(browser: Browser, pg_two_servers):
    engine, (server1, server2) = pg_two_servers
    with Session(engine, expire_on_commit=False) as seed:
        manager, rep, order = _order_in_approval(seed, "live2s", "zh_CN")
    ctx_a, ctx_b = browser.new_context(), browser.new_context()
    try:
        for ctx in (ctx_a, ctx_b):
            ctx.add_init_script(NO_POLL)
        page_a, page_b = ctx_a.new_page(), ctx_b.new_page()
        sign_in(page_a, server1, manager.username)
        sign_in(page_b, server2, rep.username)
        page_a.goto(f"{server1}/orders/{order.id}")
        page_b.goto(f"{server2}/orders/{order.id}")
        for page in (page_a, page_b):
            expect(page.locator("#live-order")).to_have_attribute("data-state", "live", timeout=30000)
        expect(page_b.locator("#live-order")).to_have_text("实时")
        expect(page_b.locator("#orders-head .pill.stage-approval")).to_be_visible()

        page_a.locator("#orders-flow form.flow-task").get_by_role("button", name="同意").click()

        expect(page_b.locator("#orders-head .pill.stage-shipping")).to_be_visible(timeout=30000)
        expect(page_b.locator("#orders-timeline > li", has_text="已审批")).to_contain_text(manager.display_name)
        expect(page_b.locator("#orders-flow [data-node-key='ship']")).to_have_attribute("data-state", "active")
        stats = page_b.evaluate("window.gendanLive")
        assert stats["polls"] == 0 and stats["messages"] >= 1
    finally:
        ctx_a.close()
        ctx_b.close()
