"""Customers API: create with contacts, get, update, search, keyset paging, permissions, bad input."""

from __future__ import annotations

from sqlalchemy import func, select

from backend.customers.models import Customer
from tests.conftest import bearer
from tests.factories.orders import make_customer
from tests.factories.people import make_department, make_user

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _count(session) -> int:
    return session.exec(select(func.count()).select_from(Customer)).scalar_one()


class TestCreateCustomer:
    def test_sales_creates_with_contacts_and_owns_it(self, client, session):
        rep = make_user(session, username="rep", roles=["sales"])
        session.commit()
        auth = bearer(client, "rep")
        body = {"name": "苏州精密模具有限公司", "code": "SZ-001", "tier": "key", "contact_name": "王经理",
                "email": "wang@szmold.cn", "phone": "+86 512-6666 8888", "dingtalk_id": "wang_ding",
                "wecom_id": "wang.wecom", "preferred_locale": "zh_CN", "preferred_channel": "dingtalk"}
        created = client.post("/api/v1/customers", json=body, headers=auth)
        assert created.status_code == 201, created.text
        data = created.json()
        assert data["owner_id"] == rep.id
        assert {k: data[k] for k in body} == body
        fetched = client.get(f"/api/v1/customers/{data['id']}", headers=auth).json()
        assert fetched == data

    def test_preferred_channel_needs_its_contact(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        before = _count(session)
        resp = client.post("/api/v1/customers", headers={**bearer(client, "rep"), **EN},
                           json={"name": "No WeCom", "email": "a@b.cn", "preferred_channel": "wecom"})
        assert resp.status_code == 422
        field = resp.json()["error"]["fields"]["preferred_channel"]
        assert field["code"] == "customer.channel_unreachable"
        assert field["message"] == "The preferred channel wecom needs wecom_id."
        assert _count(session) == before

    def test_duplicate_code_is_409_and_nothing_written(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        make_customer(session, code="DUP-1")
        session.commit()
        before = _count(session)
        resp = client.post("/api/v1/customers", headers={**bearer(client, "rep"), **ZH},
                           json={"name": "Again", "code": "DUP-1", "email": "x@y.cn"})
        assert resp.status_code == 409
        assert resp.json()["error"]["code"] == "customer.code_taken"
        assert resp.json()["error"]["message"] == "客户编号 DUP-1 已被使用。"
        assert _count(session) == before

    def test_bad_contacts_are_reported_per_field(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        resp = client.post("/api/v1/customers", headers={**bearer(client, "rep"), **EN},
                           json={"name": "", "email": "not-an-email", "phone": "call me", "preferred_locale": "fr",
                                 "preferred_channel": "fax", "fax": "123"})
        assert resp.status_code == 422
        fields = resp.json()["error"]["fields"]
        assert set(fields) == {"name", "email", "phone", "preferred_locale", "preferred_channel", "fax"}
        assert fields["fax"]["code"] == "field.extra_forbidden"

    def test_warehouse_and_viewer_cannot_create(self, client, session):
        make_user(session, username="wh", roles=["warehouse"])
        make_user(session, username="view", roles=["viewer"])
        session.commit()
        for username in ("wh", "view"):
            resp = client.post("/api/v1/customers", json={"name": "X", "email": "x@y.cn"},
                               headers=bearer(client, username))
            assert resp.status_code == 403, username


class TestUpdateCustomer:
    def test_update_changes_contacts_and_clears_optional_ones(self, client, session):
        rep = make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session, owner_id=rep.id, phone="021-5555-0000", wecom_id="old")
        session.commit()
        resp = client.patch(f"/api/v1/customers/{customer.id}", headers=bearer(client, "rep"),
                            json={"preferred_channel": "sms", "phone": "13800138000", "wecom_id": None})
        assert resp.status_code == 200, resp.text
        session.expire_all()
        stored = session.get(Customer, customer.id)
        assert (stored.preferred_channel, stored.phone, stored.wecom_id) == ("sms", "13800138000", None)

    def test_cannot_clear_name_or_channel_contact(self, client, session):
        rep = make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session, owner_id=rep.id)  # email channel, has email
        session.commit()
        auth = {**bearer(client, "rep"), **EN}
        resp = client.patch(f"/api/v1/customers/{customer.id}", headers=auth, json={"name": None})
        assert resp.status_code == 422
        assert resp.json()["error"]["fields"]["name"]["code"] == "field.not_nullable"
        resp = client.patch(f"/api/v1/customers/{customer.id}", headers=auth, json={"email": None})
        assert resp.status_code == 422
        assert resp.json()["error"]["fields"]["preferred_channel"]["code"] == "customer.channel_unreachable"
        session.expire_all()
        assert session.get(Customer, customer.id).email == customer.email

    def test_sales_cannot_change_another_teams_customer(self, client, session):
        boss = make_user(session, username="boss", roles=["sales"])
        dep = make_department(session, head=boss)
        member = make_user(session, username="member", roles=["sales"], department=dep)
        other = make_user(session, username="other", roles=["sales"])
        theirs = make_customer(session, owner_id=other.id)
        ours = make_customer(session, owner_id=member.id)
        session.commit()
        auth = bearer(client, "boss")
        assert client.patch(f"/api/v1/customers/{theirs.id}", json={"tier": "key"}, headers=auth).status_code == 403
        assert client.patch(f"/api/v1/customers/{ours.id}", json={"tier": "key"}, headers=auth).status_code == 200
        moved = client.patch(f"/api/v1/customers/{ours.id}", json={"owner_id": other.id}, headers=auth)
        assert moved.status_code == 422
        assert moved.json()["error"]["fields"]["owner_id"]["code"] == "customer.forbidden"

    def test_unknown_customer_is_404(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        resp = client.patch("/api/v1/customers/999999", json={"tier": "key"}, headers=bearer(client, "rep"))
        assert resp.status_code == 404
        assert resp.json()["error"]["code"] == "customer.not_found"


class TestListCustomers:
    def test_search_matches_name_code_contact_and_email_literally(self, client, session):
        make_user(session, username="view", roles=["viewer"])
        a = make_customer(session, name="Zeta 100% Steel", code="ZS-1")
        b = make_customer(session, name="Zeta Plastics", contact_name="李四", email="li4@zeta-plastics.cn")
        make_customer(session, name="Zeta 100 Steel")
        session.commit()
        auth = bearer(client, "view")

        def names(q: str) -> list[str]:
            resp = client.get("/api/v1/customers", params={"q": q}, headers=auth)
            assert resp.status_code == 200, resp.text
            return [c["name"] for c in resp.json()["items"]]

        assert names("100%") == [a.name]
        assert names("李四") == [b.name]
        assert names("zeta-plastics") == [b.name]
        assert names("zs-1") == [a.name]

    def test_keyset_pages_cover_everything_once_under_inserts(self, client, session):
        make_user(session, username="view", roles=["viewer"])
        for i in range(7):
            make_customer(session, name=f"Paging Co {i % 3}")  # ties on name: id breaks them
        session.commit()
        auth = bearer(client, "view")
        params = {"q": "Paging C", "limit": 3}
        first = client.get("/api/v1/customers", params=params, headers=auth).json()
        make_customer(session, name="Paging Ca")  # sorts before the cursor: not on later pages
        make_customer(session, name="Paging Co 9")  # sorts after it: shows up at the end
        session.commit()
        seen = [c["id"] for c in first["items"]]
        cursor = first["next_cursor"]
        while cursor:
            page = client.get("/api/v1/customers", params={**params, "cursor": cursor}, headers=auth).json()
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
        assert len(seen) == len(set(seen)) == 8
        names = [session.get(Customer, i).name for i in seen]
        assert names == sorted(names) and names[-1] == "Paging Co 9"

    def test_malformed_cursor_is_a_clear_error(self, client, session):
        make_user(session, username="view", roles=["viewer"])
        session.commit()
        resp = client.get("/api/v1/customers", params={"cursor": "not-a-cursor"},
                          headers={**bearer(client, "view"), **EN})
        assert resp.status_code == 422
        assert resp.json()["error"]["fields"]["cursor"]["code"] == "field.cursor_invalid"

    def test_cursor_after_the_longest_chinese_name_still_works(self, client, session):
        make_user(session, username="view", roles=["viewer"])
        long_name = "长" * 200
        make_customer(session, name=long_name)
        make_customer(session, name=long_name)
        session.commit()
        auth = bearer(client, "view")
        first = client.get("/api/v1/customers", params={"q": "长长长", "limit": 1}, headers=auth).json()
        second = client.get("/api/v1/customers", params={"q": "长长长", "limit": 1, "cursor": first["next_cursor"]},
                            headers=auth)
        assert second.status_code == 200, second.text
        assert second.json()["items"][0]["id"] != first["items"][0]["id"]
