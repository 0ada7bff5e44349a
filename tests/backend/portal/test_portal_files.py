"""Files from an external party on their step (issue 16, finishing touches): a delivery note and a
photo into the attachment / image fields the node grants them, through the form attachment storage,
within the field's limits; shown on the staff order page. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from backend.clock import utcnow
from backend.errors import GendanError
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.forms import service as forms_service
from backend.orders.models import Order
from backend.portal import attachments
from backend.portal import service as portal
from tests.backend.portal.test_portal import FORM, supplier_flow, world  # noqa: F401  (the fixture)
from tests.conftest import _csrf_from, login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def filed(client, session, now, world, tmp_path):  # noqa: F811
    client.app.state.settings.upload_dir = tmp_path
    admin = world["admin"]
    form = {**FORM, "fields": [*FORM["fields"],
                               {"key": "delivery_note", "type": "attachment", "max_file_size": 2000, "max": 2,
                                "label": {"en": "Delivery note", "zh-CN": "送货单"}},
                               {"key": "goods_photo", "type": "image", "label": {"en": "Goods photo", "zh-CN": "货物照片"}},
                               {"key": "contract_scan", "type": "attachment", "label": {"en": "Contract"}}]}
    forms_service.save_draft(session, actor=admin, key="order", definition=form, now=now)
    version = forms_service.publish_form(session, actor=admin, key="order", now=now)
    flow = supplier_flow(world["supplier"].id)
    flow["key"] = "portal_files"
    flow["nodes"][1]["field_permissions"] = {"data.production_progress": "editable",
                                             "data.delivery_note": "editable", "data.goods_photo": "editable",
                                             "data.contract_scan": "read_only"}
    flows_service.save_draft(session, actor=admin, key="portal_files", definition=flow, now=now)
    flows_service.publish_flow(session, actor=admin, key="portal_files", now=now)
    owner = make_user(session, username="pf.owner", roles=["sales"], locale="en")
    order = make_order(session, owner=owner, customer=make_customer(session), form_key="order",
                       form_version=version.version, data={"production_progress": 10})
    service_instance.start_flow(session, order=order, actor=admin, now=utcnow(), key="portal_files")
    session.commit()
    link = portal.issue_link(session, actor=admin, party_id=world["supplier"].id, order_id=order.id,
                             node_key="production", days=14, now=utcnow())
    return {"order": order, "link": link, **world}


def upload(client, token, key, name, content, content_type):
    page = client.get(f"/p/{token}")
    assert page.status_code == 200
    return client.post(f"/p/{token}/files/{key}", data={"csrf_token": _csrf_from(page.text)},
                       files={"file": (name, content, content_type)}, follow_redirects=False)


def test_the_supplier_uploads_a_delivery_note_and_a_photo_seen_on_the_order_page(client, session, filed):
    token, order = filed["link"].token, filed["order"]
    page = client.get(f"/p/{token}")
    assert f'action="/p/{token}/files/delivery_note"' in page.text and "Goods photo" in page.text
    assert "/files/contract_scan" not in page.text  # read only: no upload
    assert 'name="f_delivery_note"' not in page.text  # never a text box for a file field
    done = upload(client, token, "delivery_note", "note.pdf", b"%PDF-1.4 delivery", "application/pdf")
    assert done.status_code == 303 and done.headers["location"] == f"/p/{token}?saved=1"
    assert upload(client, token, "goods_photo", "crate.png", PNG, "image/png").status_code == 303
    session.expire_all()
    data = session.get(Order, order.id).data
    assert [f["name"] for f in data["delivery_note"]] == ["note.pdf"] and data["goods_photo"][0]["size"] == len(PNG)
    assert "note.pdf" in client.get(f"/p/{token}").text
    # the staff order page shows them, downloadable by signed-in staff
    login(client, "pf.owner")
    staff = client.get(f"/orders/{order.id}")
    assert "note.pdf" in staff.text and f"/api/v1/forms/files/{data['delivery_note'][0]['id']}" in staff.text
    assert client.get(f"/api/v1/forms/files/{data['goods_photo'][0]['id']}").content == PNG


def test_the_fields_limits_hold_and_only_granted_fields_take_files(client, session, filed):
    token = filed["link"].token
    too_big = upload(client, token, "delivery_note", "big.pdf", b"x" * 2001, "application/pdf")
    assert too_big.status_code == 422 and "big.pdf" in too_big.text
    not_image = upload(client, token, "goods_photo", "x.svg", b"<svg/>", "image/svg+xml")
    assert not_image.status_code == 422
    assert upload(client, token, "contract_scan", "c.pdf", b"%PDF", "application/pdf").status_code == 403
    assert upload(client, token, "margin_note", "m.txt", b"x", "text/plain").status_code == 403
    empty = upload(client, token, "delivery_note", "e.pdf", b"", "application/pdf")
    assert empty.status_code == 422 and "Choose a file first." in empty.text
    for n in range(2):
        assert upload(client, token, "delivery_note", f"n{n}.pdf", b"%PDF", "application/pdf").status_code == 303
    third = upload(client, token, "delivery_note", "n3.pdf", b"%PDF", "application/pdf")
    assert third.status_code == 422
    assert client.post(f"/p/{token[:-1]}x/files/delivery_note", files={"file": ("a", b"a", "text/plain")},
                       headers={"X-CSRF-Token": _csrf_from(client.get(f"/p/{token}").text)}).status_code == 404


def test_a_closed_step_takes_no_more_files(session, filed, tmp_path):
    token = filed["link"].token
    from backend.portal import access as party_side

    party_side.submit(session, token=token, values={"production_progress": "100"}, now=utcnow())
    with pytest.raises(GendanError) as err:
        attachments.attach(session, token=token, key="delivery_note", name="late.pdf", content_type="application/pdf",
                           content=b"%PDF", upload_dir=tmp_path, body_limit=10_000, now=utcnow())
    assert err.value.code == "portal.step_closed"


def test_a_portal_user_uploads_on_their_companys_order(client, session, now, filed):
    from backend.portal import users as portal_users

    portal_users.create_user(session, actor=filed["admin"], party_id=filed["supplier"].id, username="pf.li",
                             display_name="Li at Acme", password="correct horse", now=now)
    page = client.get("/portal/login")
    client.post("/portal/login", data={"username": "pf.li", "password": "correct horse",
                                       "csrf_token": _csrf_from(page.text)})
    order_id = filed["order"].id
    page = client.get(f"/portal/orders/{order_id}")
    assert f'action="/portal/orders/{order_id}/files/delivery_note"' in page.text
    done = client.post(f"/portal/orders/{order_id}/files/delivery_note", data={"csrf_token": _csrf_from(page.text)},
                       files={"file": ("li.pdf", b"%PDF li", "application/pdf")}, follow_redirects=False)
    assert done.status_code == 303
    session.expire_all()
    assert session.get(Order, order_id).data["delivery_note"][0]["name"] == "li.pdf"
    other = make_order(session, owner=make_user(session), customer=make_customer(session))
    session.commit()
    assert client.post(f"/portal/orders/{other.id}/files/delivery_note", data={"csrf_token": _csrf_from(page.text)},
                       files={"file": ("x.pdf", b"%PDF", "application/pdf")}).status_code == 404
