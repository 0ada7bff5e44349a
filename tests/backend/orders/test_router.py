"""Orders API: create, read, update with optimistic locking, idempotent create, errors."""

from __future__ import annotations

from tests.conftest import bearer
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


class TestCreateOrder:
    def test_creates_with_event_and_is_idempotent_on_external_id(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session, name="华东机械")
        session.commit()
        auth = bearer(client, "rep")
        body = {"customer_id": customer.id, "amount": "12500.50", "source": "shop", "external_id": "X-1"}
        first = client.post("/api/v1/orders", json=body, headers=auth)
        assert first.status_code == 201, first.text
        again = client.post("/api/v1/orders", json=body, headers=auth)
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        events = client.get(f"/api/v1/orders/{first.json()['id']}/events", headers=auth).json()
        assert [e["type"] for e in events] == ["created"]
        assert events[0]["after"]["amount"] == "12500.50"

    def test_the_same_external_id_with_changed_data_is_a_conflict_not_a_silent_200(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session, name="Retry Co")
        session.commit()
        auth = {**bearer(client, "rep"), "Accept-Language": "en"}
        body = {"customer_id": customer.id, "amount": "10.00", "source": "erp", "external_id": "X-2",
                "planned_delivery": "2027-01-15", "tags": ["vip"], "data": {"note": "rush", "weight": 2.5}}
        first = client.post("/api/v1/orders", json=body, headers=auth)
        assert first.status_code == 201, first.text
        retry = client.post("/api/v1/orders", json=body, headers=auth)
        assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
        for changed in ({"data": {"note": "slow", "weight": 2.5}}, {"planned_delivery": "2027-02-01"},
                        {"tags": ["vip", "late"]}):
            conflict = client.post("/api/v1/orders", json={**body, **changed}, headers=auth)
            assert conflict.status_code == 409, (changed, conflict.text)
            error = conflict.json()["error"]
            assert error["code"] == "order.external_id_conflict"
            assert error["params"]["fields"] == next(iter(changed))
            assert "already exists with different values" in error["message"]
        stored = client.get(f"/api/v1/orders/{first.json()['id']}", headers=auth).json()
        assert stored["data"]["note"] == "rush" and stored["planned_delivery"] == "2027-01-15"

    def test_rejects_unknown_field_negative_amount_and_bad_date_per_field(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session)
        session.commit()
        resp = client.post("/api/v1/orders", headers={**bearer(client, "rep"), "Accept-Language": "en"},
                           json={"customer_id": customer.id, "amount": "-5", "colour": "red",
                                 "planned_delivery": "2026-02-30"})
        assert resp.status_code == 422
        fields = resp.json()["error"]["fields"]
        assert set(fields) == {"amount", "colour", "planned_delivery"}
        assert fields["amount"]["message"] == "Must be at least 0."


class TestUpdateOrder:
    def test_stale_version_gets_409_with_current_version(self, client, session):
        rep = make_user(session, username="rep", roles=["sales"])
        order = make_order(session, owner=rep)
        session.commit()
        auth = bearer(client, "rep")
        ok = client.patch(f"/api/v1/orders/{order.id}", json={"version": 1, "amount": "2000"}, headers=auth)
        assert ok.status_code == 200 and ok.json()["version"] == 2
        stale = client.patch(f"/api/v1/orders/{order.id}", json={"version": 1, "amount": "3000"}, headers=auth)
        assert stale.status_code == 409
        assert stale.json()["error"]["params"]["current_version"] == 2
        assert client.get(f"/api/v1/orders/{order.id}", headers=auth).json()["amount"] == "2000.00"


class TestEventHistory:
    def test_history_shows_who_when_before_and_after_in_order(self, client, session):
        rep = make_user(session, username="rep", roles=["sales"], display_name="Rep Wang")
        boss = make_user(session, username="boss", roles=["admin"], display_name="Boss Li")
        customer = make_customer(session)
        session.commit()
        created = client.post("/api/v1/orders", json={"customer_id": customer.id, "amount": "10"},
                              headers=bearer(client, "rep")).json()
        client.patch(f"/api/v1/orders/{created['id']}", json={"version": 1, "stage": "approval"},
                     headers=bearer(client, "boss"))
        client.patch(f"/api/v1/orders/{created['id']}", json={"version": 2, "data": {"po": "PO-1"}},
                     headers=bearer(client, "rep"))
        events = client.get(f"/api/v1/orders/{created['id']}/events", headers=bearer(client, "rep")).json()
        assert [(e["type"], e["actor_id"], e["actor_name"]) for e in events] == [
            ("created", rep.id, "Rep Wang"), ("stage_entered", boss.id, "Boss Li"), ("updated", rep.id, "Rep Wang")]
        assert events[1]["before"] == {"stage": "draft"} and events[1]["after"] == {"stage": "approval"}
        assert events[2]["before"] == {"data": {}} and events[2]["after"] == {"data": {"po": "PO-1"}}
        assert events[0]["at"] <= events[1]["at"] <= events[2]["at"]
        order = client.get(f"/api/v1/orders/{created['id']}", headers=bearer(client, "rep")).json()
        assert order["version"] == 3 and order["updated_at"] == events[2]["at"]
