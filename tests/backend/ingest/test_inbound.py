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


def _post(client, source: str, secret: str, payload, *, ts: int | None = None, signature: str | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ts = int(utcnow().timestamp()) if ts is None else ts
    headers = {"X-Gendan-Timestamp": str(ts), "X-Gendan-Signature": signature or sign(secret, ts, body),
               "Content-Type": "application/json"}
    return client.post(f"/api/v1/inbound/{source}", content=body, headers=headers)


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
        first = _post(client, "shop", source["secret"], ORDER)
        assert first.status_code == 201, first.text
        assert first.json()["outcome"] == "created"
        again = _post(client, "shop", source["secret"], ORDER)
        assert (again.status_code, again.json()["outcome"], again.json()["order_id"]) == (
            200, "unchanged", first.json()["order_id"])
        changed = _post(client, "shop", source["secret"], {**ORDER, "amount": "90", "status": "cancelled"})
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
            assert replay.json()["outcome"] == "unchanged"
            assert tampered.status_code == 401 and tampered.json()["error"]["code"] == "inbound.signature_invalid"
            with new_session(engine) as session:
                order = session.exec(select(Order).where(Order.source == "erp")).scalars().one()
                assert order.amount == Decimal("88.50")
                outcomes = session.exec(select(InboundDelivery.outcome).order_by(InboundDelivery.id)).scalars().all()
                assert outcomes == ["created", "unchanged", "rejected"]
        finally:
            server.should_exit = True
            thread.join(10)
            engine.dispose()
