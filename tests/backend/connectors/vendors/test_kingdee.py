"""Kingdee K/3 Cloud template against a fake K/3 Cloud Web API (login cookie, ExecuteBillQuery rows
in FieldKeys order), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend import i18n
from tests.backend.connectors.vendors.helpers import cursor, from_template, health, orders, run
from tests.factories.vendor_sources import FakeKingdee

KEY = "kingdee_k3cloud"


def bill(no: str, modified: str, lines: int = 2, status: str = "C", customer: str = "C001") -> dict:
    return {"FBillNo": no, "FDate": modified[:10] + "T00:00:00", "FModifyDate": modified,
            "FCustId.FNumber": customer, "FCustId.FName": f"客户{customer}", "FDocumentStatus": status,
            "FBillAllAmount": 100.0 * lines, "FSettleCurrId.FCode": "CNY",
            "lines": [{"FMaterialId.FNumber": f"M{i}", "FQty": i + 1, "FTaxPrice": 50.0} for i in range(lines)]}


@pytest.fixture
def k3():
    server = FakeKingdee([bill("XSDD001", "2026-11-23T09:00:00.123", 3), bill("XSDD002", "2026-11-23T10:00:00", 1),
                          bill("XSDD003", "2026-11-23T11:00:00", 2, status="A"),
                          bill("XSDD004", "2026-11-23T12:00:00", 2)]).start()
    yield server
    server.stop()


def make(session, admin, now, k3, **kw):
    kw.setdefault("secrets", {"password": FakeKingdee.PASSWORD})
    return from_template(session, admin, now, KEY, k3.base,
                         options={"acct_id": FakeKingdee.ACCT, "username": FakeKingdee.USER},
                         initial_since="2026-11-22 00:00:00", page_size=4, **kw)


def test_bills_across_pages_become_orders_with_their_lines(session, connection, admin, now, k3):
    c = make(session, admin, now, k3)
    result = run(connection, c.id, now)
    assert (result.status, result.created_count, result.failed_count) == ("ok", 4, 0), result.error
    got = orders(session, "kingdee")
    assert sorted(got) == ["XSDD001", "XSDD002", "XSDD003", "XSDD004"]
    first = got["XSDD001"]
    assert (str(first.amount), first.stage, first.currency) == ("300.00", "production", "CNY")
    assert '"FMaterialId_FNumber": "M2"' in first.data["vendor_lines"]  # all 3 lines, though a page holds 4 rows
    assert got["XSDD003"].stage == "draft"
    queries = [r["body"]["data"] for r in k3.requests if "ExecuteBillQuery" in r["path"]]
    # one-day windows from initial_since; in the second, the bill a page cut is read again from its first row
    assert [q["StartRow"] for q in queries] == [0, 0, 3, 6, 0]
    assert queries[0]["FormId"] == "SAL_SaleOrder" and "FModifyDate >" in queries[0]["FilterString"]


def test_a_second_run_reads_only_what_changed_since(session, connection, admin, now, k3):
    c = make(session, admin, now, k3)
    run(connection, c.id, now)
    after_first = cursor(session, c.id)
    assert after_first["until"] == "" and after_first["since"] > "2026-11-23 12:00:00"
    k3.bills.append(bill("XSDD005", "2026-11-24T11:00:00", 1))
    k3.requests.clear()
    result = run(connection, c.id, now + timedelta(hours=4))
    assert (result.created_count, result.unchanged_count, result.updated_count) == (1, 0, 0)
    query = [r["body"]["data"] for r in k3.requests if "ExecuteBillQuery" in r["path"]][0]
    assert f"FModifyDate > '{after_first['since']}'" in query["FilterString"]


def test_wrong_password_is_a_clear_error_on_health(session, connection, admin, now, k3):
    c = make(session, admin, now, k3, secrets={"password": "wrong"})
    result = run(connection, c.id, now)
    assert result.status == "failed"
    h = health(session, c.id)
    assert h["error"]["code"] == "vendor.login_failed"
    token = i18n.set_locale("en")
    try:
        assert "用户名或密码错误" in i18n.translate_error(h["error"]["code"], h["error"]["params"])
        assert "refused the sign-in" in i18n.translate_error(h["error"]["code"], h["error"]["params"])
    finally:
        i18n.reset_locale(token)
    assert not any("ExecuteBillQuery" in r["path"] for r in k3.requests)


def test_an_error_answer_fails_the_run_and_keeps_the_cursor(session, connection, admin, now, k3):
    c = make(session, admin, now, k3)
    k3.fail_next = [[{"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": False,
                                                    "Errors": [{"Message": "字段 FFoo 不存在"}]}}}]]
    result = run(connection, c.id, now)
    assert result.status == "failed"
    h = health(session, c.id)
    assert (h["error"]["code"], h["error"]["params"]["message"]) == ("vendor.api_error", "字段 FFoo 不存在")
    assert cursor(session, c.id) == {}
    assert run(connection, c.id, now).created_count == 4  # the next run reads it all


def test_without_the_session_cookie_the_fake_refuses(k3):
    import httpx

    answer = httpx.post(k3.base + "/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc",
                        json={"data": {"FormId": "SAL_SaleOrder", "FieldKeys": "FBillNo"}}).json()
    assert answer[0][0]["Result"]["ResponseStatus"]["IsSuccess"] is False



def test_a_session_lost_mid_run_signs_in_again(session, connection, admin, now, k3):
    c = make(session, admin, now, k3)
    k3.expire_sessions_after = 2  # after the login and the first query
    result = run(connection, c.id, now)
    assert (result.status, result.created_count) == ("ok", 4), result.error
    assert len([r for r in k3.requests if "ValidateUser" in r["path"]]) == 2
