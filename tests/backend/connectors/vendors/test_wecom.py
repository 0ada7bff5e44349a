"""WeCom approvals template against a fake WeCom server (gettoken, oa/getapprovalinfo with seconds,
new_cursor and filters, oa/getapprovaldetail controls), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.backend.connectors.vendors.helpers import cursor, from_template, health, orders, run
from tests.factories.vendor_sources2 import FakeWeCom, local_ms, wecom_controls

KEY = "wecom_approval"


def app(n: int, applied: str, status: int = 2, template: str = FakeWeCom.TEMPLATE_ID) -> dict:
    return {"sp_no": f"2026112300{n:02d}", "template_id": template, "apply_time": applied, "sp_status": status,
            "controls": wecom_controls(f"WX-{n:03d}", f"企微客户{n % 2}", f"{n}88.00", "2026-12-15")}


@pytest.fixture
def wx():
    server = FakeWeCom([app(1, "2026-11-23 09:00:00"), app(2, "2026-11-23 10:00:00", status=3),
                        app(3, "2026-11-23 11:00:00", status=1), app(4, "2026-11-23 12:00:00"),
                        app(5, "2026-11-23 13:00:00", status=4), app(6, "2026-11-23 14:00:00"),
                        app(7, "2026-11-23 15:00:00", template="other")]).start()
    yield server
    server.stop()


def make(session, admin, now, wx, **kw):
    kw.setdefault("secrets", {"app_secret": FakeWeCom.SECRET})
    return from_template(session, admin, now, KEY, wx.url,
                         options={"corp_id": FakeWeCom.CORP_ID, "template_id": FakeWeCom.TEMPLATE_ID},
                         initial_since="2026-11-22 00:00:00", page_size=2, **kw)


def test_only_approved_applications_become_orders_across_pages(session, connection, admin, now, wx):
    c = make(session, admin, now, wx)
    result = run(connection, c.id, now)
    assert (result.status, result.created_count, result.failed_count) == ("ok", 3, 0), result.error
    got = orders(session, "wecom")
    assert sorted(got) == ["WX-001", "WX-004", "WX-006"]  # rejected, running, withdrawn, other template: none
    first = got["WX-001"]
    assert (str(first.amount), first.planned_delivery, first.data["approval_no"]) == \
        ("188.00", date(2026, 12, 15), "202611230001")
    lists = [r["body"] for r in wx.requests if r["path"] == "/cgi-bin/oa/getapprovalinfo"]
    day = [q["new_cursor"] for q in lists if int(q["starttime"]) == local_ms("2026-11-23 00:00:00") // 1000]
    assert day == ["", "C2", "C4"]
    assert all(q["filters"] == [{"key": "template_id", "value": FakeWeCom.TEMPLATE_ID}] and q["size"] == 2
               for q in lists)
    assert cursor(session, c.id)["pending"] == ["202611230003"]


def test_a_running_application_becomes_an_order_once_approved(session, connection, admin, now, wx):
    c = make(session, admin, now, wx)
    run(connection, c.id, now)
    next(a for a in wx.applications if a["sp_no"] == "202611230003")["sp_status"] = 2
    result = run(connection, c.id, now + timedelta(minutes=20))
    assert (result.status, result.created_count) == ("ok", 1), result.error
    assert "WX-003" in orders(session, "wecom") and cursor(session, c.id)["pending"] == []


def test_a_second_run_reads_only_newer_applications(session, connection, admin, now, wx):
    c = make(session, admin, now, wx)
    run(connection, c.id, now)
    after = cursor(session, c.id)
    wx.applications.append(app(8, "2026-11-24 11:00:00"))
    wx.requests.clear()
    result = run(connection, c.id, now + timedelta(hours=2))
    assert (result.created_count, result.unchanged_count) == (1, 0)
    lists = [r["body"] for r in wx.requests if r["path"] == "/cgi-bin/oa/getapprovalinfo"]
    assert lists and all(int(q["starttime"]) >= local_ms(after["since"]) // 1000 for q in lists)


def test_wrong_secret_is_a_clear_error_on_health(session, connection, admin, now, wx):
    c = make(session, admin, now, wx, secrets={"app_secret": "wrong"})
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.login_failed" and "invalid credential" in h["error"]["params"]["message"]
    assert not any(r["path"].startswith("/cgi-bin/oa") for r in wx.requests)


def test_an_error_answer_fails_the_run_and_keeps_the_cursor(session, connection, admin, now, wx):
    c = make(session, admin, now, wx)
    wx.fail_next = {"errcode": 301025, "errmsg": "template_id invalid"}
    assert run(connection, c.id, now).status == "failed"
    h = health(session, c.id)
    assert (h["error"]["code"], h["error"]["params"]["code"]) == ("vendor.api_error", "301025")
    assert cursor(session, c.id) == {}
    assert run(connection, c.id, now).created_count == 3
