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

    def test_a_number_in_a_json_body(self, client, auth):
        resp = client.post("/api/v1/orders", json={"customer_id": 2**40, "amount": "1"}, headers={**auth, **EN})
        assert resp.status_code in (404, 422), resp.text
        assert resp.status_code != 500


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
