"""JD template against a fake JOS gateway that checks the MD5 signature, app key and access token;
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.backend.connectors.vendors.helpers import cursor, from_template, health, orders, run
from tests.factories.vendor_sources import FakeJD

KEY = "jd_pop"


def order(oid: int, modified: str, state: str = "WAIT_SELLER_STOCK_OUT") -> dict:
    return {"orderId": str(oid), "orderState": state, "orderPayment": f"{oid % 100}.00", "orderTotalPrice": "999.00",
            "modified": modified, "orderStartTime": modified, "pin": f"jd_buyer{oid % 2}",
            "itemInfoList": [{"skuId": f"{oid}1", "outerSkuId": "OUT-1", "skuName": "京东商品", "itemTotal": "2",
                              "jdPrice": "49.50"}]}


@pytest.fixture
def jd():
    server = FakeJD([order(2600000 + i, f"2026-11-23 0{i}:30:00") for i in range(5)]).start()
    server.orders[2]["orderState"] = "FINISHED_L"
    yield server
    server.stop()


def make(session, admin, now, jd, **kw):
    kw.setdefault("initial_since", "2026-11-22 12:00:00")
    kw.setdefault("secrets", {"app_secret": FakeJD.SECRET, "access_token": FakeJD.TOKEN})
    return from_template(session, admin, now, KEY, jd.url + "/routerjson", options={"app_key": FakeJD.APP_KEY},
                         page_size=2, **kw)


def test_orders_across_pages_with_states_and_lines(session, connection, admin, now, jd):
    c = make(session, admin, now, jd)
    result = run(connection, c.id, now)
    assert (result.status, result.created_count, result.failed_count) == ("ok", 5, 0), result.error
    got = orders(session, "jd")
    assert len(got) == 5
    first = got["2600000"]
    assert (str(first.amount), first.stage) == ("0.00", "production")
    assert '"sku": "OUT-1"' in first.data["vendor_lines"]
    assert got["2600002"].status == "completed"
    params = [json.loads(r["360buy_param_json"]) for r in jd.requests]
    assert [p["page"] for p in params if p["start_date"] == "2026-11-22 12:00:00"] == ["1", "2", "3"]
    assert all(r["v"] == "2.0" and r["method"] == "jingdong.pop.order.search" for r in jd.requests)


def test_a_second_run_reads_only_newer_orders(session, connection, admin, now, jd):
    c = make(session, admin, now, jd)
    run(connection, c.id, now)
    since = cursor(session, c.id)["since"]
    jd.orders.append(order(2609999, "2026-11-24 11:00:00", "WAIT_GOODS_RECEIVE_CONFIRM"))
    jd.requests.clear()
    result = run(connection, c.id, now + timedelta(hours=2))
    assert (result.created_count, result.unchanged_count) == (1, 0)
    assert {json.loads(r["360buy_param_json"])["start_date"] for r in jd.requests} == {since}
    assert orders(session, "jd")["2609999"].stage == "shipping"


def test_expired_token_is_a_clear_error_on_health(session, connection, admin, now, jd):
    c = make(session, admin, now, jd, secrets={"app_secret": FakeJD.SECRET, "access_token": "old"})
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.login_failed" and "token" in h["error"]["params"]["message"]


def test_wrong_secret_is_refused_by_the_fakes_signature_check(session, connection, admin, now, jd):
    c = make(session, admin, now, jd, secrets={"app_secret": "nope", "access_token": FakeJD.TOKEN})
    assert run(connection, c.id, now).status == "failed"
    assert "签名无效" in health(session, c.id)["error"]["params"]["message"]


def test_an_api_result_failure_fails_the_run(session, connection, admin, now, jd):
    c = make(session, admin, now, jd)
    jd.fail_next = {"jingdong_pop_order_search_responce": {"code": "0", "searchorderinfo_result": {
        "apiResult": {"success": False, "englishErrCode": "time range too long", "chineseErrCode": "查询时间跨度过长"}}}}
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.api_error" and h["error"]["params"]["message"] == "查询时间跨度过长"


def test_a_run_stopped_by_its_record_bound_resumes_at_the_next_page(session, connection, admin, now, jd):
    c = make(session, admin, now, jd, max_records_per_run=2)
    first = run(connection, c.id, now)
    assert (first.status, first.created_count) == ("ok", 2)
    assert cursor(session, c.id) == {"since": "2026-11-22 12:00:00", "until": "2026-11-23 12:00:00", "at": 2}
    jd.requests.clear()
    second = run(connection, c.id, now)
    assert second.created_count == 2
    assert json.loads(jd.requests[0]["360buy_param_json"])["page"] == "2"
    run(connection, c.id, now)
    assert len(orders(session, "jd")) == 5
