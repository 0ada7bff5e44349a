"""Inbound webhooks in the sender's own format (issue 13): a records path and a mapping from source
paths to order fields, signed in the sender's scheme (DingTalk, GitHub-style, static token)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from decimal import Decimal

import httpx
import uvicorn
from sqlalchemy import select

from backend.app import create_app
from backend.clock import utcnow
from backend.db import make_engine, new_session
from backend.ingest.models import InboundDelivery
from backend.orders.models import Order
from backend.settings import Settings
from tests.backend.ingest.test_inbound import _free_port
from tests.conftest import login, make_test_database
from tests.factories.orders import make_customer
from tests.factories.people import make_user

SECRET = "SECwhf-sender-own-secret-0001"
MAPPING = {"columns": {"external_id": "id", "customer_code": "buyer.code", "amount": "total",
                       "planned_delivery": "due", "stage": "state"},
           "stage_map": {"已签约": "approval"}, "status_map": {"已取消": "cancelled"}, "timezone": "Asia/Shanghai"}
GITHUB = {"scheme": "hmac_sha256_hex", "header": "X-Hub-Signature-256", "prefix": "sha256="}
BODY = {"data": {"orders": [
    {"id": "WHF-1", "buyer": {"code": "WHF-C1"}, "total": "12.50", "due": "2026-12-20", "state": "已签约"},
    {"id": "WHF-2", "buyer": {"code": "WHF-C1"}, "total": 30, "due": "not a date"},
]}}


def _configure(client, session, signature, *, key="whf-shop"):
    admin = make_user(session, roles=["admin"])
    make_customer(session, code="WHF-C1")
    session.commit()
    login(client, admin.username)
    created = client.post("/api/v1/inbound-sources", json={"key": key, "name": "WHF shop"})
    assert created.status_code == 201, created.text
    resp = client.put(f"/api/v1/inbound-sources/{created.json()['id']}/format", json={
        "body_format": "mapped", "records_path": "data.orders", "mapping": MAPPING, "signature": signature,
        "secret": SECRET})
    assert resp.status_code == 200, resp.text
    return created.json()["id"]


def _github_headers(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def _dingtalk_query(ms: int | None = None) -> dict[str, str]:
    ms = int(utcnow().timestamp() * 1000) if ms is None else ms
    sign = base64.b64encode(hmac.new(SECRET.encode(), f"{ms}\n{SECRET}".encode(), hashlib.sha256).digest())
    return {"timestamp": str(ms), "sign": sign.decode()}


def test_github_signed_mapped_body_creates_orders_a_bad_record_fails_alone_and_a_resend_is_unchanged(
        client, session):
    _configure(client, session, GITHUB)
    body = json.dumps(BODY, ensure_ascii=False).encode()
    first = client.post("/api/v1/inbound/whf-shop", content=body, headers=_github_headers(body))
    assert first.status_code == 201, first.text
    records = first.json()["records"]
    assert [r["outcome"] for r in records] == ["created", "failed"]
    assert records[1]["errors"][0]["field"] == "planned_delivery" and records[1]["errors"][0]["message"]
    order = session.get(Order, records[0]["order_id"])
    assert (order.source, order.external_id, order.amount) == ("whf-shop", "WHF-1", Decimal("12.50"))
    assert order.stage == "approval"
    assert session.exec(select(Order).where(Order.external_id == "WHF-2")).scalars().first() is None

    again = client.post("/api/v1/inbound/whf-shop", content=body, headers=_github_headers(body))
    assert again.status_code == 200, again.text
    assert [r["outcome"] for r in again.json()["records"]] == ["unchanged", "failed"]

    cancelled = json.dumps({"data": {"orders": {**BODY["data"]["orders"][0], "state": "已取消"}}},
                           ensure_ascii=False).encode()
    resp = client.post("/api/v1/inbound/whf-shop", content=cancelled, headers=_github_headers(cancelled))
    assert resp.json()["records"][0]["outcome"] == "updated", resp.text
    session.expire_all()
    assert session.get(Order, records[0]["order_id"]).status == "cancelled"


def test_wrong_signature_and_missing_header_are_refused_in_words(client, session):
    _configure(client, session, GITHUB)
    body = json.dumps(BODY).encode()
    bad = client.post("/api/v1/inbound/whf-shop", content=body,
                      headers={**_github_headers(b"other"), "Accept-Language": "zh-CN"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "inbound.signature_invalid"
    assert bad.json()["error"]["message"] == "签名与请求体不符。"
    missing = client.post("/api/v1/inbound/whf-shop", content=body, headers={"Accept-Language": "en"})
    assert missing.status_code == 401 and "X-Hub-Signature-256" in missing.json()["error"]["message"]
    assert session.exec(select(Order).where(Order.source == "whf-shop")).scalars().first() is None


def test_dingtalk_signed_body_creates_and_an_expired_timestamp_is_refused(client, session):
    _configure(client, session, {"scheme": "dingtalk", "tolerance": 3600}, key="whf-ding")
    body = json.dumps({"data": {"orders": [BODY["data"]["orders"][0]]}}).encode()
    ok = client.post("/api/v1/inbound/whf-ding", content=body, params=_dingtalk_query())
    assert ok.status_code == 201, ok.text
    assert ok.json()["records"][0]["outcome"] == "created"
    old = int(utcnow().timestamp() * 1000) - 2 * 3600 * 1000
    stale = client.post("/api/v1/inbound/whf-ding", content=body, params=_dingtalk_query(old))
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "inbound.timestamp_stale"
    assert "7200" in stale.json()["error"]["message"]
    forged = client.post("/api/v1/inbound/whf-ding", content=body,
                         params={**_dingtalk_query(), "sign": "AAAA"})
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "inbound.signature_invalid"


def test_timestamp_header_signs_timestamp_and_body(client, session):
    _configure(client, session, {"scheme": "hmac_sha256_base64", "header": "X-Sig", "timestamp_header": "X-Ts",
                                 "tolerance": 60}, key="whf-ts")
    body = json.dumps({"data": {"orders": [BODY["data"]["orders"][0]]}}).encode()

    def headers(ts: int) -> dict[str, str]:
        mac = hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).digest()
        return {"X-Ts": str(ts), "X-Sig": base64.b64encode(mac).decode()}

    now = int(utcnow().timestamp())
    assert client.post("/api/v1/inbound/whf-ts", content=body, headers=headers(now)).status_code == 201
    stale = client.post("/api/v1/inbound/whf-ts", content=body, headers=headers(now - 600))
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "inbound.timestamp_stale"


def test_malformed_bodies_answer_in_words_never_500(client, session):
    _configure(client, session, {"scheme": "static_token", "header": "X-Token"}, key="whf-tok")
    token = {"X-Token": SECRET}
    for body, code in ((b"{not json", "inbound.body_invalid"), (b"\"text\"", "inbound.body_invalid"),
                       (b"{\"data\": {}}", "inbound.no_records"),
                       (json.dumps({"data": {"orders": [{"id": str(i)} for i in range(501)]}}).encode(),
                        "inbound.too_many_records"),
                       (b"[" * 5000 + b"]" * 5000, "inbound.body_invalid")):
        resp = client.post("/api/v1/inbound/whf-tok", content=body, headers=token)
        assert 400 <= resp.status_code < 500 and resp.json()["error"]["code"] == code, (body[:30], resp.text)
    not_object = client.post("/api/v1/inbound/whf-tok", content=json.dumps({"data": {"orders": [5]}}).encode(),
                             headers=token)
    assert not_object.status_code == 200 and not_object.json()["records"][0]["outcome"] == "failed"
    wrong = client.post("/api/v1/inbound/whf-tok", content=b"{}", headers={"X-Token": "nope"})
    assert wrong.status_code == 401


def test_preview_shows_orders_and_errors_and_stores_nothing(client, session):
    source_id = _configure(client, session, GITHUB)
    resp = client.post(f"/api/v1/inbound-sources/{source_id}/preview",
                       json={"body": json.dumps(BODY, ensure_ascii=False)}, headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 200, resp.text
    first, second = resp.json()
    assert first["outcome"] == "valid" and first["values"]["external_id"] == "WHF-1"
    assert second["outcome"] == "failed" and second["errors"][0]["path"] == "due"
    assert session.exec(select(Order).where(Order.source == "whf-shop")).scalars().first() is None
    bad = client.post(f"/api/v1/inbound-sources/{source_id}/preview", json={"body": "{oops"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "inbound.body_invalid"
    # unsaved settings can be tried before saving them
    other = client.post(f"/api/v1/inbound-sources/{source_id}/preview", json={
        "body": json.dumps([{"ref": "WHF-9", "buyer": {"code": "WHF-C1"}}]),
        "settings": {"body_format": "mapped", "mapping": {"columns": {"external_id": "ref",
                                                                      "customer_code": "buyer.code"}}}})
    assert [r["external_id"] for r in other.json()] == ["WHF-9"], other.text
    for zone in ("Mars/Olympus", "../../etc/passwd", "/abs"):
        bad_zone = client.post(f"/api/v1/inbound-sources/{source_id}/preview", json={
            "body": "[]", "settings": {"body_format": "mapped", "mapping": {
                "columns": {"external_id": "ref"}, "timezone": zone}}})
        assert bad_zone.status_code == 422 and bad_zone.json()["error"]["code"] == "inbound.mapping_invalid"


def test_gendan_sources_are_unchanged_and_a_mapping_needs_an_external_id(client, session):
    source_id = _configure(client, session, GITHUB)
    resp = client.put(f"/api/v1/inbound-sources/{source_id}/format", json={
        "body_format": "mapped", "mapping": {"columns": {"amount": "total"}}})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "inbound.mapping_invalid"
    listed = client.get("/api/v1/inbound-sources").json()[0]
    assert listed["body_format"] == "mapped" and "secret" not in listed


def test_github_signed_mapped_body_over_a_real_socket(tmp_path):
    url = make_test_database("sqlite", tmp_path)
    engine = make_engine(url)
    with new_session(engine) as session:
        admin = make_user(session, roles=["admin"], username="whf-admin")
        make_customer(session, code="WHF-C1")
        session.commit()
        from backend.auth.service import load_actor
        from backend.ingest import inbound
        from backend.ingest.schemas import InboundFormat, InboundSourceCreate

        actor = load_actor(session, admin.id)
        created = inbound.create_source(session, actor=actor, payload=InboundSourceCreate(key="whf-gh", name="GH"),
                                        now=utcnow())
        inbound.set_format(session, actor=actor, source_id=created.id, payload=InboundFormat.model_validate({
            "body_format": "mapped", "records_path": "data.orders", "mapping": MAPPING, "signature": GITHUB,
            "secret": SECRET}))
    app = create_app(Settings(DATABASE_URL=url, secret_key="t", run_worker=False), engine=engine, start_worker=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the webhook server did not start"
        body = json.dumps(BODY, ensure_ascii=False).encode()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            ok = http.post("/api/v1/inbound/whf-gh", content=body, headers=_github_headers(body))
            again = http.post("/api/v1/inbound/whf-gh", content=body, headers=_github_headers(body))
            forged = http.post("/api/v1/inbound/whf-gh", content=body.replace(b"12.50", b"1.00"),
                               headers=_github_headers(body))
        assert ok.status_code == 201, ok.text
        assert [r["outcome"] for r in ok.json()["records"]] == ["created", "failed"]
        assert [r["outcome"] for r in again.json()["records"]] == ["unchanged", "failed"]
        assert forged.status_code == 401 and forged.json()["error"]["code"] == "inbound.signature_invalid"
        with new_session(engine) as session:
            order = session.exec(select(Order).where(Order.source == "whf-gh")).scalars().one()
            assert order.amount == Decimal("12.50")
            outcomes = session.exec(select(InboundDelivery.outcome).order_by(InboundDelivery.id)).scalars().all()
            assert outcomes == ["records", "records", "rejected"]
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


def test_a_secret_typed_before_testing_the_sample_is_kept_and_blank_keeps_the_saved_one(client, session):
    """The format page: "Test the sample" re-renders the page with the secret field empty; a new
    secret typed before it must still be the one saved (it rides the page sealed, never in clear),
    and a blank field with nothing typed keeps the saved secret. SQLite and PostgreSQL."""
    from backend.ingest.models import InboundSource

    source_id = _configure(client, session, GITHUB, key="whf-keep")
    page = f"/admin/inbound/{source_id}/format"
    form = {"body_format": "mapped", "records_path": "data.orders", "scheme": "hmac_sha256_hex",
            "header": "X-Hub-Signature-256", "prefix": "sha256=", "tolerance": "300",
            "value_map": "已签约 = approval\n已取消 = cancelled", "sample": json.dumps(BODY, ensure_ascii=False)}
    for i, (target, path) in enumerate(MAPPING["columns"].items()):
        form[f"path_{i}"], form[f"target_{i}"] = path, target

    def saved_secret() -> str:
        session.expire_all()
        return session.get(InboundSource, source_id).secret

    shown = client.get(page, headers={"Accept-Language": "en"})
    assert "A secret is saved" in shown.text and SECRET not in shown.text
    # a blank field through a preview and a save keeps the saved secret
    preview = client.post(page, data={**form, "secret": "", "action": "preview"})
    assert preview.status_code == 200 and "WHF-1" in preview.text and 'name="secret_pending"' not in preview.text
    assert client.post(page, data={**form, "secret": "", "action": "save"}).status_code == 200
    assert saved_secret() == SECRET

    new = "SECwhf-typed-before-preview-0002"
    preview = client.post(page, data={**form, "secret": new, "action": "preview"}, headers={"Accept-Language": "en"})
    assert preview.status_code == 200 and "WHF-1" in preview.text
    assert new not in preview.text  # never echoed in clear
    assert 'value=""' in preview.text.split('name="secret"')[1][:120]  # the field itself is empty
    assert "A new secret is entered, not saved yet" in preview.text
    pending = re.search(r'name="secret_pending" value="([^"]+)"', preview.text).group(1)
    assert saved_secret() == SECRET  # a preview stores nothing
    # saving with the field now blank saves the secret typed before the preview
    saved = client.post(page, data={**form, "secret": "", "secret_pending": pending, "action": "save"})
    assert saved.status_code == 200 and 'id="inbound-secret-saved"' in saved.text
    assert saved_secret() == new
    body = json.dumps(BODY, ensure_ascii=False).encode()
    digest = hmac.new(new.encode(), body, hashlib.sha256).hexdigest()
    signed = client.post("/api/v1/inbound/whf-keep", content=body, headers={
        "X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"})
    assert signed.status_code == 201, signed.text  # the sender's new secret is the one that verifies
    # a forged sealed field is ignored (blank keeps what is saved), and a typed secret wins over a sealed one
    client.post(page, data={**form, "secret": "", "secret_pending": "forged", "action": "save"})
    assert saved_secret() == new
    client.post(page, data={**form, "secret": "SECwhf-third-0003", "secret_pending": pending, "action": "save"})
    assert saved_secret() == "SECwhf-third-0003"
    zh = client.post(page, data={**form, "secret": "x-secret-zh", "action": "preview"},
                     headers={"Accept-Language": "zh-CN"})
    assert "已输入新密钥" in zh.text
