"""GET /api/v1/audit on SQLite and PostgreSQL: admins only, filters, keyset paging that neither
repeats nor skips a row while new changes arrive."""

from __future__ import annotations

from datetime import timedelta

from backend.audit import service as audit
from backend.auth.service import load_actor
from tests.conftest import bearer
from tests.factories.people import make_user


def _seed(session, now):
    admin = make_user(session, username="auditor", roles=["admin"], display_name="Ada Admin")
    rep = make_user(session, username="rep", roles=["sales"], display_name="Rep")
    admin_actor, rep_actor = load_actor(session, admin.id), load_actor(session, rep.id)
    # five changes, two of them in the same instant (the id breaks the tie)
    times = [now - timedelta(days=2), now - timedelta(days=1), now, now, now + timedelta(minutes=1)]
    for n, at in enumerate(times):
        who = admin_actor if n % 2 == 0 else rep_actor
        audit.record(session, who, "customer" if n < 4 else "user", n + 1, "update",
                     {"email": f"old{n}@x.cn"}, {"email": f"new{n}@x.cn"}, at)
    session.commit()
    return admin, rep


class TestReading:
    def test_only_admins_read_the_log(self, client, session, now):
        _seed(session, now)
        assert client.get("/api/v1/audit", headers=bearer(client, "rep")).status_code == 403
        assert client.get("/api/v1/audit").status_code == 401
        page = client.get("/api/v1/audit", headers=bearer(client, "auditor")).json()
        assert [e["after"] for e in page["items"]][:2] == [{"email": "new4@x.cn"}, {"email": "new3@x.cn"}]
        assert page["items"][0]["actor_name"] == "Ada Admin"

    def test_filters_by_entity_actor_and_days(self, client, session, now):
        admin, rep = _seed(session, now)
        auth = bearer(client, "auditor")

        def keys(**params):
            return [e["entity_key"] for e in client.get("/api/v1/audit", params=params, headers=auth).json()["items"]]

        assert keys(entity_type="user") == ["5"]
        assert keys(entity_type="customer", entity_key="2") == ["2"]
        assert keys(actor_id=rep.id) == ["4", "2"]
        assert keys(since=(now - timedelta(days=1)).date().isoformat(), until=(now - timedelta(days=1)).date().isoformat()) == ["2"]

    def test_paging_is_stable_while_changes_arrive(self, client, session, now):
        admin, _ = _seed(session, now)
        auth = bearer(client, "auditor")
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/v1/audit", params=params, headers=auth).json()
            seen += [e["id"] for e in page["items"]]
            if len(seen) == 2:  # a newer change after the first page does not shift the pages
                audit.record(session, load_actor(session, admin.id), "customer", 99, "update", {"name": "a"},
                             {"name": "b"}, now + timedelta(hours=1))
                session.commit()
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 5

    def test_a_bad_cursor_is_a_clear_422(self, client, session, now):
        _seed(session, now)
        resp = client.get("/api/v1/audit", params={"cursor": "not-a-cursor"},
                          headers={**bearer(client, "auditor"), "Accept-Language": "en"})
        assert resp.status_code == 422
        assert resp.json()["error"]["fields"]["cursor"]["code"] == "field.cursor_invalid"
