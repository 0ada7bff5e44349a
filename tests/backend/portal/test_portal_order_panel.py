"""The staff order page's "Outside parties" panel (issue 16, finishing touches): whoever may see the
order sees its portal links; admins and the order's owner copy, revoke (audited as on Admin →
Portal) and issue them; a sales rep of another team sees nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.clock import utcnow
from backend.errors import GendanError
from backend.flows import service_instance
from backend.portal import access as party_side
from backend.portal import order_links
from backend.portal import service as portal
from backend.portal.models import PortalLink
from tests.backend.portal.test_portal import actor_of, world  # noqa: F401  (the fixture)
from tests.conftest import login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user


@pytest.fixture
def owned(session, world):  # noqa: F811
    """An order of a sales rep, waiting at the supplier's step, with a live link."""
    rep = make_user(session, username="pp.owner", roles=["sales"], locale="en")
    order = make_order(session, owner=rep, customer=make_customer(session), data={"production_progress": 10})
    service_instance.start_flow(session, order=order, actor=world["admin"], now=utcnow(), key="portal_order")
    session.commit()
    link = portal.issue_link(session, actor=world["admin"], party_id=world["supplier"].id, order_id=order.id,
                             node_key="production", days=14, now=utcnow())
    return {"rep": rep, "order": order, "link": link, **world}


def test_the_owner_sees_copies_and_revokes_the_orders_link(client, session, owned):
    order, link = owned["order"], owned["link"]
    login(client, "pp.owner")
    page = client.get(f"/orders/{order.id}")
    assert page.status_code == 200 and f"/orders/{order.id}/portal-links" in page.text
    panel = client.get(f"/orders/{order.id}/portal-links")
    assert panel.status_code == 200 and "Outside parties" in panel.text and "Acme Castings" in panel.text
    assert f"/p/{link.token}" in panel.text and 'data-state="live"' in panel.text and "Production" in panel.text
    assert "Issue link" not in panel.text  # a live link exists
    revoked = client.post(f"/orders/{order.id}/portal-links/{link.id}/revoke", headers={"HX-Request": "true"})
    assert revoked.status_code == 200 and 'data-state="revoked"' in revoked.text
    assert f"/p/{link.token}" not in revoked.text and "The link was revoked." in revoked.text
    session.expire_all()
    row = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "portal_link",
                                                AuditEvent.entity_key == str(link.id),
                                                AuditEvent.action == "revoke")).scalars().one()
    assert row.actor_id == owned["rep"].id
    with pytest.raises(GendanError) as err:
        party_side.view(session, token=link.token, now=utcnow())
    assert err.value.code == "portal.not_found"
    assert client.get(f"/p/{link.token}").status_code == 404
    # the step still waits and no live link: the owner may issue a new one
    assert "Issue link" in revoked.text
    issued = client.post(f"/orders/{order.id}/portal-links", data={"node_key": "production"},
                         headers={"HX-Request": "true"})
    assert issued.status_code == 200 and "The link was issued." in issued.text
    fresh = session.exec(select(PortalLink).where(PortalLink.order_id == order.id, PortalLink.revoked_at.is_(None))
                         ).scalars().one()
    assert f"/p/{fresh.token}" in issued.text and client.get(f"/p/{fresh.token}").status_code == 200
    again = client.post(f"/orders/{order.id}/portal-links", data={"node_key": "production"},
                        headers={"HX-Request": "true"})
    assert again.status_code == 409 and "already holds a live link" in again.text
    bad = client.post(f"/orders/{order.id}/portal-links", data={"node_key": "shipping"},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 422


def test_a_sales_rep_of_another_team_sees_no_panel_and_cannot_revoke(client, session, owned):
    order, link = owned["order"], owned["link"]
    make_user(session, username="pp.stranger", roles=["sales"], locale="en")
    session.commit()
    login(client, "pp.stranger")
    assert client.get(f"/orders/{order.id}/portal-links").status_code == 404
    assert client.get(f"/orders/{order.id}").status_code == 404
    assert client.post(f"/orders/{order.id}/portal-links/{link.id}/revoke").status_code == 404
    assert client.post(f"/orders/{order.id}/portal-links", data={"node_key": "production"}).status_code == 404
    session.expire_all()
    assert session.get(PortalLink, link.id).revoked_at is None


def test_who_sees_the_order_sees_the_links_but_only_managers_get_the_token(client, session, owned):
    order, link = owned["order"], owned["link"]
    viewer = make_user(session, username="pp.viewer", roles=["viewer"], locale="zh_CN")
    session.commit()
    view = order_links.order_links(session, actor=actor_of(viewer, "viewer"), order_id=order.id, now=utcnow())
    assert not view.can_manage and view.links[0].token is None and view.issuable == []
    with pytest.raises(GendanError) as err:
        order_links.revoke(session, actor=actor_of(viewer, "viewer"), order_id=order.id, link_id=link.id,
                           now=utcnow())
    assert err.value.code == "auth.forbidden"
    login(client, "pp.viewer")
    panel = client.get(f"/orders/{order.id}/portal-links")
    assert panel.status_code == 200 and "外部协作方" in panel.text and "有效" in panel.text
    assert link.token not in panel.text and "portal-revoke" not in panel.text
    # a link of another order is not this order's to revoke
    other = make_order(session, owner=owned["rep"], customer=make_customer(session))
    session.commit()
    with pytest.raises(GendanError) as err:
        order_links.revoke(session, actor=owned["admin"], order_id=other.id, link_id=link.id, now=utcnow())
    assert err.value.code == "portal.link_not_found"


def test_an_order_without_links_shows_nothing(client, session, owned):
    plain = make_order(session, owner=owned["rep"], customer=make_customer(session))
    session.commit()
    login(client, "pp.owner")
    panel = client.get(f"/orders/{plain.id}/portal-links")
    assert panel.status_code == 200 and panel.text == ""
