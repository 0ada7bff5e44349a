"""Bad input gets one JSON error shape with a machine code and a per-field message in the caller's
language, and nothing is half-written. Also: every error message has its Chinese translation."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from backend import i18n
from backend.errors import GendanError, error_body
from backend.orders.models import Order, OrderEvent
from tests.conftest import bearer
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

EN = {"Accept-Language": "en-US,en;q=0.9"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
MY_PREFIXES = ("not_found", "method_not_allowed", "http_error", "auth.", "validation.", "request.", "order.",
               "customer.", "user.", "department.", "field.", "api_key.")


def _rows(session) -> tuple[int, int]:
    session.expire_all()
    return (session.exec(select(func.count()).select_from(Order)).scalar_one(),
            session.exec(select(func.count()).select_from(OrderEvent)).scalar_one())


@pytest.fixture
def rep(client, session):
    make_user(session, username="rep", roles=["sales"])
    customer = make_customer(session)
    session.commit()
    return {"auth": bearer(client, "rep"), "customer": customer}


def _fields(resp) -> dict[str, dict]:
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation.failed"
    return error["fields"]


class TestPayloadShape:
    @pytest.mark.parametrize(("patch", "field", "code", "en", "zh"), [
        ({"colour": "red"}, "colour", "field.extra_forbidden", "Unknown field colour.", "未知字段 colour。"),
        ({"amount": "-5"}, "amount", "field.greater_than_equal", "Must be at least 0.", "不能小于 0。"),
        ({"amount": "abc"}, "amount", "field.decimal_parsing", "Must be a number.", "必须是数字。"),
        ({"amount": "1.234"}, "amount", "field.decimal_max_places", "At most 2 decimal places.", "最多 2 位小数。"),
        ({"amount": "NaN"}, "amount", "field.finite_number", "Must be a finite number.", "必须是有限的数字。"),
        ({"customer_id": "one"}, "customer_id", "field.int_parsing", "Must be a whole number.", "必须是整数。"),
        ({"customer_id": 1.5}, "customer_id", "field.int_from_float", "Must be a whole number.", "必须是整数。"),
        ({"tags": "vip"}, "tags", "field.list_type", "Must be a list.", "必须是列表。"),
        ({"data": [1]}, "data", "field.dict_type", "Must be an object.", "必须是对象。"),
        ({"currency": "yuan"}, "currency", "field.string_pattern_mismatch", "The format is not valid.", "格式无效。"),
        ({"planned_delivery": "2026-02-30"}, "planned_delivery", "field.date_from_datetime_parsing",
         "Not a valid date.", "不是有效的日期。"),
        ({"planned_delivery": "1999-12-31"}, "planned_delivery", "field.date_out_of_range",
         "The date must be between 2000-01-01 and 2100-12-31.", "日期必须在 2000-01-01 与 2100-12-31 之间。"),
        ({"payment_due": "2020-01-01"}, "payment_due", "order.date_before_created", None, None),
    ])
    def test_each_bad_value_is_a_field_error_in_both_languages(self, client, session, rep, patch, field, code,
                                                               en, zh):
        body = {"customer_id": rep["customer"].id, "amount": "10", **patch}
        before = _rows(session)
        for lang, expected in ((EN, en), (ZH, zh)):
            fields = _fields(client.post("/api/v1/orders", json=body, headers={**rep["auth"], **lang}))
            assert list(fields) == [field]
            assert fields[field]["code"] == code
            if expected is not None:
                assert fields[field]["message"] == expected
        assert _rows(session) == before

    def test_many_problems_are_reported_together(self, client, session, rep):
        resp = client.post("/api/v1/orders", headers={**rep["auth"], **EN},
                           json={"amount": "-1", "currency": "cny", "stage": "", "size": 3})
        error = resp.json()["error"]
        assert set(error["fields"]) == {"customer_id", "amount", "currency", "stage", "size"}
        assert error["message"] == "5 field(s) are not valid."
        assert error["fields"]["customer_id"]["message"] == "This field is required."

    def test_not_json_and_not_an_object(self, client, rep):
        headers = {**rep["auth"], **EN, "Content-Type": "application/json"}
        resp = client.post("/api/v1/orders", content=b'{"amount": 1,', headers=headers)
        assert resp.status_code == 422
        assert any(f["code"] == "field.json_invalid" for f in resp.json()["error"]["fields"].values())
        resp = client.post("/api/v1/orders", json=[1, 2], headers=headers)
        assert resp.status_code == 422
        assert all(f["message"] for f in resp.json()["error"]["fields"].values())

    def test_references_that_do_not_exist(self, client, session, rep):
        before = _rows(session)
        fields = _fields(client.post("/api/v1/orders", headers={**rep["auth"], **ZH},
                                     json={"customer_id": 987654, "owner_id": 987655, "amount": "1"}))
        assert fields["customer_id"]["message"] == "未找到客户 987654。"
        assert fields["owner_id"]["message"] == "未找到用户 987655。"
        assert _rows(session) == before


class TestUpdateErrors:
    def test_bad_update_changes_nothing(self, client, session, rep):
        order = make_order(session, owner=make_user(session, username="rep2", roles=["sales"]))
        session.commit()
        auth = {**bearer(client, "rep2"), **EN}
        before = _rows(session)
        for body in ({"version": 1, "amount": "-3"}, {"version": "one", "amount": "3"}, {"amount": "3"},
                     {"version": 1, "status": "lost"}, {"version": 1, "number": "NEW-NO"},
                     {"version": 1, "planned_delivery": "2026-13-01"}):
            resp = client.patch(f"/api/v1/orders/{order.id}", json=body, headers=auth)
            assert resp.status_code == 422, body
        assert _rows(session) == before
        session.expire_all()
        assert session.get(Order, order.id).version == 1


class TestOversizedPayload:
    def test_declared_and_streamed_bodies_over_the_limit_are_413(self, client, session, rep):
        big = b'{"customer_id": %d, "amount": "1", "data": {"blob": "%s"}}' % (
            rep["customer"].id, b"x" * 1_100_000)
        before = _rows(session)
        resp = client.post("/api/v1/orders", content=big,
                           headers={**rep["auth"], **ZH, "Content-Type": "application/json"})
        assert resp.status_code == 413
        assert resp.json()["error"]["code"] == "request.too_large"
        assert resp.json()["error"]["message"] == "请求过大（最多 1000000 字节）。"

        def chunks():  # no Content-Length: the limit is counted while reading
            for i in range(0, len(big), 65536):
                yield big[i:i + 65536]

        resp = client.post("/api/v1/orders", content=chunks(),
                           headers={**rep["auth"], **EN, "Content-Type": "application/json"})
        assert resp.status_code == 413
        assert resp.json()["error"]["params"] == {"limit": 1_000_000}
        assert _rows(session) == before


class TestShape:
    def test_unknown_route_and_method_are_json_errors(self, client, rep):
        resp = client.get("/api/v1/nothing-here", headers={**rep["auth"], **EN})
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
        resp = client.put("/api/v1/orders", headers={**rep["auth"], **EN})
        assert resp.status_code == 405 and resp.json()["error"]["message"] == "This method is not allowed here."

    def test_unregistered_field_codes_fall_back_to_a_generic_message(self):
        token = i18n.set_locale("zh_CN")
        try:
            body = error_body(GendanError("validation.failed", {"count": 1},
                                          fields={"x": ("field.some_new_pydantic_type", {})}))
        finally:
            i18n.reset_locale(token)
        assert body["error"]["fields"]["x"]["message"] == "值无效。"


class TestCatalog:
    def test_every_api_error_message_has_chinese_with_the_same_placeholders(self):
        placeholders = re.compile(r"%\((\w+)\)s")
        token = i18n.set_locale("zh_CN")
        try:
            catalog = i18n.translations("zh_CN")
            for code, english in i18n.ERROR_MESSAGES.items():
                if not code.startswith(MY_PREFIXES):
                    continue
                chinese = catalog.ugettext(english)
                assert chinese != english, f"{code} has no zh_CN translation"
                assert set(placeholders.findall(chinese)) == set(placeholders.findall(english)), code
        finally:
            i18n.reset_locale(token)
