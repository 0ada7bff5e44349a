"""A template's lines fill the order form's line-items table when the form has one of the template's
key (`vendor_lines`), through the connector form (saving merges the form's mapping parts into the
template's, then the saved one's: `line_columns` are kept)."""

from __future__ import annotations

from sqlalchemy import select

from backend.connectors.models import Connector
from backend.forms import service as forms_service
from backend.orders.models import Order
from tests.backend.connectors.vendors.test_template_pages import _admin, _fields, k3  # noqa: F401
from tests.factories.vendor_sources import FakeKingdee

FORM = {"key": "order", "fields": [
    {"key": "vendor_lines", "type": "line_items", "label": {"zh-CN": "明细", "en": "Lines"}, "columns": [
        {"key": "sku", "type": "text", "label": {"zh-CN": "物料", "en": "SKU"}},
        {"key": "quantity", "type": "number", "label": {"zh-CN": "数量", "en": "Quantity"}},
        {"key": "price", "type": "money", "label": {"zh-CN": "单价", "en": "Price"}}]}]}


def test_kingdee_lines_fill_the_line_items_table(session, client, k3):  # noqa: F811
    from backend.auth.service import load_actor

    user = _admin(session, client)
    actor, now = load_actor(session, user.id), __import__("datetime").datetime.now(__import__("datetime").UTC)
    forms_service.save_draft(session, actor=actor, key="order", now=now, definition=FORM)
    forms_service.publish_form(session, actor=actor, key="order", now=now)
    session.commit()
    form = _fields(client.get("/admin/connectors/new?template=kingdee_k3cloud").text)
    assert "mapping_extra" not in form  # nothing of the mapping rides the page hidden
    form.update({"name": "lines k3", "base_url": k3.base, "opt_acct_id": FakeKingdee.ACCT,
                 "opt_username": FakeKingdee.USER, "password": FakeKingdee.PASSWORD,
                 "initial_since": "2026-11-23 00:00:00", "rate_limit_per_second": "50"})
    assert client.post("/admin/connectors", data=form, follow_redirects=False).status_code == 303
    connector = session.exec(select(Connector).where(Connector.name == "lines k3")).scalar_one()
    assert connector.mapping["line_columns"]["vendor_lines"]["quantity"] == "FQty"
    # an edit keeps them
    edit = _fields(client.get(f"/admin/connectors/{connector.id}/edit").text)
    edit.update({"schedule_minutes": "30", "password": ""})
    assert client.post(f"/admin/connectors/{connector.id}", data=edit, follow_redirects=False).status_code == 303
    session.expire_all()
    assert session.get(Connector, connector.id).mapping["line_columns"]["vendor_lines"]["sku"] == "FMaterialId_FNumber"
    client.post(f"/admin/connectors/{connector.id}/run", follow_redirects=True)
    session.expire_all()
    order = session.exec(select(Order).where(Order.external_id == "PG-K2")).scalar_one()
    assert order.data["vendor_lines"] == [{"sku": "M1", "quantity": 2, "price": 10}]
