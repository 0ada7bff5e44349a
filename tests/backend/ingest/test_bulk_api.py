"""POST /api/v1/orders/bulk: per-record results, idempotence, limits, permissions (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from backend.ingest import records
from backend.orders.models import Order
from tests.conftest import bearer, login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

URL = "/api/v1/orders/bulk"
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _rec(i: int, customer, **extra):
    return {"external_id": f"bk-{i}", "source": "erp", "customer_id": customer.id, "amount": f"{100 + i}.50",
            **extra}


def _admin(client, session):
    make_user(session, username="root", roles=["admin"])
    customer = make_customer(session)
    session.commit()
    return bearer(client, "root"), customer


def test_mixed_good_and_bad_records(client, session):
    auth, customer = _admin(client, session)
    body = [_rec(0, customer), {"external_id": "bk-1", "source": "erp", "customer_id": customer.id, "amount": "x"},
            "not an object", _rec(3, customer, stage="Bad Stage!"), {"source": "erp", "amount": "1",
                                                                      "customer_id": customer.id},
            _rec(5, customer, customer_id=None, customer_code="NEW-1", customer_name="New one", tags=["a", "b"])]
    resp = client.post(URL, json=body, headers={**auth, **EN}, params={"create_customers": "true"})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (out["created"], out["failed"], out["updated"], out["unchanged"]) == (2, 4, 0, 0)
    by = {r["index"]: r for r in out["results"]}
    assert [by[i]["outcome"] for i in range(6)] == ["created", "failed", "failed", "failed", "failed", "created"]
    assert by[1]["errors"][0]["field"] == "amount"
    assert by[2]["errors"] == [{"field": "_", "message": "The record must be a JSON object."}]
    assert by[4]["errors"][0]["field"] == "external_id"
    order = session.get(Order, by[0]["order_id"])
    assert order.external_id == "bk-0" and order.source == "erp" and str(order.amount) == "100.50"
    assert by[0]["number"] == order.number
    new = session.get(Order, by[5]["order_id"])
    assert new.tags == ["a", "b"] and new.customer_id != customer.id


def test_errors_in_the_callers_language(client, session):
    auth, customer = _admin(client, session)
    resp = client.post(URL, json=[7], headers={**auth, **ZH})
    assert resp.json()["results"][0]["errors"][0]["message"] == "记录必须是 JSON 对象。"


def test_ndjson_with_a_broken_line(client, session):
    auth, customer = _admin(client, session)
    lines = [json.dumps(_rec(0, customer)), "{broken", "", json.dumps(_rec(2, customer))]
    resp = client.post(URL, content="\n".join(lines).encode(),
                       headers={**auth, **EN, "Content-Type": "application/x-ndjson"})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert [r["outcome"] for r in out["results"]] == ["created", "failed", "created"]
    assert out["results"][1]["errors"][0]["message"].startswith("This line is not valid JSON")


def test_ndjson_long_line_fails_alone(client, session):
    auth, customer = _admin(client, session)
    long = json.dumps(_rec(1, customer, data={"note": "x" * (records.MAX_LINE_BYTES + 10)}))
    body = "\n".join([json.dumps(_rec(0, customer)), long, json.dumps(_rec(2, customer))]).encode()
    resp = client.post(URL, content=body, headers={**auth, **EN, "Content-Type": "application/x-ndjson"})
    assert [r["outcome"] for r in resp.json()["results"]] == ["created", "failed", "created"]


def test_too_many_records_refused_in_words(client, session):
    auth, customer = _admin(client, session)
    body = [{"external_id": str(i)} for i in range(records.MAX_RECORDS + 1)]
    resp = client.post(URL, json=body, headers={**auth, **EN})
    assert resp.status_code == 413
    assert resp.json()["error"]["message"].startswith("At most 10000 records per request; this one has 10001.")
    ndjson = "\n".join("{}" for _ in range(records.MAX_RECORDS + 1)).encode()
    resp = client.post(URL, content=ndjson, headers={**auth, **EN, "Content-Type": "application/x-ndjson"})
    assert resp.status_code == 413
    assert session.scalar(select(func.count()).select_from(Order)) == 0


def test_bad_bodies(client, session):
    auth, _ = _admin(client, session)
    assert client.post(URL, content=b"{not json", headers={**auth, **EN, "Content-Type": "application/json"}
                       ).status_code == 422
    resp = client.post(URL, json={"a": 1}, headers={**auth, **EN})
    assert resp.status_code == 422 and "JSON array" in resp.json()["error"]["message"]
    assert client.post(URL, content=b"x", headers={**auth, **EN, "Content-Type": "text/plain"}).status_code == 422


def test_resend_is_unchanged_and_changes_update(client, session):
    auth, customer = _admin(client, session)
    body = [_rec(i, customer, data={"k": i}, tags=["t"]) for i in range(5)]
    first = client.post(URL, json=body, headers=auth).json()
    assert first["created"] == 5
    again = client.post(URL, json=body, headers=auth).json()
    assert (again["created"], again["updated"], again["unchanged"], again["failed"]) == (0, 0, 5, 0)
    assert [r["order_id"] for r in again["results"]] == [r["order_id"] for r in first["results"]]
    body[1]["amount"] = "999.00"
    body[3]["data"] = {"k": 33}
    third = client.post(URL, json=body, headers=auth).json()
    assert [r["outcome"] for r in third["results"]] == ["unchanged", "updated", "unchanged", "updated", "unchanged"]
    session.expire_all()
    assert str(session.get(Order, third["results"][1]["order_id"]).amount) == "999.00"
    assert session.get(Order, third["results"][3]["order_id"]).data == {"k": 33}
    assert session.scalar(select(func.count()).select_from(Order)) == 5


def test_per_record_permission(client, session):
    make_user(session, username="root", roles=["admin"])
    other = make_user(session, username="other", roles=["sales"])
    make_user(session, username="rep", roles=["sales"])
    customer = make_customer(session)
    theirs = make_order(session, owner=other, customer=customer, source="erp", external_id="theirs")
    session.commit()
    auth = bearer(client, "rep")
    body = [_rec(0, customer), {"external_id": "theirs", "source": "erp", "customer_id": customer.id,
                                "amount": "5"}]
    out = client.post(URL, json=body, headers={**auth, **EN}).json()
    assert [r["outcome"] for r in out["results"]] == ["created", "failed"]
    assert out["results"][1]["errors"][0]["message"] == f"Order {theirs.id} was not found."
    session.expire_all()
    assert str(session.get(Order, theirs.id).amount) != "5.00"
    # a warehouse user may write but not create orders: each new record is refused, none is written
    make_user(session, username="store", roles=["warehouse"])
    session.commit()
    resp = client.post(URL, json=[_rec(9, customer)], headers={**bearer(client, "store"), **EN})
    assert resp.status_code == 200 and resp.json()["failed"] == 1
    assert resp.json()["results"][0]["errors"][0]["field"] == "_"
    assert session.scalar(select(func.count()).select_from(Order).where(Order.external_id == "bk-9")) == 0
    # a viewer writes nothing at all
    make_user(session, username="viewer", roles=["viewer"])
    session.commit()
    assert client.post(URL, json=[_rec(9, customer)], headers={**bearer(client, "viewer"), **EN}).status_code == 403


def test_api_key_auth_and_session_writer(client, session):
    root = make_user(session, username="root", roles=["admin"])
    customer = make_customer(session)
    session.commit()
    auth = bearer(client, "root")
    key = client.post("/api/v1/api-keys", json={"name": "erp", "scope": "write", "user_id": root.id},
                      headers=auth).json()["key"]
    read = client.post("/api/v1/api-keys", json={"name": "ro", "scope": "read"}, headers=auth).json()["key"]
    assert client.post(URL, json=[_rec(0, customer)], headers={"X-API-Key": read, **EN}).status_code == 403
    resp = client.post(URL, json=[_rec(0, customer)], headers={"X-API-Key": key})
    assert resp.status_code == 200 and resp.json()["created"] == 1
    assert client.post(URL, json=[_rec(1, customer)], headers=EN).status_code == 401
    login(client, "root")
    assert client.post(URL, json=[_rec(1, customer)]).json()["created"] == 1


def test_chunk_the_set_based_path_declines_goes_record_by_record(client, session):
    """A number in the automatic series sends the chunk through the order services one record at a
    time: the same outcomes, and the bad record still fails alone."""
    auth, customer = _admin(client, session)
    body = [_rec(0, customer, number="SO20261207-9001"), _rec(1, customer, customer_id=None, customer_code="NOPE"),
            _rec(2, customer, status="completed", tags=["x"])]
    out = client.post(URL, json=body, headers={**auth, **EN}).json()
    assert [r["outcome"] for r in out["results"]] == ["created", "failed", "created"]
    assert out["results"][0]["number"] == "SO20261207-9001"
    assert out["results"][1]["errors"][0]["field"] == "customer"
    assert session.get(Order, out["results"][2]["order_id"]).status == "completed"
    again = client.post(URL, json=body, headers={**auth, **EN}).json()
    assert [r["outcome"] for r in again["results"]] == ["unchanged", "failed", "unchanged"]
    body[2]["amount"] = "1.00"
    third = client.post(URL, json=body, headers={**auth, **EN}).json()
    assert [r["outcome"] for r in third["results"]] == ["unchanged", "failed", "updated"]


def test_body_over_the_upload_cap_is_refused_in_words(settings, connection, session):
    from fastapi.testclient import TestClient

    from backend.app import create_app

    app = create_app(settings.model_copy(update={"max_upload_bytes": 5_000, "max_body_bytes": 1_000}),
                     engine=connection, start_worker=False)
    with TestClient(app, base_url="http://testserver") as client:
        auth, customer = _admin(client, session)
        small = [_rec(i, customer) for i in range(20)]  # ~2 KB: over the body cap, under the upload cap
        assert client.post(URL, json=small, headers=auth).json()["created"] == 20
        resp = client.post(URL, json=[_rec(i, customer) for i in range(100)], headers={**auth, **EN})
        assert resp.status_code == 413 and resp.json()["error"]["message"]


def test_a_record_refused_mid_chunk_fails_alone_in_the_callers_language_and_leaves_no_order(client, session):
    auth, customer = _admin(client, session)
    body = [_rec(i, customer, planned_delivery="2027-01-10") for i in range(5)]
    body[2] = _rec(2, customer, created="2026-12-01 09:00", planned_delivery="2026-11-01")  # before creation
    resp = client.post(URL, json=body, headers={**auth, **ZH})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (out["created"], out["failed"]) == (4, 1)
    bad = out["results"][2]
    assert (bad["outcome"], bad["order_id"], bad["errors"][0]["field"]) == ("failed", None, "planned_delivery")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in bad["errors"][0]["message"])  # said in Chinese
    refs = set(session.exec(select(Order.external_id).where(Order.source == "erp")).scalars())
    assert refs == {"bk-0", "bk-1", "bk-3", "bk-4"}
    for result in out["results"]:
        if result["outcome"] == "created":
            assert session.get(Order, result["order_id"]).external_id == result["external_id"]


def test_counts_of_a_resent_chunk_with_some_records_changed(client, session):
    auth, customer = _admin(client, session)
    body = [_rec(i, customer) for i in range(6)]
    assert client.post(URL, json=body, headers=auth).json()["created"] == 6
    body[1]["amount"], body[4]["stage"] = "999.00", "production"
    out = client.post(URL, json=body, headers=auth).json()
    assert (out["created"], out["updated"], out["unchanged"], out["failed"]) == (0, 2, 4, 0)
    assert [r["outcome"] for r in out["results"]] == ["unchanged", "updated", "unchanged", "unchanged", "updated",
                                                     "unchanged"]
    assert session.scalar(select(func.count()).select_from(Order).where(Order.source == "erp")) == 6
    changed = session.get(Order, out["results"][1]["order_id"])
    session.refresh(changed)
    assert (str(changed.amount), changed.version) == ("999.00", 2)


def test_a_record_without_currency_takes_the_installations_default(client, session):
    from datetime import UTC, datetime

    from backend.auth.service import load_actor
    from backend.installation import service as installation
    from backend.installation.schemas import CalendarIn

    auth, customer = _admin(client, session)
    root = load_actor(session, _root_id(session))
    installation.save_installation(session, actor=root, now=datetime(2026, 12, 7, tzinfo=UTC), data=CalendarIn(
        timezone="Asia/Shanghai", working_weekdays=[0, 1, 2, 3, 4], periods=["09:00-12:00", "13:00-18:00"],
        holidays=[], extra_working_days=[], default_currency="EUR"))
    out = client.post(URL, json=[_rec(0, customer), _rec(1, customer, currency="USD")], headers=auth).json()
    assert out["created"] == 2, out
    assert [session.get(Order, r["order_id"]).currency for r in out["results"]] == ["EUR", "USD"]


def _root_id(session):
    from backend.people.models import User

    return session.exec(select(User.id).where(User.username == "root")).scalar_one()


def test_bulk5_chunks_parsed_ahead_answer_as_one_chunk(client, session, monkeypatch):
    """Chunks after the first are parsed by the parser thread while the one before is written: the
    answer (results, errors, an unknown customer id in a later chunk) and the orders are those of
    the same body in one chunk (each run with its own source and new customer)."""
    auth, customer = _admin(client, session)

    def body(source: str) -> list:
        def rec(i: int, **extra) -> dict:
            return {**_rec(i, customer, **extra), "source": source}
        return [rec(0), {"external_id": "bk-1", "source": source, "customer_id": customer.id, "amount": "x"},
                "not an object", rec(3, customer_id=999_999), rec(4, customer_id=True),
                rec(5, customer_id=None, customer_code=f"{source}-5", customer_name=f"New {source}"),
                rec(6, customer_id=None, customer_code=f"{source}-5", customer_name=f"New {source}", stage="shipping"),
                rec(7, status="cancelled"), rec(0, amount="7.00")]

    def answer_and_orders(source: str) -> tuple[dict, list]:
        resp = client.post(URL, json=body(source), headers={**auth, **EN}, params={"create_customers": "true"})
        assert resp.status_code == 200, resp.text
        out = resp.json()
        for r in out["results"]:
            r.pop("order_id"), r.pop("number")
        orders = sorted((o.external_id, str(o.amount), o.stage, o.status, o.customer_id == customer.id)
                        for o in session.exec(select(Order).where(Order.source == source)).scalars())
        return out, orders

    whole = answer_and_orders("whole")
    monkeypatch.setattr(records, "CHUNK", 2)
    assert answer_and_orders("chunked") == whole
    out, orders = whole
    assert (out["created"], out["updated"], out["failed"]) == (4, 1, 4)
    assert out["results"][3]["outcome"] == "failed" and "customer_id" in json.dumps(out["results"][3])
    assert ("bk-0", "7.00", "draft", "open", True) in orders


def test_a_customer_id_past_the_id_range_fails_its_record_alone(client, session):
    """PostgreSQL's id columns are 32-bit: an id past them names no customer. It was bound into the
    one look-up of every record's customer and failed the whole request (422 value out of range);
    then such ids up to 2^63 were "not found" and larger ones "not a whole number". One bound now
    (backend/ids.py): each such record fails alone with `field.id_out_of_range`, in the caller's
    language; the largest id that fits is looked up as usual."""
    auth, customer = _admin(client, session)
    body = [_rec(0, customer), _rec(1, customer, customer_id=2**31 + 5), _rec(2, customer, customer_id=2**62),
            _rec(3, customer, customer_id=2**63), _rec(4, customer, customer_id=2**70), _rec(5, customer, customer_id=0),
            _rec(6, customer, customer_id=2**31 - 1)]
    resp = client.post(URL, json=body, headers={**auth, **ZH})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert [r["outcome"] for r in out["results"]] == ["created"] + ["failed"] * 6
    for result in out["results"][1:6]:
        error = result["errors"][0]
        assert error["field"] == "customer_id", error
        assert "编号" in error["message"] and "2147483647" in error["message"]
    assert "客户" in out["results"][6]["errors"][0]["message"]  # customer.not_found
    assert session.scalar(select(func.count()).select_from(Order).where(Order.source == "erp")) == 1
