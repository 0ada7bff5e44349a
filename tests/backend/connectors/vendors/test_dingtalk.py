"""DingTalk approvals template against a fake DingTalk server (gettoken, processinstance/listids with
start/end ms and cursor, processinstance/get), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from backend import i18n
from tests.backend.connectors.vendors.helpers import cursor, from_template, health, orders, run
from tests.factories.vendor_sources2 import FakeDingTalk, local_ms

KEY = "dingtalk_approval"


def inst(n: int, created: str, status: str = "COMPLETED", result: str = "agree", code: str = FakeDingTalk.PROCESS):
    return {"id": f"pi-{n:03d}", "process_code": code, "create_time": created, "status": status, "result": result,
            "finish_time": created if status == "COMPLETED" else None, "business_id": f"2026112310{n:04d}",
            "form": {"合同编号": f"HT-{n:03d}", "客户名称": f"客户{n % 2}", "合同金额": f"{n}000.50",
                     "交货日期": "2026-12-20", "备注": "null"}}


@pytest.fixture
def ding():
    server = FakeDingTalk([inst(1, "2026-11-23 09:00:00"), inst(2, "2026-11-23 10:00:00"),
                           inst(3, "2026-11-23 11:00:00", result="refuse"),
                           inst(4, "2026-11-23 12:00:00", status="RUNNING", result=""),
                           inst(5, "2026-11-23 13:00:00", status="TERMINATED", result=""),
                           inst(6, "2026-11-23 14:00:00"), inst(7, "2026-11-23 15:00:00", code="PROC-OTHER")]).start()
    yield server
    server.stop()


def make(session, admin, now, ding, **kw):
    kw.setdefault("secrets", {"app_secret": FakeDingTalk.APP_SECRET})
    return from_template(session, admin, now, KEY, ding.url,
                         options={"app_key": FakeDingTalk.APP_KEY, "process_code": FakeDingTalk.PROCESS},
                         initial_since="2026-11-22 00:00:00", page_size=2, **kw)


def test_only_approved_instances_become_orders_across_pages(session, connection, admin, now, ding):
    c = make(session, admin, now, ding)
    result = run(connection, c.id, now)
    assert (result.status, result.created_count, result.failed_count) == ("ok", 3, 0), result.error
    got = orders(session, "dingtalk")
    assert sorted(got) == ["HT-001", "HT-002", "HT-006"]  # refused, running, terminated, other form: none
    first = got["HT-001"]
    assert (first.number, str(first.amount), first.planned_delivery) == ("HT-001", "1000.50", date(2026, 12, 20))
    assert first.data["approval_no"] == "20261123100001"
    lists = [r["body"] for r in ding.requests if r["path"] == "/topapi/processinstance/listids"]
    day = [q["cursor"] for q in lists if q["start_time"] == local_ms("2026-11-23 00:00:00")]
    assert day == [0, 2, 4] and len(lists) == 5  # that day in 3 pages; the day before and the morning after: 1 each
    assert all(q["size"] == 2 and q["process_code"] == FakeDingTalk.PROCESS for q in lists)
    assert cursor(session, c.id)["pending"] == ["pi-004"]


def test_a_running_approval_becomes_an_order_once_approved(session, connection, admin, now, ding):
    c = make(session, admin, now, ding)
    run(connection, c.id, now)
    running = next(i for i in ding.instances if i["id"] == "pi-004")
    running.update(status="COMPLETED", result="agree", finish_time="2026-11-24 10:00:00")
    ding.requests.clear()
    result = run(connection, c.id, now + timedelta(minutes=30))
    assert (result.status, result.created_count) == ("ok", 1), result.error
    assert "HT-004" in orders(session, "dingtalk")
    assert cursor(session, c.id)["pending"] == []
    gets = [r["body"]["process_instance_id"] for r in ding.requests if r["path"] == "/topapi/processinstance/get"]
    assert gets == ["pi-004"]  # the one pending; the list of newer instances is empty


def test_a_second_run_reads_only_newer_instances(session, connection, admin, now, ding):
    c = make(session, admin, now, ding)
    run(connection, c.id, now)
    after = cursor(session, c.id)
    assert after["until"] == "" and after["since"] >= "2026-11-24 10:00:00"
    ding.instances.append(inst(8, "2026-11-24 11:00:00"))
    ding.requests.clear()
    result = run(connection, c.id, now + timedelta(hours=2))
    assert (result.created_count, result.unchanged_count, result.updated_count) == (1, 0, 0)
    lists = [r["body"] for r in ding.requests if r["path"] == "/topapi/processinstance/listids"]
    assert lists and all(q["start_time"] >= local_ms(after["since"]) for q in lists)


def test_wrong_appsecret_is_a_clear_error_on_health(session, connection, admin, now, ding):
    c = make(session, admin, now, ding, secrets={"app_secret": "wrong"})
    result = run(connection, c.id, now)
    assert result.status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.login_failed" and h["failures"] == 1
    for locale, words in (("en", "refused the sign-in"), ("zh-CN", "拒绝")):
        token = i18n.set_locale(locale)
        try:
            text = i18n.translate_error(h["error"]["code"], h["error"]["params"])
        finally:
            i18n.reset_locale(token)
        assert "DingTalk" in text and "不合法的corpid或corpsecret" in text and words in text
    assert not any(r["path"].startswith("/topapi") for r in ding.requests)


def test_an_error_answer_fails_the_run_and_keeps_the_cursor(session, connection, admin, now, ding):
    c = make(session, admin, now, ding)
    ding.fail_next = {"errcode": 400013, "errmsg": "process_code不存在"}
    result = run(connection, c.id, now)
    assert result.status == "failed"
    h = health(session, c.id)
    assert (h["error"]["code"], h["error"]["params"]["code"]) == ("vendor.api_error", "400013")
    assert cursor(session, c.id) == {}
    assert run(connection, c.id, now).created_count == 3


def test_without_a_token_the_fake_refuses(ding):
    import httpx

    answer = httpx.post(ding.url + "/topapi/processinstance/listids", params={"access_token": "nope"},
                        json={"process_code": FakeDingTalk.PROCESS, "start_time": 0}).json()
    assert answer["errcode"] != 0


def test_the_request_bound_stops_between_pages_and_the_next_run_reads_on(session, connection, admin, now, ding):
    ding.instances += [inst(n, f"2026-11-23 16:{n:02d}:00") for n in range(10, 25)]
    c = make(session, admin, now, ding, max_pages_per_run=1)  # 21 requests a run: a list of 2 costs 3
    first = run(connection, c.id, now)
    assert first.status == "ok", first.error
    mid = cursor(session, c.id)
    assert mid["until"] and mid["at"] > 0  # stopped inside a window, at a page boundary
    total = first.created_count
    for n in range(1, 6):
        more = run(connection, c.id, now + timedelta(minutes=n))
        assert more.status == "ok", more.error
        total += more.created_count
    assert total == 18 and len(orders(session, "dingtalk")) == 18
