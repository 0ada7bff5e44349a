"""A webhook carrying designed fields: a decimal JSON number is a number (the body is parsed with
Decimal, which the form engine refused), and sending the same body again is `unchanged`, not `updated`
(the stored data also holds computed fields and plain numbers)."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.auth.service import load_actor
from backend.forms import service as forms_service
from backend.orders.models import Order
from tests.backend.ingest.test_inbound import ORDER, _post, source  # noqa: F401 (a fixture)
from tests.factories.people import make_user

FORM = {"key": "order", "fields": [
    {"key": "weight", "type": "number", "label": {"en": "Weight"}},
    {"key": "items", "type": "line_items", "label": {"en": "Items"}, "totals": ["line"], "columns": [
        {"key": "qty", "type": "number", "label": {"en": "Qty"}},
        {"key": "price", "type": "money", "label": {"en": "Price"}},
        {"key": "line", "type": "computed", "result_type": "money", "label": {"en": "Line"},
         "expression": {"*": [{"var": "qty"}, {"var": "price"}]}}]},
]}


def test_decimal_numbers_are_accepted_and_an_identical_resend_is_unchanged(client, session, source):  # noqa: F811
    actor = load_actor(session, make_user(session, roles=["designer"]).id)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    forms_service.save_draft(session, actor=actor, key="order", now=now, definition=FORM)
    forms_service.publish_form(session, actor=actor, key="order", now=now)
    session.commit()
    body = {**ORDER, "data": {"weight": 12.50, "items": [{"qty": 2, "price": 19.99}]}}

    # each post a delivery of its own (a replay of one delivery is refused as a duplicate)
    first = _post(client, "shop", source["secret"], body, delivery="d-1")
    assert (first.status_code, first.json()["outcome"]) == (201, "created"), first.text
    order = session.get(Order, first.json()["order_id"])
    assert order.data["weight"] == 12.5 and order.data["items"][0]["line"] == 39.98

    again = _post(client, "shop", source["secret"], body, delivery="d-2")
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged"), again.text

    heavier = _post(client, "shop", source["secret"], {**body, "data": {"weight": 13.25}}, delivery="d-3")
    assert heavier.json()["outcome"] == "updated"
    session.expire_all()
    assert session.get(Order, first.json()["order_id"]).data["weight"] == 13.25
