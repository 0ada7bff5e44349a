"""A step given to *the order's own* supplier (`external.party_field`, backend/portal/order_party.py):
the company is the one whose name the order's field holds, per order. The job issues each order's
link to that order's supplier; a link of supplier A opens nothing once the order names B (the same
404 as a foreign order); no company of that name → no link, and the order page's panel says why,
in English and Chinese. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.flows.models import FlowInstance
from backend.forms import service as forms_service
from backend.notify.models import OutboxMessage
from backend.orders import service as orders_service
from backend.orders.schemas import OrderUpdate
from backend.portal import access as party_side
from backend.portal import order_links
from backend.portal import service as portal
from backend.portal import tasks as portal_tasks
from backend.portal.models import PortalLink
from backend.portal.order_party import name_key, party_for
from engine.flows.definition import ExternalAccess
from tests.backend.portal.test_portal import FORM, actor_of, assert_not_found, supplier_flow
from tests.conftest import login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

BY_FIELD = ExternalAccess(kind="supplier", party_field="data.supplier", done_field="data.production_progress")
FIELD_FORM = {**FORM, "fields": [*FORM["fields"], {"key": "supplier", "type": "text",
                                                   "label": {"en": "Supplier", "zh-CN": "供应商"}}]}


def field_flow() -> dict:
    flow = supplier_flow(1)
    flow["key"] = "pf_order"
    flow["nodes"][1]["external"] = {"kind": "supplier", "party_field": "data.supplier",
                                    "done_field": "data.production_progress", "done_at": 100}
    return flow


@pytest.fixture
def pf(session, now):
    admin_user = make_user(session, roles=["admin", "designer"])
    admin = actor_of(admin_user, "admin", "designer")
    owner = make_user(session, username="pf.owner", roles=["sales"], locale="en")
    acme = portal.create_party(session, actor=admin, values={"kind": "supplier", "name": "Acme Castings",
                                                             "email": "ops@acme.example", "locale": "en"}, now=now)
    forge = portal.create_party(session, actor=admin, values={"kind": "supplier", "name": "Other Forge",
                                                              "email": "sales@forge.example"}, now=now)
    forms_service.save_draft(session, actor=admin, key="order", definition=FIELD_FORM, now=now)
    forms_service.publish_form(session, actor=admin, key="order", now=now)
    flows_service.save_draft(session, actor=admin, key="pf_order", definition=field_flow(), now=now)
    flows_service.publish_flow(session, actor=admin, key="pf_order", now=now)
    customer = make_customer(session)
    orders = {}
    for name, supplier in (("acme", " acme castings "), ("forge", "Other Forge"), ("nobody", "Nobody Ltd"),
                           ("empty", "")):
        order = make_order(session, owner=owner, customer=customer,
                           data={"supplier": supplier, "production_progress": 10, "margin_note": "x"})
        service_instance.start_flow(session, order=order, actor=admin, now=now, key="pf_order")
        orders[name] = order
    session.commit()
    return {"admin": admin, "acme": acme, "forge": forge, "orders": orders, "owner": owner}


def set_supplier(session, pf, order, value, now):
    orders_service.update_order(session, actor=pf["admin"], order_id=order.id,
                                payload=OrderUpdate(data={"supplier": value}, version=order.version), now=now)
    session.refresh(order)


class TestResolution:
    def test_the_name_rule_is_trimmed_width_and_case_blind_and_otherwise_exact(self):
        assert name_key("  ACME Castings ") == name_key("acme castings") == name_key("ＡＣＭＥ Castings")
        assert name_key("Acme  Castings") != name_key("Acme Castings")
        assert name_key("上海精工") == name_key(" 上海精工")

    def test_each_order_resolves_to_its_own_supplier_or_says_why_not(self, session, pf):
        orders = pf["orders"]
        assert party_for(session, BY_FIELD, orders["acme"]).party.id == pf["acme"].id
        assert party_for(session, BY_FIELD, orders["forge"]).party.id == pf["forge"].id
        nobody = party_for(session, BY_FIELD, orders["nobody"])
        assert (nobody.party, nobody.reason, nobody.value) == (None, "no_match", "Nobody Ltd")
        assert party_for(session, BY_FIELD, orders["empty"]).reason == "field_empty"
        carrier = ExternalAccess(kind="carrier", party_field="data.supplier")
        assert party_for(session, carrier, orders["acme"]).reason == "no_match"  # a supplier is no carrier

    def test_a_switched_off_party_is_not_found_and_two_of_one_name_are_ambiguous(self, session, now, pf):
        portal.update_party(session, actor=pf["admin"], party_id=pf["forge"].id, values={"is_active": False},
                            now=now)
        assert party_for(session, BY_FIELD, pf["orders"]["forge"]).reason == "no_match"
        portal.create_party(session, actor=pf["admin"], values={"kind": "supplier", "name": "ACME castings"},
                            now=now)
        twice = party_for(session, BY_FIELD, pf["orders"]["acme"])
        assert (twice.party, twice.reason) == (None, "ambiguous")


class TestAccess:
    def test_only_the_orders_own_supplier_gets_and_uses_a_link(self, session, now, pf):
        order = pf["orders"]["acme"]
        link = portal.issue_link(session, actor=pf["admin"], party_id=pf["acme"].id, order_id=order.id,
                                 node_key="production", days=14, now=now)
        assert party_side.view(session, token=link.token, now=now).order_number == order.number
        with pytest.raises(Exception) as err:
            portal.issue_link(session, actor=pf["admin"], party_id=pf["forge"].id, order_id=order.id,
                              node_key="production", days=14, now=now)
        assert err.value.code == "portal.node_not_granted"
        session.rollback()

    def test_another_suppliers_link_is_the_same_not_found_as_a_foreign_order(self, session, now, pf):
        # Other Forge holds a link for its own order; it opens nothing of Acme's order
        forge_link = portal.issue_link(session, actor=pf["admin"], party_id=pf["forge"].id,
                                       order_id=pf["orders"]["forge"].id, node_key="production", days=14, now=now)
        assert_not_found(lambda: party_side.view(session, token=forge_link.token, now=now,
                                                 order_id=pf["orders"]["acme"].id))
        inbox = portal.issue_link(session, actor=pf["admin"], party_id=pf["forge"].id, order_id=None, node_key=None,
                                  days=14, now=now)
        assert_not_found(lambda: party_side.view(session, token=inbox.token, now=now,
                                                 order_id=pf["orders"]["acme"].id))

    def test_when_the_field_changes_the_old_supplier_loses_access(self, client, session, now, pf):
        order = pf["orders"]["acme"]
        link = portal.issue_link(session, actor=pf["admin"], party_id=pf["acme"].id, order_id=order.id,
                                 node_key="production", days=14, now=now)
        inbox = portal.issue_link(session, actor=pf["admin"], party_id=pf["acme"].id, order_id=None, node_key=None,
                                  days=14, now=now)
        assert client.get(f"/p/{link.token}").status_code == 200
        set_supplier(session, pf, order, "Other Forge", now)
        assert_not_found(lambda: party_side.view(session, token=link.token, now=now))
        assert_not_found(lambda: party_side.submit(session, token=link.token, values={"production_progress": "50"},
                                                   now=now))
        assert_not_found(lambda: party_side.view(session, token=inbox.token, now=now, order_id=order.id))
        assert party_side.inbox(session, token=inbox.token, now=now)[1] == []
        gone = client.get(f"/p/{link.token}")
        assert gone.status_code == 404 and order.number not in gone.text
        # the field names Acme again: its link (never revoked) opens the order again
        set_supplier(session, pf, order, "Acme Castings", now)
        assert party_side.view(session, token=link.token, now=now).order_number == order.number

    def test_an_order_naming_no_company_gives_no_link(self, session, now, pf):
        for key in ("nobody", "empty"):
            with pytest.raises(Exception) as err:
                portal.issue_link(session, actor=pf["admin"], party_id=pf["acme"].id, order_id=pf["orders"][key].id,
                                  node_key="production", days=14, now=now)
            assert err.value.code == "portal.node_not_granted"
            session.rollback()


class TestDueLinks:
    def test_the_job_gives_each_order_its_own_suppliers_link(self, session, connection, now, pf):
        assert portal_tasks.issue_due_links(connection, now, base_url="https://g.example") == 2
        session.expire_all()
        links = {(link.order_id, link.party_id) for link in session.exec(select(PortalLink)).scalars()}
        orders = pf["orders"]
        assert links == {(orders["acme"].id, pf["acme"].id), (orders["forge"].id, pf["forge"].id)}
        mails = {m.recipient for m in session.exec(select(OutboxMessage).where(
            OutboxMessage.dedupe_key.like("portal:link:%"))).scalars()}
        assert mails == {"ops@acme.example", "sales@forge.example"}
        assert portal_tasks.issue_due_links(connection, now, base_url="https://g.example") == 0

    def test_a_supplier_filled_in_or_changed_later_gets_its_link(self, session, connection, now, pf):
        assert portal_tasks.issue_due_links(connection, now) == 2
        later = now + timedelta(hours=1)  # the flows changed long ago; only the orders change now
        session.expire_all()
        assert all(i.updated_at < later - portal_tasks.AUTO_WINDOW
                   for i in session.exec(select(FlowInstance)).scalars())
        assert portal_tasks.issue_due_links(connection, later) == 0
        set_supplier(session, pf, pf["orders"]["empty"], "Other Forge", later)
        set_supplier(session, pf, pf["orders"]["acme"], "Other Forge", later)
        assert portal_tasks.issue_due_links(connection, later) == 2
        session.expire_all()
        forge_orders = {link.order_id for link in session.exec(select(PortalLink).where(
            PortalLink.party_id == pf["forge"].id)).scalars()}
        assert forge_orders == {pf["orders"][k].id for k in ("forge", "empty", "acme")}


class TestOrderPanel:
    def test_the_panel_says_why_no_link_in_english_and_chinese(self, client, session, pf):
        login(client, "pf.owner")
        for key, words in (("nobody", ("Nobody Ltd", "no active company (Supplier)", 'data-reason="no_match"')),
                           ("empty", ("which is empty", 'data-reason="field_empty"'))):
            panel = client.get(f"/orders/{pf['orders'][key].id}/portal-links")
            assert panel.status_code == 200 and "Issue link" not in panel.text
            for word in words:
                assert word in panel.text, (key, word)
        make_user(session, username="pf.viewer", roles=["viewer"], locale="zh_CN")
        session.commit()
        login(client, "pf.viewer")
        panel = client.get(f"/orders/{pf['orders']['nobody'].id}/portal-links")
        assert "没有名为“Nobody Ltd”的启用中单位（供应商）" in panel.text and "生产" in panel.text

    def test_the_panel_issues_to_the_orders_supplier_and_marks_a_moved_link(self, client, session, now, pf):
        order = pf["orders"]["acme"]
        login(client, "pf.owner")
        panel = client.get(f"/orders/{order.id}/portal-links")
        assert "is given to Acme Castings, who has no live link" in panel.text
        issued = client.post(f"/orders/{order.id}/portal-links", data={"node_key": "production"},
                             headers={"HX-Request": "true"})
        assert issued.status_code == 200 and "The link was issued." in issued.text
        set_supplier(session, pf, order, "other forge", now)
        view = order_links.order_links(session, actor=pf["admin"], order_id=order.id, now=now)
        assert [(r.party_name, r.state) for r in view.links] == [("Acme Castings", "moved")]
        assert [(i.party_name, i.node_key) for i in view.issuable] == [("Other Forge", "production")]
        panel = client.get(f"/orders/{order.id}/portal-links")
        assert 'data-state="moved"' in panel.text and "Not this order's company any more" in panel.text
        assert "is given to Other Forge, who has no live link" in panel.text
