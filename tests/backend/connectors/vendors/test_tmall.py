"""Tmall / Taobao TOP template against a fake TOP gateway that checks the MD5 signature, the app key
and the session key; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.connectors.signing import md5_sign
from tests.backend.connectors.vendors.helpers import cursor, from_template, health, orders, run
from tests.factories.vendor_sources import FakeTaobao

KEY = "tmall_top"


def trade(tid: int, modified: str, status: str = "WAIT_SELLER_SEND_GOODS") -> dict:
    return {"tid": tid, "status": status, "payment": f"{tid % 1000}.50", "buyer_nick": f"买家{tid % 3}",
            "created": modified, "modified": modified,
            "orders": {"order": [{"oid": tid * 10 + i, "outer_sku_id": f"SKU-{i}", "title": f"商品{i}", "num": i + 1,
                                  "price": "10.00"} for i in range(2)]}}


@pytest.fixture
def top():
    trades = [trade(3001000 + i, f"2026-11-23 1{i}:00:00") for i in range(5)]
    trades[3]["status"] = "TRADE_FINISHED"
    trades[4]["status"] = "TRADE_CLOSED"
    server = FakeTaobao(trades).start()
    yield server
    server.stop()


def make(session, admin, now, top, **kw):
    kw.setdefault("initial_since", "2026-11-22 12:00:00")
    kw.setdefault("secrets", {"app_secret": FakeTaobao.SECRET, "access_token": FakeTaobao.SESSION})
    return from_template(session, admin, now, KEY, top.url + "/router/rest", options={"app_key": FakeTaobao.APP_KEY},
                         page_size=2, **kw)


def test_signature_matches_the_documented_example_algorithm():
    params = {"method": "taobao.trades.sold.increment.get", "app_key": "12345678", "v": "2.0", "sign_method": "md5",
              "timestamp": "2026-11-23 10:00:00", "sign": "ignored"}
    import hashlib

    raw = "s" + "app_key12345678methodtaobao.trades.sold.increment.getsign_methodmd5timestamp2026-11-23 10:00:00v2.0" + "s"
    assert md5_sign(params, "s") == hashlib.md5(raw.encode()).hexdigest().upper()


def test_trades_across_pages_become_orders_with_stages_and_lines(session, connection, admin, now, top):
    c = make(session, admin, now, top)
    result = run(connection, c.id, now)
    assert (result.status, result.created_count, result.failed_count) == ("ok", 5, 0), result.error
    got = orders(session, "tmall")
    assert sorted(got) == [str(3001000 + i) for i in range(5)]
    first = got["3001000"]
    assert (str(first.amount), first.stage, first.currency) == ("0.50", "production", "CNY")
    assert '"sku": "SKU-1"' in first.data["vendor_lines"]
    assert got["3001003"].status == "completed" and got["3001004"].status == "cancelled"
    data = [r for r in top.requests if r.get("start_modified", "").startswith("2026-11-22 12")]
    # the window's pages read from the last backwards (the documented way not to miss trades)
    assert [r["page_no"] for r in data] == ["1", "2", "1"]
    assert all(r["sign_method"] == "md5" and r["v"] == "2.0" for r in top.requests)


def test_windows_are_at_most_one_day(session, connection, admin, now, top):
    c = make(session, admin, now, top, initial_since="2026-11-20 00:00:00")
    assert run(connection, c.id, now).status == "ok"
    spans = {(r["start_modified"], r["end_modified"]) for r in top.requests}
    assert ("2026-11-20 00:00:00", "2026-11-21 00:00:00") in spans and len(spans) == 5


def test_a_second_run_reads_only_newer_trades(session, connection, admin, now, top):
    c = make(session, admin, now, top)
    run(connection, c.id, now)
    since = cursor(session, c.id)["since"]
    top.trades.append(trade(3009999, "2026-11-24 11:00:00", "WAIT_BUYER_CONFIRM_GOODS"))
    top.trades[0]["modified"] = "2026-11-24 11:30:00"
    top.trades[0]["status"] = "WAIT_BUYER_CONFIRM_GOODS"
    top.requests.clear()
    result = run(connection, c.id, now + timedelta(hours=2))
    assert (result.created_count, result.updated_count, result.unchanged_count) == (1, 1, 0)
    assert {r["start_modified"] for r in top.requests} == {since}
    assert orders(session, "tmall")["3001000"].stage == "shipping"


def test_wrong_session_key_is_a_clear_error_on_health(session, connection, admin, now, top):
    c = make(session, admin, now, top, secrets={"app_secret": FakeTaobao.SECRET, "access_token": "expired"})
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.login_failed" and "Invalid session" in h["error"]["params"]["message"]


def test_wrong_app_secret_fails_the_fakes_signature_check(session, connection, admin, now, top):
    c = make(session, admin, now, top, secrets={"app_secret": "not-the-secret", "access_token": FakeTaobao.SESSION})
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.login_failed" and "Invalid signature" in h["error"]["params"]["message"]


def test_an_error_response_fails_the_run(session, connection, admin, now, top):
    c = make(session, admin, now, top)
    top.fail_next = {"error_response": {"code": 7, "msg": "App Call Limited", "sub_code": "accesscontrol.limited"}}
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.api_error" and h["error"]["params"]["code"] == "7"
    assert cursor(session, c.id) == {}
