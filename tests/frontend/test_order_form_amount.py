"""The new order page: the order's amount is the line items' total when there are lines (shown live
beside Save), and a save with nothing filled in names every missing field at once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from backend.auth.service import load_actor
from backend.forms import service as forms_service
from backend.orders.models import Order
from tests.conftest import login
from tests.factories.orders import make_customer
from tests.factories.people import make_user

FORM = {"key": "order", "fields": [
    {"key": "product", "type": "text", "required": True, "label": {"en": "Product", "zh-CN": "产品"}},
    {"key": "quantity", "type": "number", "required": True, "label": {"en": "Quantity", "zh-CN": "数量"}},
    {"key": "unit_price", "type": "number", "required": True, "label": {"en": "Unit price", "zh-CN": "单价"}},
    {"key": "amount", "type": "computed", "result_type": "money", "label": {"en": "Amount", "zh-CN": "金额"},
     "expression": {"*": [{"var": "quantity"}, {"var": "unit_price"}]}},
    {"key": "items", "type": "line_items", "label": {"en": "Items", "zh-CN": "明细"}, "totals": ["line"], "columns": [
        {"key": "qty", "type": "number", "label": {"en": "Qty", "zh-CN": "数量"}},
        {"key": "price", "type": "money", "label": {"en": "Price", "zh-CN": "单价"}},
        {"key": "line", "type": "computed", "result_type": "money", "label": {"en": "Line", "zh-CN": "小计"},
         "expression": {"*": [{"var": "qty"}, {"var": "price"}]}}]},
]}
EN = {"Accept-Language": "en"}


def _publish(session) -> None:
    actor = load_actor(session, make_user(session, roles=["designer"]).id)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    forms_service.save_draft(session, actor=actor, key="order", now=now, definition=FORM)
    forms_service.publish_form(session, actor=actor, key="order", now=now)


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class TestAmountFromLineItems:
    def test_the_line_total_wins_over_quantity_times_unit_price(self, client, session):
        _publish(session)
        make_user(session, username="amount.rep", roles=["sales"], locale="en")
        customer = make_customer(session, name="Lines Co")
        session.commit()
        login(client, "amount.rep")
        form = {"csrf_token": _token(client.get("/orders/new").text), "customer_id": str(customer.id),
                "product": "Valve", "quantity": "100", "unit_price": "120",  # 12,000
                "items.0.qty": "60", "items.0.price": "100", "items.1.qty": "20", "items.1.price": "120",  # 8,400
                "items.2.qty": "", "items.2.price": ""}  # a blank row left at the end
        live = client.post("/orders/new/evaluate", data=form, headers={"HX-Request": "true", **EN})
        shown = re.search(r'<output id="orders-amount" hx-swap-oob="innerHTML">([^<]*)</output>', live.text)
        assert shown.group(1) == "CN¥8,400.00"
        saved = client.post("/orders/new", data=form, follow_redirects=False)
        assert saved.status_code == 303, saved.text
        order = session.get(Order, int(saved.headers["location"].rsplit("/", 1)[1]))
        assert order.amount == Decimal("8400.00")
        assert len(order.data["items"]) == 2

    def test_without_lines_the_computed_amount_is_kept(self, client, session):
        _publish(session)
        make_user(session, username="amount.rep2", roles=["sales"], locale="en")
        customer = make_customer(session, name="No Lines Co")
        session.commit()
        login(client, "amount.rep2")
        form = {"csrf_token": _token(client.get("/orders/new").text), "customer_id": str(customer.id),
                "product": "Valve", "quantity": "3", "unit_price": "20", "items.0.qty": "", "items.0.price": ""}
        saved = client.post("/orders/new", data=form, follow_redirects=False)
        assert saved.status_code == 303, saved.text
        assert session.get(Order, int(saved.headers["location"].rsplit("/", 1)[1])).amount == Decimal("60.00")

    def test_a_negative_line_price_is_refused_and_kept_in_the_box(self, client, session):
        _publish(session)
        make_user(session, username="amount.rep3", roles=["sales"], locale="en")
        customer = make_customer(session, name="Negative Co")
        session.commit()
        login(client, "amount.rep3")
        form = {"csrf_token": _token(client.get("/orders/new").text), "customer_id": str(customer.id),
                "product": "Valve", "quantity": "1", "unit_price": "1", "items.0.qty": "2", "items.0.price": "-5"}
        refused = client.post("/orders/new", data=form, headers=EN)
        assert refused.status_code == 422
        assert re.search(r'id="err-form-items-0-price"[^>]*>([^<]*)<', refused.text).group(1) == "Must be at least 0."
        assert 'value="-5"' in refused.text


class TestEveryMissingFieldAtOnce:
    def test_an_empty_save_names_the_customer_and_every_required_field(self, client, session):
        _publish(session)
        make_user(session, username="missing.rep", roles=["sales"], locale="en")
        session.commit()
        login(client, "missing.rep")
        refused = client.post("/orders/new", data={"csrf_token": _token(client.get("/orders/new").text)}, headers=EN)
        assert refused.status_code == 422
        errors = dict(re.findall(r'id="err-form-([\w-]+)"[^>]*>([^<]+)<', refused.text))
        assert set(errors) == {"customer_id", "product", "quantity", "unit_price"}, errors
