"""Bearer tokens, API keys (shown once, hashed, scoped, last used, revoked), the sign-in rate
limit, and CSRF on cookie-authenticated writes."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.auth import service as auth_service
from backend.auth.models import ApiKey
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.orders.models import Order
from backend.people.models import User
from tests.conftest import bearer, login
from tests.factories.orders import make_customer
from tests.factories.people import make_user

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _orders(session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(Order)).scalar_one()


class TestBearerToken:
    def test_token_authenticates_api_calls(self, client, session):
        make_user(session, username="rep", roles=["sales"], display_name="Rep One")
        session.commit()
        resp = client.post("/api/v1/auth/token", json={"username": "rep", "password": "password123"})
        assert resp.status_code == 200
        body = resp.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 12 * 3600
        me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200 and me.json()["display_name"] == "Rep One"

    def test_wrong_password_tampered_token_and_deactivated_user_are_401(self, client, session):
        user = make_user(session, username="rep", roles=["sales"])
        session.commit()
        wrong = client.post("/api/v1/auth/token", json={"username": "rep", "password": "nope-nope"}, headers=EN)
        assert wrong.status_code == 401
        assert wrong.json()["error"]["message"] == "Wrong user name or password."
        auth = bearer(client, "rep")
        tampered = {"Authorization": auth["Authorization"][:-3] + "xyz"}
        assert client.get("/api/v1/users/me", headers=tampered).json()["error"]["code"] == "auth.invalid_token"
        user.is_active = False
        session.commit()
        resp = client.get("/api/v1/users/me", headers=auth)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "auth.invalid_token"

    def test_no_credentials_is_401_in_the_callers_language(self, client):
        resp = client.get("/api/v1/orders", headers=ZH)
        assert resp.status_code == 401
        assert resp.json()["error"] == {"code": "auth.required", "message": "请先登录。", "params": {}, "fields": {}}


class TestRateLimit:
    def test_failures_within_a_minute_lock_even_the_right_password(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        for _ in range(5):  # the test settings allow 5 failures a minute
            assert client.post("/api/v1/auth/token", json={"username": "rep", "password": "bad-guess"}).status_code == 401
        locked = client.post("/api/v1/auth/token", json={"username": "rep", "password": "password123"}, headers=ZH)
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "auth.rate_limited"
        assert locked.json()["error"]["message"] == "登录尝试次数过多，请 1 分钟后再试。"

    def test_the_window_is_one_minute(self, session, now):
        make_user(session, username="rep", roles=["sales"])
        for _ in range(3):
            with pytest.raises(GendanError):
                auth_service.authenticate(session, username="rep", password="bad", client="10.0.0.1", now=now,
                                          max_attempts=3)
        with pytest.raises(GendanError) as err:
            auth_service.authenticate(session, username="rep", password="password123", client="10.0.0.1",
                                      now=now + timedelta(seconds=59), max_attempts=3)
        assert err.value.code == "auth.rate_limited"
        actor = auth_service.authenticate(session, username="rep", password="password123", client="10.0.0.1",
                                          now=now + timedelta(seconds=61), max_attempts=3)
        assert actor.username == "rep"

    def test_one_address_guessing_many_users_is_limited(self, session, now):
        make_user(session, username="rep", roles=["sales"])
        for i in range(12):  # an address may fail 4x the per-account limit, over any accounts
            with pytest.raises(GendanError):
                auth_service.authenticate(session, username=f"guess{i}", password="x", client="10.0.0.9", now=now,
                                          max_attempts=3)
        with pytest.raises(GendanError) as err:
            auth_service.authenticate(session, username="rep", password="password123", client="10.0.0.9", now=now,
                                      max_attempts=3)
        assert err.value.code == "auth.rate_limited"
        # the same user from another address is not locked by that address
        assert auth_service.authenticate(session, username="rep", password="password123", client="10.0.0.10",
                                         now=now, max_attempts=3).username == "rep"

    def test_sign_in_page_is_limited_too(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        statuses = [client.post("/login", data={"username": "rep", "password": "bad-guess", "csrf_token": token},
                                follow_redirects=False).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]


class TestApiKeys:
    def _create(self, client, auth, **body):
        resp = client.post("/api/v1/api-keys", json={"name": "erp", **body}, headers=auth)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def test_key_is_shown_once_and_stored_hashed(self, client, session):
        make_user(session, username="root", roles=["admin"])
        session.commit()
        auth = bearer(client, "root")
        created = self._create(client, auth, scope="write")
        assert created["key"].startswith("gdk_") and created["prefix"] == created["key"][:10]
        listed = client.get("/api/v1/api-keys", headers=auth).json()
        assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
        stored = session.get(ApiKey, created["id"])
        assert stored.key_hash == hashlib.sha256(created["key"].encode()).hexdigest()
        assert created["key"] not in str(session.exec(select(ApiKey.name, ApiKey.prefix, ApiKey.key_hash)).all())

    def test_read_key_reads_but_cannot_write(self, client, session):
        make_user(session, username="root", roles=["admin"])
        customer = make_customer(session)
        session.commit()
        key = self._create(client, bearer(client, "root"), scope="read")["key"]
        headers = {"X-API-Key": key, **EN}
        assert client.get("/api/v1/orders", headers=headers).status_code == 200
        before = _orders(session)
        for method, url, body in [("POST", "/api/v1/orders", {"customer_id": customer.id, "amount": "1"}),
                                  ("POST", "/api/v1/api-keys", {"name": "escalate", "scope": "write"}),
                                  ("PATCH", f"/api/v1/customers/{customer.id}", {"tier": "key"})]:
            resp = client.request(method, url, json=body, headers=headers)
            assert resp.status_code == 403, url
            assert resp.json()["error"]["message"] == "This API key may only read."
        assert _orders(session) == before
        session.expire_all()
        assert session.exec(select(func.count()).select_from(ApiKey)).scalar_one() == 1
        assert session.get(Customer, customer.id).tier == "standard"

    def test_write_key_acts_as_its_user_and_records_last_use(self, client, session):
        make_user(session, username="root", roles=["admin"])
        rep = make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session)
        session.commit()
        created = self._create(client, bearer(client, "root"), scope="write", user_id=rep.id)
        assert created["last_used_at"] is None
        resp = client.post("/api/v1/orders", json={"customer_id": customer.id, "amount": "1"},
                           headers={"X-API-Key": created["key"]})
        assert resp.status_code == 201 and resp.json()["owner_id"] == rep.id
        session.expire_all()
        assert session.get(ApiKey, created["id"]).last_used_at is not None

    def test_revoked_key_fails(self, client, session):
        make_user(session, username="root", roles=["admin"])
        session.commit()
        auth = bearer(client, "root")
        created = self._create(client, auth, scope="write")
        headers = {"X-API-Key": created["key"], **EN}
        assert client.get("/api/v1/orders", headers=headers).status_code == 200
        revoked = client.delete(f"/api/v1/api-keys/{created['id']}", headers=auth)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        resp = client.get("/api/v1/orders", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"]["message"] == "The token is invalid or has expired."
        assert client.get("/api/v1/orders", headers={"X-API-Key": "gdk_made_up"}).status_code == 401

    def test_bad_key_requests_are_clear_errors(self, client, session):
        make_user(session, username="root", roles=["admin"])
        session.commit()
        auth = {**bearer(client, "root"), **EN}
        missing = client.delete("/api/v1/api-keys/424242", headers=auth)
        assert missing.status_code == 404 and missing.json()["error"]["message"] == "API key 424242 was not found."
        resp = client.post("/api/v1/api-keys", json={"name": "x", "scope": "admin", "user_id": 999999}, headers=auth)
        assert resp.status_code == 422 and set(resp.json()["error"]["fields"]) == {"scope"}
        resp = client.post("/api/v1/api-keys", json={"name": "x", "user_id": 999999}, headers=auth)
        assert resp.status_code == 422 and resp.json()["error"]["fields"]["user_id"]["code"] == "user.not_found"


class TestCsrf:
    def test_cookie_writes_need_the_token(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        login(client, "rep")
        token = client.headers.pop("X-CSRF-Token")
        count = session.exec(select(func.count()).select_from(Customer)).scalar_one()
        body = {"name": "Via cookie", "email": "c@x.cn"}
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            resp = client.post("/api/v1/customers", json=body, headers={**headers, **EN})
            assert resp.status_code == 403
            assert resp.json()["error"]["code"] == "auth.csrf_failed"
        session.expire_all()
        assert session.exec(select(func.count()).select_from(Customer)).scalar_one() == count
        assert client.get("/api/v1/customers").status_code == 200  # reading needs no token
        assert client.post("/api/v1/customers", json=body, headers={"X-CSRF-Token": token}).status_code == 201

    def test_bearer_and_key_requests_need_no_csrf_token(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        resp = client.post("/api/v1/customers", json={"name": "Via token", "email": "c@x.cn"},
                           headers=bearer(client, "rep"))
        assert resp.status_code == 201
        assert session.get(User, resp.json()["owner_id"]).username == "rep"
