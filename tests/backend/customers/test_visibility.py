"""Who reads a customer's contacts: the people who may read its orders (and sales their team's and
the unowned pool), never a rep of another team. Regression (issue 18): every signed-in user read
every customer's contacts."""

from __future__ import annotations

from tests.conftest import bearer
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user


def _setup(session):
    boss = make_user(session, username="boss", roles=["sales"])
    dep = make_department(session, head=boss)
    member = make_user(session, username="member", roles=["sales"], department=dep)
    other = make_user(session, username="other", roles=["sales"])
    make_user(session, username="clerk", roles=["warehouse"])
    make_user(session, username="look", roles=["viewer"])
    make_user(session, username="root", roles=["admin"])
    ours = make_customer(session, name="Ours Ltd", owner_id=member.id, email="ours@example.com")
    theirs = make_customer(session, name="Theirs Ltd", owner_id=other.id, email="theirs@example.com")
    shipping = make_customer(session, name="Shipping Ltd", owner_id=other.id, email="ship@example.com")
    pool = make_customer(session, name="Pool Ltd", email="pool@example.com")
    make_order(session, owner=other, customer=shipping, stage="shipping")
    session.commit()
    return {"ours": ours.id, "theirs": theirs.id, "shipping": shipping.id, "pool": pool.id}


def _names(client, username: str) -> set[str]:
    page = client.get("/api/v1/customers?limit=100", headers=bearer(client, username))
    assert page.status_code == 200, page.text
    return {c["name"] for c in page.json()["items"]}


class TestCustomerVisibility:
    def test_each_role_lists_only_the_customers_it_may_see(self, client, session):
        _setup(session)
        assert _names(client, "boss") == {"Ours Ltd", "Pool Ltd"}  # their team's, and the unowned pool
        assert _names(client, "other") == {"Theirs Ltd", "Shipping Ltd", "Pool Ltd"}
        assert _names(client, "clerk") == {"Shipping Ltd"}  # the customer of an order they ship
        everyone = {"Ours Ltd", "Theirs Ltd", "Shipping Ltd", "Pool Ltd"}
        assert _names(client, "look") >= everyone and _names(client, "root") >= everyone

    def test_another_teams_customer_is_not_found(self, client, session):
        ids = _setup(session)
        auth = {**bearer(client, "boss"), "Accept-Language": "en"}
        hidden = client.get(f"/api/v1/customers/{ids['theirs']}", headers=auth)
        assert hidden.status_code == 404 and "theirs@example.com" not in hidden.text
        assert hidden.json()["error"]["code"] == "customer.not_found"
        assert client.get(f"/api/v1/customers/{ids['ours']}", headers=auth).json()["email"] == "ours@example.com"
        clerk = bearer(client, "clerk")
        assert client.get(f"/api/v1/customers/{ids['shipping']}", headers=clerk).status_code == 200
        assert client.get(f"/api/v1/customers/{ids['pool']}", headers=clerk).status_code == 404

    def test_the_customer_page_follows_the_same_rule(self, client, session):
        from tests.conftest import login

        ids = _setup(session)
        login(client, "boss")
        assert client.get(f"/customers/{ids['ours']}").status_code == 200
        page = client.get(f"/customers/{ids['theirs']}")
        assert page.status_code == 404 and "theirs@example.com" not in page.text
