"""Yonyou U8+ template against a fake U8+ OpenAPI (token, list, then each order); SQLite and PG."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.backend.connectors.vendors.helpers import cursor, from_template, health, orders, run
from tests.factories.vendor_sources import FakeYonyou

KEY = "yonyou_u8"


def sale_order(code: str, modified: str, state: str = "Approved") -> dict:
    return {"code": code, "date": modified[:10], "custcode": "U8C01", "cusname": "用友客户", "state": state,
            "modified": modified,
            "entry": [{"inventorycode": "INV-1", "quantity": 2, "taxprice": 11.3, "sum": 22.6},
                      {"inventorycode": "INV-2", "quantity": 1, "taxprice": 100, "sum": 100}]}


@pytest.fixture
def u8():
    server = FakeYonyou([sale_order(f"SO{i:04d}", f"2026-11-23 1{i}:00:00") for i in range(5)]).start()
    server.orders[4]["state"] = "Opening"
    yield server
    server.stop()


def make(session, admin, now, u8, **kw):
    kw.setdefault("initial_since", "2026-11-22 12:00:00")
    kw.setdefault("secrets", {"app_secret": FakeYonyou.SECRET})
    return from_template(session, admin, now, KEY, u8.url,
                         options={"from_account": FakeYonyou.FROM, "to_account": FakeYonyou.TO,
                                  "app_key": FakeYonyou.APP_KEY},
                         page_size=2, **kw)


def test_list_then_detail_across_pages(session, connection, admin, now, u8):
    c = make(session, admin, now, u8)
    result = run(connection, c.id, now)
    assert (result.status, result.created_count, result.failed_count) == ("ok", 5, 0), result.error
    got = orders(session, "yonyou")
    o = got["SO0000"]
    assert (str(o.amount), o.stage, o.currency) == ("122.60", "production", "CNY")
    assert '"inventorycode": "INV-2"' in o.data["vendor_lines"]
    assert got["SO0004"].stage == "draft"
    lists = [r for r in u8.requests if r["path"] == "/api/saleorderlist/batch_get"
             and r["timestamp_begin"] == "2026-11-22 12:00:00"]
    assert [r["page_index"] for r in lists] == ["1", "2"]
    assert len([r for r in u8.requests if r["path"] == "/api/saleorder/get"]) == 5


def test_a_second_run_reads_only_newer(session, connection, admin, now, u8):
    c = make(session, admin, now, u8)
    run(connection, c.id, now)
    since = cursor(session, c.id)["since"]
    u8.orders.append(sale_order("SO0100", "2026-11-24 11:00:00"))
    u8.requests.clear()
    result = run(connection, c.id, now + timedelta(hours=2))
    assert (result.created_count, result.unchanged_count) == (1, 0)
    assert {r["timestamp_begin"] for r in u8.requests if "timestamp_begin" in r} == {since}


def test_wrong_secret_is_a_clear_error_on_health(session, connection, admin, now, u8):
    c = make(session, admin, now, u8, secrets={"app_secret": "wrong"})
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.login_failed" and "app_secret" in h["error"]["params"]["message"]


def test_an_error_answer_fails_the_run(session, connection, admin, now, u8):
    c = make(session, admin, now, u8)
    u8.fail_next = {"errcode": "20003", "errmsg": "数据源未配置"}
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.api_error" and h["error"]["params"]["message"] == "数据源未配置"
