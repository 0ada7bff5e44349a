"""Users and departments API: admin writes, everyone reads, the org chart stays a tree."""

from __future__ import annotations

from sqlalchemy import func, select

from backend.people.models import Department, User, UserRole
from backend.people.org import manager_chain, team_user_ids
from tests.conftest import bearer
from tests.factories.people import make_department, make_user

EN = {"Accept-Language": "en"}


def _count(session, model) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).scalar_one()


class TestUsers:
    def test_admin_creates_user_with_roles_who_can_then_sign_in(self, client, session):
        make_user(session, username="root", roles=["admin"])
        dep = make_department(session, name="Sales East")
        session.commit()
        resp = client.post("/api/v1/users", headers=bearer(client, "root"), json={
            "username": "li.lei", "display_name": "李雷", "password": "s3cret-pass", "email": "li@x.cn",
            "department_id": dep.id, "roles": ["sales", "approver", "sales"], "locale": "zh_CN"})
        assert resp.status_code == 201, resp.text
        assert resp.json()["roles"] == ["approver", "sales"]
        me = client.get("/api/v1/users/me", headers=bearer(client, "li.lei", "s3cret-pass")).json()
        assert me["display_name"] == "李雷" and me["department_id"] == dep.id
        stored = session.get(User, resp.json()["id"])
        assert stored.password_hash.startswith("$argon2") and "s3cret" not in stored.password_hash

    def test_taken_username_is_409_and_writes_nothing(self, client, session):
        make_user(session, username="root", roles=["admin"])
        make_user(session, username="taken")
        session.commit()
        users, roles = _count(session, User), _count(session, UserRole)
        resp = client.post("/api/v1/users", headers={**bearer(client, "root"), **EN},
                           json={"username": "taken", "display_name": "X", "password": "password123",
                                 "roles": ["viewer"]})
        assert resp.status_code == 409
        assert resp.json()["error"]["message"] == "User name taken is already taken."
        assert (_count(session, User), _count(session, UserRole)) == (users, roles)

    def test_bad_user_input_is_reported_per_field(self, client, session):
        make_user(session, username="root", roles=["admin"])
        session.commit()
        resp = client.post("/api/v1/users", headers={**bearer(client, "root"), **EN}, json={
            "username": "a b", "display_name": "X", "password": "short", "roles": ["king"],
            "department_id": 999999})
        fields = resp.json()["error"]["fields"]
        assert resp.status_code == 422 and {"username", "password"} <= set(fields)
        assert any(k.startswith("roles") for k in fields)
        resp = client.post("/api/v1/users", headers={**bearer(client, "root"), **EN}, json={
            "username": "ok_name", "display_name": "X", "password": "password123", "department_id": 999999})
        assert resp.status_code == 422
        assert resp.json()["error"]["fields"]["department_id"]["message"] == "Department 999999 was not found."

    def test_update_roles_and_deactivate(self, client, session):
        make_user(session, username="root", roles=["admin"])
        user = make_user(session, username="worker", roles=["sales"])
        session.commit()
        auth = bearer(client, "root")
        resp = client.patch(f"/api/v1/users/{user.id}", json={"roles": ["finance"], "is_active": False},
                            headers=auth)
        assert resp.status_code == 200 and resp.json()["roles"] == ["finance"]
        assert client.post("/api/v1/auth/token", json={"username": "worker", "password": "password123"}
                           ).status_code == 401
        resp = client.patch(f"/api/v1/users/{user.id}", json={"display_name": None}, headers={**auth, **EN})
        assert resp.status_code == 422
        assert resp.json()["error"]["fields"]["display_name"]["code"] == "field.not_nullable"

    def test_search_is_literal(self, client, session):
        make_user(session, username="root", roles=["admin"])
        make_user(session, username="a_b", display_name="Under Score")
        make_user(session, username="axb", display_name="Plain")
        session.commit()
        resp = client.get("/api/v1/users", params={"q": "a_b"}, headers=bearer(client, "root"))
        assert [u["username"] for u in resp.json()] == ["a_b"]


class TestDepartments:
    def test_org_chart_drives_teams_and_manager_chain(self, client, session):
        make_user(session, username="root", roles=["admin"])
        ceo = make_user(session, username="ceo", roles=["sales"])
        lead = make_user(session, username="lead", roles=["sales"])
        rep = make_user(session, username="rep", roles=["sales"])
        session.commit()
        auth = bearer(client, "root")
        top = client.post("/api/v1/departments", json={"name": "Sales", "head_id": ceo.id}, headers=auth).json()
        east = client.post("/api/v1/departments", json={"name": "East", "parent_id": top["id"], "head_id": lead.id},
                           headers=auth).json()
        for user, dep in ((ceo, top), (lead, east), (rep, east)):
            assert client.patch(f"/api/v1/users/{user.id}", json={"department_id": dep["id"]},
                                headers=auth).status_code == 200
        session.expire_all()
        assert team_user_ids(session, ceo.id) == {ceo.id, lead.id, rep.id}
        assert team_user_ids(session, lead.id) == {lead.id, rep.id}
        assert manager_chain(session, rep.id, 5) == [lead.id, ceo.id]
        listed = client.get("/api/v1/departments", headers=bearer(client, "rep")).json()
        assert [d["name"] for d in listed if d["id"] in (top["id"], east["id"])] == ["Sales", "East"]

    def test_cycles_missing_refs_and_null_names_are_refused(self, client, session):
        make_user(session, username="root", roles=["admin"])
        top = make_department(session, name="Top")
        mid = make_department(session, name="Mid", parent=top)
        low = make_department(session, name="Low", parent=mid)
        session.commit()
        auth = {**bearer(client, "root"), **EN}
        resp = client.patch(f"/api/v1/departments/{top.id}", json={"parent_id": low.id}, headers=auth)
        assert resp.status_code == 422
        assert resp.json()["error"]["fields"]["parent_id"]["message"] == "A department cannot be placed under itself."
        resp = client.patch(f"/api/v1/departments/{mid.id}", json={"head_id": 999999, "name": "M"}, headers=auth)
        assert resp.status_code == 422 and resp.json()["error"]["fields"]["head_id"]["code"] == "user.not_found"
        resp = client.patch(f"/api/v1/departments/{mid.id}", json={"name": None}, headers=auth)
        assert resp.status_code == 422
        resp = client.post("/api/v1/departments", json={"name": "Orphan", "parent_id": 999999}, headers=auth)
        assert resp.status_code == 422
        session.expire_all()
        assert (session.get(Department, top.id).parent_id, session.get(Department, mid.id).name) == (None, "Mid")
        assert client.patch("/api/v1/departments/999999", json={"name": "X"}, headers=auth).status_code == 404
