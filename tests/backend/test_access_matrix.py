"""Every role against every API endpoint: allowed, forbidden (403) or not found (404), and 401
without credentials. Row-level access follows backend/orders/access.py: sales see their own and
their team's orders, warehouse/finance/approver the orders in their stages, admin and viewer all
(viewer read-only); an order someone may not see is 'not found', never 'forbidden'."""

from __future__ import annotations

import pytest

from tests.conftest import bearer, login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user

ROLES = ("admin", "designer", "sales", "approver", "warehouse", "finance", "viewer")
WRITERS_OF_ORDERS = {"admin", "sales"}
ALL = set(ROLES)


@pytest.fixture
def org(session):
    """East (head: the sales user under test, one member) and West (another team), one order per
    stage group owned by West, one by an East member, and a user per role."""
    users = {role: make_user(session, username=f"as_{role}", roles=[role]) for role in ROLES}
    east = make_department(session, name="East", head=users["sales"])
    member = make_user(session, username="east_member", roles=["sales"], department=east)
    west_head = make_user(session, username="west_head", roles=["sales"])
    make_department(session, name="West", head=west_head)
    customer = make_customer(session, owner_id=member.id)
    orders = {
        "team": make_order(session, owner=member, customer=customer, stage="draft", number="AM-team"),
        "other": make_order(session, owner=west_head, customer=customer, stage="draft", number="AM-other"),
        "approval": make_order(session, owner=west_head, customer=customer, stage="approval", number="AM-appr"),
        "production": make_order(session, owner=west_head, customer=customer, stage="production", number="AM-prod"),
        "payment": make_order(session, owner=west_head, customer=customer, stage="payment", number="AM-pay"),
    }
    session.commit()
    return {"users": users, "member": member, "customer": customer, "orders": orders, "east": east}


# which orders each role sees
VISIBLE = {
    "admin": {"team", "other", "approval", "production", "payment"},
    "viewer": {"team", "other", "approval", "production", "payment"},
    "sales": {"team"},
    "approver": {"approval"},
    "warehouse": {"production"},
    "finance": {"payment"},
    "designer": set(),
}
# the order each role edits in the matrix: one it can see, when there is one
EDITS = {"admin": "other", "viewer": "team", "sales": "team", "approver": "approval", "warehouse": "production",
         "finance": "payment", "designer": "team"}


def _expected(role: str | None) -> dict[str, int]:
    """endpoint -> status for this role (None: no credentials at all)."""
    def allowed(ok: int, who: set[str]) -> int:
        return ok if role in who else 403

    exp = {
        "users.list": 200, "users.me": 200, "users.get": 200,
        "users.create": allowed(201, {"admin"}), "users.update": allowed(200, {"admin"}),
        "departments.list": 200, "departments.create": allowed(201, {"admin"}),
        "departments.update": allowed(200, {"admin"}),
        # a customer is read by who reads one of its orders (or owns it): a designer sees none of them
        "customers.list": 200, "customers.get": 200 if VISIBLE.get(role or "") else 404,
        "customers.create": allowed(201, WRITERS_OF_ORDERS), "customers.update": allowed(200, WRITERS_OF_ORDERS),
        "orders.list": 200, "orders.create": allowed(201, WRITERS_OF_ORDERS),
        "api_keys.list": allowed(200, {"admin"}), "api_keys.create": allowed(201, {"admin"}),
        "api_keys.revoke": allowed(200, {"admin"}),
    }
    for name in ("team", "other", "approval", "production", "payment"):
        seen = role in VISIBLE and name in VISIBLE[role]
        exp[f"orders.get.{name}"] = 200 if seen else 404
        exp[f"orders.events.{name}"] = 200 if seen else 404
    edited = EDITS.get(role or "", "team")
    if role == "viewer":
        exp["orders.update"] = 403
    else:
        exp["orders.update"] = 200 if role in VISIBLE and edited in VISIBLE[role] else 404
    if role is None:
        exp = dict.fromkeys(exp, 401)
    return exp


def _walk(client, org, role: str | None, headers: dict) -> dict[str, int]:
    o = org["orders"]
    admin_key = None
    if role is not None and role != "admin":  # a key to try to revoke
        admin_key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=org["admin_auth"]).json()["id"]
    calls = {
        "users.list": ("GET", "/api/v1/users", None),
        "users.me": ("GET", "/api/v1/users/me", None),
        "users.get": ("GET", f"/api/v1/users/{org['member'].id}", None),
        "users.create": ("POST", "/api/v1/users", {"username": f"new_{role}", "display_name": "N",
                                                   "password": "password123"}),
        "users.update": ("PATCH", f"/api/v1/users/{org['member'].id}", {"display_name": "Renamed"}),
        "departments.list": ("GET", "/api/v1/departments", None),
        "departments.create": ("POST", "/api/v1/departments", {"name": f"Dept of {role}"}),
        "departments.update": ("PATCH", f"/api/v1/departments/{org['east'].id}", {"name": "East 2"}),
        "customers.list": ("GET", "/api/v1/customers", None),
        "customers.get": ("GET", f"/api/v1/customers/{org['customer'].id}", None),
        "customers.create": ("POST", "/api/v1/customers", {"name": f"Customer of {role}", "email": "c@x.cn"}),
        "customers.update": ("PATCH", f"/api/v1/customers/{org['customer'].id}", {"tier": "key"}),
        "orders.list": ("GET", "/api/v1/orders?q=AM-", None),
        "orders.create": ("POST", "/api/v1/orders", {"customer_id": org["customer"].id, "amount": "5"}),
        "orders.update": ("PATCH", f"/api/v1/orders/{o[EDITS.get(role or '', 'team')].id}",
                          {"version": 1, "amount": "6"}),
        "api_keys.list": ("GET", "/api/v1/api-keys", None),
        "api_keys.create": ("POST", "/api/v1/api-keys", {"name": "integration", "scope": "read"}),
        "api_keys.revoke": ("DELETE", f"/api/v1/api-keys/{admin_key or 0}", None),
    }
    for name, order in o.items():
        calls[f"orders.get.{name}"] = ("GET", f"/api/v1/orders/{order.id}", None)
        calls[f"orders.events.{name}"] = ("GET", f"/api/v1/orders/{order.id}/events", None)
    got = {}
    for name, (method, url, body) in calls.items():
        if name == "api_keys.revoke" and role == "admin":
            url = f"/api/v1/api-keys/{client.post('/api/v1/api-keys', json={'name': 'x'}, headers=headers).json()['id']}"
        got[name] = client.request(method, url, json=body, headers=headers).status_code
    return got


@pytest.mark.parametrize("role", [*ROLES, None])
def test_role_against_every_endpoint(client, org, role):
    org["admin_auth"] = bearer(client, "as_admin")
    headers = bearer(client, f"as_{role}") if role else {}
    got = _walk(client, org, role, headers)
    expected = _expected(role)
    assert set(got) == set(expected)
    mismatches = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    assert mismatches == {}, f"role {role}: endpoint -> (got, expected)"
    if role is not None:  # the list shows exactly the orders the role may open
        listed = client.get("/api/v1/orders", params={"q": "AM-", "limit": 200}, headers=headers).json()["items"]
        by_number = {order.number: name for name, order in org["orders"].items()}
        assert {by_number[o["number"]] for o in listed if o["number"] in by_number} == VISIBLE[role]


def test_sales_list_shows_only_their_team_and_the_page_agrees(client, org):
    auth = bearer(client, "as_sales")
    numbers = {o["number"] for o in client.get("/api/v1/orders", headers=auth).json()["items"]}
    assert numbers == {"AM-team"}
    other = org["orders"]["other"]
    resp = client.get(f"/api/v1/orders/{other.id}", headers={**auth, "Accept-Language": "en"})
    assert resp.status_code == 404
    assert resp.json()["error"] == {"code": "order.not_found", "message": f"Order {other.id} was not found.",
                                    "params": {"id": other.id}, "fields": {}}
    # the pages call the same services: same rows in the list, same 404 for the URL
    login(client, "as_sales")
    page = client.get("/orders", params={"q": "AM-"}).text
    assert "AM-team" in page and "AM-other" not in page
    assert client.get(f"/orders/{org['orders']['team'].id}").status_code == 200
    assert client.get(f"/orders/{other.id}", headers={"Accept": "text/html"}).status_code == 404


def test_warehouse_list_shows_only_their_stages(client, org):
    auth = bearer(client, "as_warehouse")
    stages = {o["stage"] for o in client.get("/api/v1/orders", headers=auth).json()["items"]}
    assert stages == {"production"}
