"""Issue 17: a customer has several contacts; the primary one is who messages go to (its name,
email, phone and language are the customer's)."""

from __future__ import annotations

from backend.customers.models import Customer
from tests.conftest import bearer
from tests.factories.people import make_user

EN = {"Accept-Language": "en"}


def create(client, auth, **extra):
    body = {"name": "FRM-苏州精密", "contact_name": "FRM-王经理", "email": "wang@frm.example.com", **extra}
    resp = client.post("/api/v1/customers", json=body, headers=auth)
    assert resp.status_code == 201, resp.text
    return resp.json()


class TestContacts:
    def test_the_single_contact_of_a_new_customer_is_its_primary_contact(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        auth = bearer(client, "rep")
        customer = create(client, auth)
        contacts = client.get(f"/api/v1/customers/{customer['id']}/contacts", headers=auth).json()
        assert [(c["name"], c["email"], c["is_primary"]) for c in contacts] == [
            ("FRM-王经理", "wang@frm.example.com", True)]

    def test_two_contacts_and_messages_go_to_the_primary(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        auth = bearer(client, "rep")
        customer = create(client, auth)
        url = f"/api/v1/customers/{customer['id']}/contacts"
        body = {"contacts": [
            {"name": "FRM-王经理", "role": "采购", "email": "wang@frm.example.com", "locale": "zh_CN"},
            {"name": "FRM-Anna", "role": "Logistics", "email": "anna@frm.example.com", "phone": "+49 30 1234567",
             "locale": "en", "is_primary": True}]}
        resp = client.put(url, json=body, headers=auth)
        assert resp.status_code == 200, resp.text
        assert [(c["name"], c["is_primary"]) for c in resp.json()] == [("FRM-王经理", False), ("FRM-Anna", True)]
        session.expire_all()
        row = session.get(Customer, customer["id"])
        assert (row.contact_name, row.email, row.phone, row.preferred_locale) == (
            "FRM-Anna", "anna@frm.example.com", "+49 30 1234567", "en")
        # an API client still writing the old single-contact columns changes the primary contact
        patched = client.patch(f"/api/v1/customers/{customer['id']}", json={"email": "anna2@frm.example.com"},
                               headers=auth)
        assert patched.status_code == 200, patched.text
        contacts = client.get(url, headers=auth).json()
        assert [c["email"] for c in contacts] == ["wang@frm.example.com", "anna2@frm.example.com"]
        # the list's search finds a customer by any of its contacts
        found = client.get("/api/v1/customers", params={"q": "王经理"}, headers=auth).json()["items"]
        assert [c["id"] for c in found] == [customer["id"]]
        # one removed: the list is what was sent
        resp = client.put(url, json={"contacts": [body["contacts"][0]]}, headers=auth)
        assert [(c["name"], c["is_primary"]) for c in resp.json()] == [("FRM-王经理", True)]

    def test_refusals_in_words(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        make_user(session, username="viewer", roles=["viewer"])
        session.commit()
        auth = {**bearer(client, "rep"), **EN}
        customer = create(client, auth)
        url = f"/api/v1/customers/{customer['id']}/contacts"
        two = [{"name": "A", "is_primary": True}, {"name": "B", "is_primary": True}]
        resp = client.put(url, json={"contacts": two}, headers=auth)
        assert resp.status_code == 422
        assert resp.json()["error"]["fields"]["contacts"]["message"] == \
            "Mark exactly one contact as the primary contact."
        resp = client.put(url, json={"contacts": [{"name": f"C{i}"} for i in range(21)]}, headers=auth)
        assert resp.status_code == 422
        resp = client.put(url, json={"contacts": [{"name": "", "email": "not-an-email"}]}, headers=auth)
        assert resp.status_code == 422
        # email channel without any contact left: refused, nothing changed
        resp = client.put(url, json={"contacts": []}, headers=auth)
        assert resp.status_code == 422
        assert len(client.get(url, headers=auth).json()) == 1
        resp = client.put(url, json={"contacts": [{"name": "X"}]}, headers=bearer(client, "viewer"))
        assert resp.status_code == 403
        assert client.get("/api/v1/customers/999999/contacts", headers=auth).status_code == 404
