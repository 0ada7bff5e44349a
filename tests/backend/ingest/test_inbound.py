"""Signed inbound webhooks: accepted once, refused with a reason, logged either way."""

from __future__ import annotations

import json
import socket
import threading
import time
from decimal import Decimal

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from backend.app import create_app
from backend.clock import utcnow
from backend.db import make_engine, new_session
from backend.ingest.inbound import sign
from backend.ingest.models import InboundDelivery
from backend.orders.models import Order
from backend.settings import Settings
from tests.conftest import login, make_test_database
from tests.factories.orders import make_customer
from tests.factories.people import make_user


def _post(client, source: str, secret: str, payload, *, ts: int | str | None = None, signature: str | None = None,
          delivery: str | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ts = int(utcnow().timestamp()) if ts is None else ts
    headers = {"X-Gendan-Timestamp": str(ts), "X-Gendan-Signature": signature or sign(secret, ts, body),
               "Content-Type": "application/json"}
    if delivery:
        headers["X-Gendan-Delivery"] = delivery
    # raw header bytes, as a hostile sender writes them (the server reads headers as latin-1)
    headers = {k: _raw(v) for k, v in headers.items()}
    return client.post(f"/api/v1/inbound/{source}", content=body, headers=headers)


def _raw(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


@pytest.fixture
def source(client, session):
    admin = make_user(session, roles=["admin"])
    customer = make_customer(session, code="SHOP-1")
    session.commit()
    login(client, admin.username)
    resp = client.post("/api/v1/inbound-sources", json={"key": "shop", "name": "Web shop"})
    assert resp.status_code == 201, resp.text
    return {"key": "shop", "secret": resp.json()["secret"], "customer": customer}


ORDER = {"external_id": "W-1001", "customer_code": "SHOP-1", "amount": "88.50", "planned_delivery": "2026-12-20"}


class TestReceive:
    def test_first_delivery_creates_the_same_again_changes_nothing_a_new_value_updates(self, client, session,
                                                                                        source):
        ts = int(utcnow().timestamp())
        first = _post(client, "shop", source["secret"], ORDER, ts=ts - 2)
        assert first.status_code == 201, first.text
        assert first.json()["outcome"] == "created"
        again = _post(client, "shop", source["secret"], ORDER, ts=ts - 1)  # sent again, signed anew
        assert (again.status_code, again.json()["outcome"], again.json()["order_id"]) == (
            200, "unchanged", first.json()["order_id"])
        changed = _post(client, "shop", source["secret"], {**ORDER, "amount": "90", "status": "cancelled"}, ts=ts)
        assert changed.json()["outcome"] == "updated"
        session.expire_all()
        order = session.get(Order, first.json()["order_id"])
        assert (order.amount, order.status, order.source, order.version) == (Decimal("90.00"), "cancelled", "shop", 2)
        assert order.customer_id == source["customer"].id

    @pytest.mark.parametrize("case, code, status", [
        ("bad_signature", "inbound.signature_invalid", 401),
        ("stale", "inbound.timestamp_stale", 401),
        ("future", "inbound.timestamp_stale", 401),
        ("no_headers", "inbound.signature_missing", 401),
        ("not_json", "inbound.body_invalid", 400),
        ("not_object", "inbound.body_invalid", 400),
        ("nul", "inbound.body_invalid", 400),
        ("bad_amount", "inbound.payload_invalid", 422),
        ("unknown_customer", "inbound.customer_unknown", 422),
        ("unknown_source", "inbound.source_unknown", 404),
    ])
    def test_refused_deliveries_change_nothing_and_are_logged(self, client, session, source, case, code, status):
        secret, now = source["secret"], int(utcnow().timestamp())
        kwargs: dict = {}
        payload: object = ORDER
        key = "shop"
        if case == "bad_signature":
            kwargs["signature"] = sign("whsec_wrong", now, json.dumps(ORDER).encode())
        elif case == "stale":
            kwargs["ts"] = now - 301
        elif case == "future":
            kwargs["ts"] = now + 400
        elif case == "not_json":
            payload = b"{not json"
        elif case == "not_object":
            payload = b"[1, 2]"
        elif case == "nul":
            payload = {**ORDER, "customer_code": "A\x00B"}
        elif case == "bad_amount":
            payload = {**ORDER, "amount": "-1"}
        elif case == "unknown_customer":
            payload = {**ORDER, "customer_code": "NOBODY"}
        elif case == "unknown_source":
            key = "nope"
        before = session.exec(select(func.count()).select_from(Order)).scalar_one()
        if case == "no_headers":
            resp = client.post("/api/v1/inbound/shop", json=ORDER)
        else:
            resp = _post(client, key, secret, payload, **kwargs)
        assert resp.status_code == status, resp.text
        assert resp.json()["error"]["code"] == code
        session.expire_all()
        assert session.exec(select(func.count()).select_from(Order)).scalar_one() == before
        log = client.get("/api/v1/inbound-deliveries").json()
        assert (log[0]["is_accepted"], log[0]["outcome"], log[0]["code"], log[0]["source_key"]) == (
            False, "rejected", code, key)

    @pytest.mark.parametrize("value", [2**31, 2**63, 2**70])
    def test_a_customer_id_past_the_id_range_refuses_the_delivery_in_words(self, client, session, source, value):
        """A delivery naming its customer by an id no row can have (backend/ids.py) is refused alone,
        422 in the sender's language, the same on both databases (PostgreSQL refused the statement)."""
        payload = {k: v for k, v in ORDER.items() if k != "customer_code"} | {"customer_id": value}
        client.headers["Accept-Language"] = "zh-CN"
        resp = _post(client, "shop", source["secret"], payload)
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]
        assert error["code"] == "inbound.payload_invalid"
        assert error["fields"]["customer_id"]["code"] == "field.id_out_of_range"
        assert "2147483647" in error["fields"]["customer_id"]["message"] and "编号" in error["fields"]["customer_id"]["message"]
        ok = _post(client, "shop", source["secret"], ORDER)  # the next delivery goes through
        assert ok.status_code == 201, ok.text

    def test_the_secret_is_shown_once_and_errors_are_translated(self, client, source):
        listed = client.get("/api/v1/inbound-sources").json()
        assert listed[0]["key"] == "shop" and "secret" not in listed[0]
        resp = _post(client, "shop", source["secret"], ORDER, ts=1)
        client.headers["Accept-Language"] = "en"
        en = _post(client, "shop", source["secret"], ORDER, ts=1)
        assert "时间戳" in resp.json()["error"]["message"] and "timestamp" in en.json()["error"]["message"]

    def test_only_admins_see_the_log(self, client, session, source):
        sales = make_user(session, roles=["sales"])
        session.commit()
        client.cookies.clear()
        client.headers.pop("X-CSRF-Token")
        login(client, sales.username)
        assert client.get("/api/v1/inbound-deliveries").status_code == 403
        assert client.post("/api/v1/inbound-sources", json={"key": "x", "name": "x"}).status_code == 403


class TestReplay:
    """Issue 18: an older signed delivery replayed after a newer one set the amount back."""

    def _amount(self, session, order_id):
        session.expire_all()
        return session.get(Order, order_id).amount

    def test_an_older_delivery_replayed_after_a_newer_one_changes_nothing(self, client, session, source):
        ts = int(utcnow().timestamp())
        old = _post(client, "shop", source["secret"], ORDER, ts=ts - 10)
        assert old.status_code == 201, old.text
        newer = _post(client, "shop", source["secret"], {**ORDER, "amount": "120"}, ts=ts - 5)
        assert newer.json()["outcome"] == "updated"
        replay = _post(client, "shop", source["secret"], ORDER, ts=ts - 10)  # the captured first one
        assert replay.status_code == 409 and replay.json()["error"]["code"] == "inbound.duplicate"
        # the same older values signed at an older moment than the last update: out of order
        older = _post(client, "shop", source["secret"], {**ORDER, "amount": "99"}, ts=ts - 7)
        assert older.status_code == 409 and older.json()["error"]["code"] == "inbound.out_of_order"
        assert self._amount(session, old.json()["order_id"]) == Decimal("120.00")
        log = client.get("/api/v1/inbound-deliveries").json()
        assert [(d["outcome"], d["code"]) for d in log[:2]] == [("rejected", "inbound.out_of_order"),
                                                                ("rejected", "inbound.duplicate")]

    def test_a_delivery_id_is_applied_once_whatever_its_timestamp(self, client, session, source):
        ts = int(utcnow().timestamp())
        first = _post(client, "shop", source["secret"], ORDER, ts=ts - 3, delivery="evt-1")
        assert first.status_code == 201
        again = _post(client, "shop", source["secret"], {**ORDER, "amount": "1"}, ts=ts, delivery="evt-1")
        assert again.status_code == 409 and again.json()["error"]["code"] == "inbound.duplicate"
        other = _post(client, "shop", source["secret"], {**ORDER, "amount": "2"}, ts=ts, delivery="evt-2")
        assert other.json()["outcome"] == "updated"
        assert self._amount(session, first.json()["order_id"]) == Decimal("2.00")

    def test_a_timestamp_from_the_future_is_accepted_only_within_a_minute(self, client, session, source):
        ts = int(utcnow().timestamp())
        ahead = _post(client, "shop", source["secret"], ORDER, ts=ts + 299)
        assert ahead.status_code == 401 and ahead.json()["error"]["code"] == "inbound.timestamp_stale"
        assert ahead.json()["error"]["params"]["window"] == 60
        assert _post(client, "shop", source["secret"], ORDER, ts=ts + 30).status_code == 201

    @pytest.mark.parametrize("stamp", ["²¹", "١٧٠٠٠٠٠٠٠٠", "12a", " 1"])
    def test_a_timestamp_in_other_digits_is_refused_and_logged(self, session, source, stamp):
        """Called below HTTP: the test client re-encodes header bytes, a raw socket sends them as
        they are (latin-1), and str.isdigit() is true for "²¹" while int() refuses it."""
        from backend.errors import GendanError
        from backend.ingest import inbound

        body = json.dumps(ORDER).encode()
        with pytest.raises(GendanError) as err:
            inbound.receive(session, source_key="shop", body=body, signature=sign(source["secret"], stamp, body),
                            timestamp=stamp, now=utcnow())
        assert err.value.code == "inbound.timestamp_invalid" and err.value.status == 401
        logged = session.exec(select(InboundDelivery).order_by(InboundDelivery.id.desc())).scalars().first()
        assert (logged.outcome, logged.code) == ("rejected", "inbound.timestamp_invalid")

    def test_a_non_ascii_signature_is_refused_not_a_server_error(self, client, source):
        resp = _post(client, "shop", source["secret"], ORDER, signature="sha256=é")
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "inbound.signature_invalid"

    def test_strangers_posting_to_unknown_keys_are_limited_and_their_bodies_not_kept(self, client, session, source):
        codes = [_post(client, f"nope{i}", "x", ORDER).status_code for i in range(15)]
        assert codes == [404] * 10 + [429] * 5
        assert _post(client, "nope", "x", ORDER).json()["error"]["code"] == "inbound.rate_limited"
        rows = session.exec(select(InboundDelivery).where(InboundDelivery.code == "inbound.source_unknown")).scalars().all()
        assert len(rows) == 10 and {r.body_sha256 for r in rows} == {""}
        # the limit is for unknown keys: the real source still gets through
        assert _post(client, "shop", source["secret"], ORDER).status_code == 201


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestRealHttp:
    def test_signed_delivery_over_a_real_socket(self, tmp_path):
        url = make_test_database("sqlite", tmp_path)
        engine = make_engine(url)
        with new_session(engine) as session:
            admin = make_user(session, roles=["admin"], username="inbound-admin")
            make_customer(session, code="REAL-1")
            session.commit()
            from backend.auth.service import load_actor
            from backend.ingest import inbound
            from backend.ingest.schemas import InboundSourceCreate

            created = inbound.create_source(session, actor=load_actor(session, admin.id),
                                            payload=InboundSourceCreate(key="erp", name="ERP"), now=utcnow())
        app = create_app(Settings(DATABASE_URL=url, secret_key="t", run_worker=False), engine=engine,
                         start_worker=False)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 120  # generous: a loaded machine is slow, the event is `started`
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.started, "the webhook server did not start"
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
                body = json.dumps({**ORDER, "customer_code": "REAL-1"}).encode()
                ts = int(utcnow().timestamp())
                ok = http.post("/api/v1/inbound/erp", content=body, headers={
                    "X-Gendan-Timestamp": str(ts), "X-Gendan-Signature": sign(created.secret, ts, body)})
                replay = http.post("/api/v1/inbound/erp", content=body, headers={
                    "X-Gendan-Timestamp": str(ts), "X-Gendan-Signature": sign(created.secret, ts, body)})
                tampered = http.post("/api/v1/inbound/erp", content=body.replace(b"88.50", b"1.00"), headers={
                    "X-Gendan-Timestamp": str(ts), "X-Gendan-Signature": sign(created.secret, ts, body)})
            assert ok.status_code == 201, ok.text
            assert replay.status_code == 409 and replay.json()["error"]["code"] == "inbound.duplicate"
            assert tampered.status_code == 401 and tampered.json()["error"]["code"] == "inbound.signature_invalid"
            with new_session(engine) as session:
                order = session.exec(select(Order).where(Order.source == "erp")).scalars().one()
                assert order.amount == Decimal("88.50")
                outcomes = session.exec(select(InboundDelivery.outcome).order_by(InboundDelivery.id)).scalars().all()
                assert outcomes == ["created", "rejected", "rejected"]
        finally:
            server.should_exit = True
            thread.join(10)
            engine.dispose()
