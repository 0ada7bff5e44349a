"""Parameters the database cannot hold answer 422 with a translated message, never 500 (issue 18)."""

from __future__ import annotations

import pytest

from tests.conftest import bearer
from tests.factories.people import make_user

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def auth(client, session):
    admin = make_user(session, roles=["admin"])
    session.commit()
    return bearer(client, admin.username)


class TestIntegersPastTheColumnRange:
    @pytest.mark.parametrize("value", ["2147483648", "9223372036854775808", "-2147483649",
                                       "222002718091462888350810112"])
    def test_an_id_in_the_path(self, client, auth, value):
        resp = client.get(f"/api/v1/orders/{value}", headers={**auth, **EN})
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]
        assert error["code"] == "validation.failed" and "order_id" in error["fields"]
        assert error["fields"]["order_id"]["message"].startswith("Must be at")

    def test_the_largest_id_is_still_just_not_found(self, client, auth):
        assert client.get("/api/v1/orders/2147483647", headers=auth).status_code == 404

    def test_a_query_parameter_and_a_query_model_field(self, client, auth):
        inbox = client.get("/api/v1/inbox", params={"offset": str(2**70)}, headers={**auth, **ZH})
        assert inbox.status_code == 422 and "offset" in inbox.json()["error"]["fields"]
        assert inbox.json()["error"]["fields"]["offset"]["message"] == "不能大于 2147483647。"
        orders = client.get("/api/v1/orders", params={"customer_id": str(2**40)}, headers=auth)
        assert orders.status_code == 422 and "customer_id" in orders.json()["error"]["fields"]

    @pytest.mark.parametrize("field, value", [("customer_id", 2**31), ("customer_id", 2**40),
                                              ("customer_id", 2**70), ("owner_id", 2**31)])
    def test_an_id_in_an_order_body(self, client, auth, field, value):
        """The same answer on both databases (backend/ids.py): PostgreSQL refused the statement
        (422 "value too large"), SQLite looked the customer up (404)."""
        body = {"customer_id": 1, "amount": "1", field: value}
        resp = client.post("/api/v1/orders", json=body, headers={**auth, **ZH})
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]["fields"][field]
        assert error["code"] == "field.id_out_of_range"
        assert error["message"] == "没有记录使用此编号：编号是 1 到 2147483647 之间的整数。"

    def test_an_id_in_an_order_update(self, client, auth, session):
        from tests.factories.orders import make_order
        order = make_order(session, owner=make_user(session))
        session.commit()
        resp = client.patch(f"/api/v1/orders/{order.id}", json={"version": order.version, "customer_id": 2**40},
                            headers={**auth, **EN})
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["fields"]["customer_id"]["code"] == "field.id_out_of_range"


class TestNulBytes:
    def test_nul_in_a_query_string(self, client, auth):
        resp = client.get("/api/v1/orders", params={"q": "a\x00b"}, headers={**auth, **EN})
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["fields"]["q"] == {
            "code": "field.nul_character", "message": "Text cannot contain the NUL character.",
            "params": {"field": "q"}}

    def test_nul_in_a_path_segment_in_chinese(self, client, auth):
        resp = client.get("/api/v1/forms/a%00b", headers={**auth, **ZH})
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["fields"]["key"]["message"] == "文本不能包含 NUL 字符。"
