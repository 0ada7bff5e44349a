"""Bad input gets one JSON error shape with a machine code and a per-field message in the caller's
language, and nothing is half-written. Also: every error message has its Chinese translation."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend import errors, i18n
from backend.errors import GendanError, error_body
from backend.orders.models import Order, OrderEvent
from tests.conftest import bearer, login
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

    def test_a_body_nested_past_the_json_parser_is_a_400_in_words(self, client, rep):
        deep = '{"a":[' * 3000 + "1" + "]}" * 3000  # past Python's JSON parser's recursion limit
        for lang, words in (({"Accept-Language": "zh-CN"}, "无法读取请求内容"), (EN, "could not be read")):
            resp = client.post("/api/v1/orders", content=deep.encode(),
                               headers={**rep["auth"], **lang, "Content-Type": "application/json"})
            assert resp.status_code == 400
            error = resp.json()["error"]
            assert error["code"] == "request.body_unreadable" and words in error["message"]
            assert "There was an error" not in error["message"]  # the library's English stays out

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
            for code, english in i18n.error_messages().items():
                if not code.startswith(MY_PREFIXES):
                    continue
                chinese = catalog.ugettext(english)
                assert chinese != english, f"{code} has no zh_CN translation"
                assert set(placeholders.findall(chinese)) == set(placeholders.findall(english)), code
        finally:
            i18n.reset_locale(token)


ALLOWED_STATUSES = {400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 503}  # 503: SQLite busy, try again


def _matching_entries(code: str) -> dict[str, dict[str, int]]:
    """The table's entries that match `code`, per kind (whole code, prefix, suffix)."""
    table = errors.STATUS_BY_CODE
    return {
        "code": {k: v for k, v in table.items() if k == code},
        "prefix": {k: v for k, v in table.items() if k.endswith(".") and code.startswith(k)},
        "suffix": {k: v for k, v in table.items() if k.startswith("*") and code.endswith(k[1:])},
    }


class TestStatusTable:
    def test_every_registered_code_maps_to_exactly_one_status(self):
        codes = [code for code in i18n.error_messages() if not code.endswith(".*")]
        assert len(codes) > 300
        for code in codes:
            entries = _matching_entries(code)
            deciding = next((kind for kind in ("code", "prefix", "suffix") if entries[kind]), None)
            if deciding == "prefix":  # the longest prefix decides
                longest = max(entries["prefix"], key=len)
                assert [p for p in entries["prefix"] if len(p) == len(longest)] == [longest], code
            elif deciding == "suffix":
                assert len(set(entries["suffix"].values())) == 1, (code, entries["suffix"])
            assert errors.status_for(code) in ALLOWED_STATUSES, code

    def test_every_whole_code_in_the_table_is_a_registered_code(self):
        registered = set(i18n.error_messages())
        whole = [k for k in errors.STATUS_BY_CODE if not k.endswith(".") and not k.startswith("*")]
        assert [k for k in whole if k not in registered] == []

    @pytest.mark.parametrize(("code", "status"), [
        ("order.version_conflict", 409),      # by the code's last word
        ("order.number_taken", 409),           # the whole code
        ("flow.not_found", 404),               # the whole code beats its domain's default
        ("flow.a_new_definition_problem", 422),  # the domain's default
        ("widget.not_found", 404),             # by the last word
        ("widget.forbidden", 403),
        ("widget.refused", 400),               # unknown: a refused request
        ("no_dot_at_all", 400),
        ("internal", 500),                     # a bug
        ("validation.failed", 422),
    ])
    def test_lookup_order_and_defaults(self, code, status):
        assert errors.status_for(code) == status
        assert errors.GendanError(code).status == status

    def test_no_raise_site_decides_a_status_the_table_does_not(self):
        """A `status=` left at a raise site is only ever the table's own answer, so the table is
        the one place that decides."""
        root = Path(__file__).resolve().parents[2]
        disagree = []
        for package in ("backend", "frontend", "designer"):
            for path in sorted((root / package).rglob("*.py")):
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                    if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", ""))
                            == "GendanError" and node.args and isinstance(node.args[0], ast.Constant)):
                        continue
                    for kw in node.keywords:
                        if kw.arg == "status" and isinstance(kw.value, ast.Constant) \
                                and kw.value.value != errors.status_for(node.args[0].value):
                            disagree.append(f"{path.relative_to(root)}:{node.lineno} {node.args[0].value}")
        assert disagree == []


class TestHtmlErrors:
    def test_htmx_gets_the_toast_partial_and_a_page_the_shell(self, client, session):
        make_user(session, username="html.errors", roles=["sales"], locale="en")
        session.commit()
        login(client, "html.errors")
        toast = client.get("/orders/987654", headers={"HX-Request": "true"})
        assert toast.status_code == 404
        assert toast.headers["HX-Retarget"] == "#toast" and toast.headers["HX-Reswap"] == "innerHTML"
        assert "Order 987654 was not found." in toast.text and "<html" not in toast.text
        page = client.get("/orders/987654", headers={"Accept": "text/html"})
        assert page.status_code == 404 and "<html" in page.text and "Order 987654 was not found." in page.text
        api = client.get("/api/v1/orders/987654")
        assert api.status_code == 404 and api.json()["error"]["code"] == "order.not_found"

    def test_the_backend_alone_answers_json_even_to_htmx(self):
        from fastapi import FastAPI
        from fastapi.testclient import TestClient

        app = FastAPI()
        errors.install_error_handlers(app)

        @app.get("/thing")
        def thing():
            raise errors.GendanError("order.not_found", {"id": 7})

        resp = TestClient(app).get("/thing", headers={"HX-Request": "true", "Accept": "text/html"})
        assert resp.status_code == 404 and resp.json()["error"]["params"] == {"id": 7}
