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
