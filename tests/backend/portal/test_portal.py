"""The supplier and carrier portal: a flow node given to an external party, its links (random,
expiring, revocable, bound to party + order + node), field permissions (never a field the node did
not grant, by page and by API), saves through the order pipeline (rules hear them; 100% completes
the node as the party, in the audit), and the same 404 for every bad link. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.flows import service as flows_service
from backend.flows import service_instance
from backend.flows.models import FlowInstance
from backend.forms import service as forms_service
from backend.notify.models import OutboxMessage
from backend.orders.models import Order, OrderEvent
from backend.portal import access as party_side
from backend.portal import service as portal
from backend.portal import tasks as portal_tasks
from backend.portal.models import PortalLink
from backend.rules import definitions as rule_definitions
from backend.rules.models import RuleFiring
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

SECRET = "MARGIN-42-SECRET"
FORM = {"key": "order", "fields": [
    {"key": "production_progress", "type": "percent", "label": {"en": "Production progress", "zh-CN": "生产进度"},
     "min": 0, "max": 100},
    {"key": "planned_finish_on", "type": "date", "label": {"en": "Planned completion", "zh-CN": "计划完工"}},
    {"key": "material_arrived_on", "type": "date", "label": {"en": "Material arrived", "zh-CN": "材料到货"}},
    {"key": "margin_note", "type": "text", "label": {"en": "Margin note", "zh-CN": "利润备注"}}]}


def actor_of(user, *roles) -> Actor:
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                 roles=frozenset(roles or ("admin",)))


def supplier_flow(party_id: int) -> dict:
    return {"key": "portal_order", "nodes": [
        {"type": "start", "key": "start", "stage": "draft"},
        {"type": "task", "key": "production", "name": {"en": "Production", "zh-CN": "生产"}, "stage": "production",
         "assignees": [{"kind": "role", "role": "warehouse"}],
         "field_permissions": {"data.production_progress": "editable", "data.planned_finish_on": "editable",
                               "data.material_arrived_on": "read_only", "data.margin_note": "hidden",
                               "planned_delivery": "read_only"},
         "external": {"kind": "supplier", "party_id": party_id, "done_field": "data.production_progress",
                      "done_at": 100}},
        {"type": "task", "key": "shipping", "stage": "shipping", "assignees": [{"kind": "role", "role": "warehouse"}]},
        {"type": "end", "key": "end", "stage": "completed"}],
        "edges": [{"key": "e1", "source": "start", "target": "production"},
                  {"key": "e2", "source": "production", "target": "shipping"},
                  {"key": "e3", "source": "shipping", "target": "end"}]}


@pytest.fixture
def world(session, now):
    admin_user = make_user(session, roles=["admin", "designer"])
    admin = actor_of(admin_user, "admin", "designer")
    warehouse = make_user(session, roles=["warehouse"])
    supplier = portal.create_party(session, actor=admin, values={"kind": "supplier", "name": "Acme Castings",
                                                                 "email": "ops@acme.example", "locale": "en"}, now=now)
    other = portal.create_party(session, actor=admin, values={"kind": "supplier", "name": "Other Forge"}, now=now)
    forms_service.save_draft(session, actor=admin, key="order", definition=FORM, now=now)
    forms_service.publish_form(session, actor=admin, key="order", now=now)
    flows_service.save_draft(session, actor=admin, key="portal_order", definition=supplier_flow(supplier.id), now=now)
    flows_service.publish_flow(session, actor=admin, key="portal_order", now=now)
    customer = make_customer(session)
    orders = []
    for _n in range(2):
        order = make_order(session, owner=warehouse, customer=customer, data={
            "margin_note": SECRET, "material_arrived_on": "2026-11-20", "production_progress": 10})
        service_instance.start_flow(session, order=order, actor=admin, now=now, key="portal_order")
        orders.append(order)
    session.commit()
    return {"admin": admin, "supplier": supplier, "other": other, "orders": orders}


def link_for(session, world, now, order=None, party=None, **kw):
    order = order or world["orders"][0]
    return portal.issue_link(session, actor=world["admin"], party_id=(party or world["supplier"]).id,
                             order_id=order.id, node_key="production", days=kw.pop("days", 14), now=now, **kw)


def assert_not_found(fn):
    with pytest.raises(GendanError) as err:
        fn()
    assert err.value.code == "portal.not_found" and err.value.params == {}


class TestLinks:
    def test_a_link_is_random_bound_and_told_by_email(self, session, now, world):
        link = link_for(session, world, now, base_url="https://gendan.example")
        assert portal.TOKEN_RE.match(link.token) and link.node_key == "production"
        assert link.expires_at == now + timedelta(days=14)
        mail = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"portal:link:{link.id}")).scalar_one()
        assert mail.recipient == "ops@acme.example" and mail.payload["link"].endswith(f"/p/{link.token}")

    def test_a_node_not_given_to_the_party_gets_no_link(self, session, now, world):
        for party, node in ((world["other"], "production"), (world["supplier"], "shipping")):
            with pytest.raises(GendanError) as err:
                link_for(session, world, now, party=party) if node == "production" else portal.issue_link(
                    session, actor=world["admin"], party_id=party.id, order_id=world["orders"][0].id,
                    node_key=node, days=14, now=now)
            assert err.value.code == "portal.node_not_granted"
            session.rollback()

    def test_only_admins_keep_parties_and_links(self, session, now, world):
        rep = make_user(session, roles=["sales"])
        with pytest.raises(GendanError) as err:
            portal.issue_link(session, actor=actor_of(rep, "sales"), party_id=world["supplier"].id,
                              order_id=world["orders"][0].id, node_key="production", days=14, now=now)
        assert err.value.code == "auth.forbidden"

    def test_tampered_expired_revoked_and_foreign_are_the_same_not_found(self, session, now, world):
        link = link_for(session, world, now, days=1)
        assert party_side.view(session, token=link.token, now=now).order_number == world["orders"][0].number
        flipped = link.token[:-1] + ("A" if link.token[-1] != "A" else "B")
        for bad in (flipped, link.token[:-1], "x" * 43, "' OR 1=1 --", ""):
            assert_not_found(lambda bad=bad: party_side.view(session, token=bad, now=now))
        assert_not_found(lambda: party_side.view(session, token=link.token, now=now + timedelta(days=1, seconds=1)))
        # an order link never opens another order, not even the same party's
        assert_not_found(lambda: party_side.view(session, token=link.token, now=now, order_id=world["orders"][1].id))
        portal.revoke_link(session, actor=world["admin"], link_id=link.id, now=now)
        assert_not_found(lambda: party_side.view(session, token=link.token, now=now))
        assert_not_found(lambda: party_side.submit(session, token=link.token, values={"production_progress": "50"},
                                               now=now))

    def test_an_inbox_link_opens_only_the_partys_own_orders(self, session, now, world):
        link_for(session, world, now)  # order 0 for Acme
        foreign = link_for(session, world, now, order=world["orders"][1])
        inbox = portal.issue_link(session, actor=world["admin"], party_id=world["supplier"].id, order_id=None,
                                  node_key=None, days=30, now=now)
        party, rows = party_side.inbox(session, token=inbox.token, now=now)
        assert {r.order_number for r in rows} == {o.number for o in world["orders"]} and all(r.is_open for r in rows)
        portal.revoke_link(session, actor=world["admin"], link_id=foreign.id, now=now)
        _, rows = party_side.inbox(session, token=inbox.token, now=now)
        assert [r.order_number for r in rows] == [world["orders"][0].number]
        assert party_side.view(session, token=inbox.token, now=now, order_id=world["orders"][0].id).order_number
        assert_not_found(lambda: party_side.view(session, token=inbox.token, now=now, order_id=world["orders"][1].id))
        other_inbox = portal.issue_link(session, actor=world["admin"], party_id=world["other"].id, order_id=None,
                                        node_key=None, days=30, now=now)
        assert party_side.inbox(session, token=other_inbox.token, now=now)[1] == []
        assert_not_found(lambda: party_side.view(session, token=other_inbox.token, now=now,
                                             order_id=world["orders"][0].id))


class TestFields:
    def test_only_granted_fields_are_shown_and_only_editable_ones_saved(self, session, now, world):
        link = link_for(session, world, now)
        v = party_side.view(session, token=link.token, now=now)
        shown = {f.key: f.is_editable for f in v.fields}
        assert shown == {"production_progress": True, "planned_finish_on": True, "material_arrived_on": False,
                         "planned_delivery": False}
        assert SECRET not in repr(v)
        for field in ("material_arrived_on", "margin_note", "planned_delivery", "amount", "owner_id"):
            with pytest.raises(GendanError) as err:
                party_side.submit(session, token=link.token, values={field: "2026-12-01"}, now=now)
            assert err.value.code == "portal.field_not_granted"
            session.rollback()
        order = session.get(Order, world["orders"][0].id)
        session.refresh(order)
        assert order.data["margin_note"] == SECRET and order.data["material_arrived_on"] == "2026-11-20"

    def test_a_bad_value_is_a_field_error(self, session, now, world):
        link = link_for(session, world, now)
        with pytest.raises(GendanError) as err:
            party_side.submit(session, token=link.token, values={"planned_finish_on": "next week"}, now=now)
        assert err.value.code == "validation.failed" and "planned_finish_on" in err.value.fields


class TestSaving:
    def test_progress_goes_through_the_pipeline_and_100_completes_the_step_as_the_party(self, session, now, world):
        admin = world["admin"]
        rule = {"key": "portal_progress", "name": {"en": "Progress reported"},
                "trigger": {"kind": "event", "events": ["field_changed"], "fields": ["data.production_progress"]},
                "condition": {">=": [{"var": "data.production_progress"}, 100]},
                "actions": [{"type": "add_tag", "tag": "produced"}], "firing": {"mode": "once_per_order"}}
        rule_definitions.save_draft(session, actor=admin, definition=rule, now=now)
        rule_definitions.publish_rule(session, actor=admin, key="portal_progress", now=now)
        rule_definitions.enable_rule(session, actor=admin, key="portal_progress", confirm=True, now=now)
        link = link_for(session, world, now)
        order_id = world["orders"][0].id

        v = party_side.submit(session, token=link.token, values={"production_progress": "60",
                                                             "planned_finish_on": "2026-12-20"}, now=now)
        assert v.is_open
        order = session.get(Order, order_id)
        session.refresh(order)
        assert order.data["production_progress"] == 60 and order.stage == "production"
        event = session.exec(select(OrderEvent).where(OrderEvent.order_id == order_id)
                             .order_by(OrderEvent.id.desc())).scalars().first()
        assert event.actor_id is None and "Acme Castings" in event.actor_label

        v = party_side.submit(session, token=link.token, values={"production_progress": "100"}, now=now)
        session.expire_all()
        order = session.get(Order, order_id)
        assert order.stage == "shipping" and not v.is_open
        assert "produced" in order.tags
        assert session.exec(select(RuleFiring).where(RuleFiring.rule_key == "portal_progress",
                                                     RuleFiring.order_id == order_id)).first() is not None
        instance = session.exec(select(FlowInstance).where(FlowInstance.order_id == order_id)).scalar_one()
        done = [t for t in instance.state["tasks"] if t["node_key"] == "production"]
        assert done and all(t["status"] != "pending" for t in done)
        history = str(instance.state.get("history") or instance.state)
        assert "Acme Castings" in history
        audits = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "portal_link",
                                                       AuditEvent.action == "submit")).scalars().all()
        assert len(audits) == 2 and audits[-1].after["fields"] == {"production_progress": 100}
        with pytest.raises(GendanError) as err:  # the step is done: read only
            party_side.submit(session, token=link.token, values={"production_progress": "90"}, now=now)
        assert err.value.code == "portal.step_closed"


class TestPages:
    def test_the_page_shows_only_granted_fields_and_bad_links_are_one_404(self, client, session, now, world):
        link = link_for(session, world, now)
        page = client.get(f"/p/{link.token}")
        assert page.status_code == 200 and world["orders"][0].number in page.text
        assert SECRET not in page.text and "margin_note" not in page.text and "2026-11-20" in page.text
        assert page.headers["Referrer-Policy"] == "no-referrer"
        bodies = set()
        for bad in (link.token[:-1] + ("A" if link.token[-1] != "A" else "B"), "nope",
                    f"{link.token}/orders/{world['orders'][1].id}"):
            answer = client.get(f"/p/{bad}")
            assert answer.status_code == 404 and SECRET not in answer.text
            bodies.add(answer.text.split('id="portal-not-found"', 1)[1].split("</section>", 1)[0])
        assert len(bodies) == 1

    def test_the_api_gives_the_same_fields_and_refuses_the_rest(self, client, session, now, world):
        link = link_for(session, world, now)
        answer = client.get(f"/api/v1/portal/links/{link.token}")
        assert answer.status_code == 200
        assert {f["key"] for f in answer.json()["fields"]} == {"production_progress", "planned_finish_on",
                                                                "material_arrived_on", "planned_delivery"}
        assert SECRET not in answer.text
        refused = client.post(f"/api/v1/portal/links/{link.token}", json={"values": {"margin_note": "x"}})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "portal.field_not_granted"
        saved = client.post(f"/api/v1/portal/links/{link.token}", json={"values": {"production_progress": 30}})
        assert saved.status_code == 200 and SECRET not in saved.text
        assert client.get(f"/api/v1/portal/links/{link.token}x").status_code == 404
        assert client.get(f"/api/v1/portal/links/{link.token}",
                          params={"order_id": world["orders"][1].id}).status_code == 404

    def test_too_many_requests_from_one_address_are_refused(self, client, session, now, world, monkeypatch):
        from backend.portal import router as portal_router

        monkeypatch.setattr(portal_router, "READS_PER_MINUTE", 3)
        codes = [client.get("/api/v1/portal/links/" + "x" * 43).status_code for _ in range(5)]
        assert codes[:3] == [404, 404, 404] and codes[3:] == [429, 429]


def test_links_kept_after_revoking_for_the_audit(session, now, world):
    link = link_for(session, world, now)
    portal.revoke_link(session, actor=world["admin"], link_id=link.id, now=now)
    assert session.get(PortalLink, link.id).revoked_at == now
    kinds = {(a.entity_type, a.action) for a in session.exec(select(AuditEvent)).scalars()}
    assert {("portal_link", "issue"), ("portal_link", "revoke"), ("external_party", "create")} <= kinds


class TestReminders:
    def test_a_waiting_step_is_reminded_daily_by_email_and_robot_until_done(self, session, connection, now, world):
        from backend.notify.models import ChannelConfig

        robot = ChannelConfig(name="pt-robot", kind="dingtalk", target="https://oapi.dingtalk.example/robot",
                              created_at=now, updated_at=now)
        session.add(robot)
        session.flush()
        portal.update_party(session, actor=world["admin"], party_id=world["supplier"].id,
                            values={"robot_channel_id": robot.id}, now=now)
        link = link_for(session, world, now)
        assert portal_tasks.remind_parties(connection, now + timedelta(hours=2), base_url="https://g.example") == 0
        tomorrow = now + timedelta(days=1)
        assert portal_tasks.remind_parties(connection, tomorrow, base_url="https://g.example") == 2
        assert portal_tasks.remind_parties(connection, tomorrow + timedelta(hours=1), base_url="https://g.example") == 0
        session.expire_all()
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"portal:remind:{link.id}:%"))
                            ).scalars().all()
        assert sorted(r.channel for r in rows) == ["dingtalk", "email"]
        assert all("still waiting" in r.subject and f"/p/{link.token}" in r.body for r in rows)
        party_side.submit(session, token=link.token, values={"production_progress": "100"}, now=tomorrow)
        assert portal_tasks.remind_parties(connection, now + timedelta(days=2), base_url="https://g.example") == 0

    def test_a_robot_must_be_a_chat_robot(self, session, now, world):
        from backend.notify.models import ChannelConfig

        mail = ChannelConfig(name="pt-mail", kind="email", target="smtp:25", created_at=now, updated_at=now)
        session.add(mail)
        session.flush()
        with pytest.raises(GendanError) as err:
            portal.update_party(session, actor=world["admin"], party_id=world["supplier"].id,
                                values={"robot_channel_id": mail.id}, now=now)
        assert err.value.fields["robot_channel_id"][0] == "portal.robot_invalid"


class TestAutomaticLinks:
    def test_reaching_the_node_issues_the_partys_link_once(self, session, connection, now, world):
        assert portal_tasks.issue_due_links(connection, now, base_url="https://g.example") == 2  # both orders wait
        assert portal_tasks.issue_due_links(connection, now, base_url="https://g.example") == 0
        session.expire_all()
        links = session.exec(select(PortalLink)).scalars().all()
        assert sorted(link.order_id for link in links) == sorted(o.id for o in world["orders"])
        assert {(link.party_id, link.node_key) for link in links} == {(world["supplier"].id, "production")}
        mails = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("portal:link:%"))).scalars()
        assert all(m.recipient == "ops@acme.example" for m in mails)
        inbox = portal.issue_link(session, actor=world["admin"], party_id=world["supplier"].id, order_id=None,
                                  node_key=None, days=30, now=now)
        assert len(party_side.inbox(session, token=inbox.token, now=now)[1]) == 2
        # a link the admin revoked is not handed out again behind their back
        portal.revoke_link(session, actor=world["admin"], link_id=links[0].id, now=now)
        assert portal_tasks.issue_due_links(connection, now + timedelta(minutes=1), base_url="https://g.example") == 0


class TestPortalUsers:
    def test_a_portal_user_sees_only_their_companys_orders(self, client, session, now, world):
        from backend.portal import users as portal_users
        from tests.conftest import _csrf_from

        link_for(session, world, now)  # Acme: order 0
        link_for(session, world, now, order=world["orders"][1])
        portal.revoke_link(session, actor=world["admin"],
                           link_id=session.exec(select(PortalLink.id).where(
                               PortalLink.order_id == world["orders"][1].id)).scalar_one(), now=now)
        user = portal_users.create_user(session, actor=world["admin"], party_id=world["supplier"].id,
                                        username="acme.li", display_name="Li at Acme", password="correct horse",
                                        now=now)
        other = portal_users.create_user(session, actor=world["admin"], party_id=world["other"].id,
                                         username="forge.wu", display_name="Wu", password="correct horse", now=now)
        with pytest.raises(GendanError) as err:
            portal_users.create_user(session, actor=world["admin"], party_id=world["supplier"].id,
                                     username="acme.li", display_name="Again", password="short", now=now)
        assert set(err.value.fields) == {"username", "password"}
        session.rollback()

        assert client.get("/portal", follow_redirects=False).headers["location"] == "/portal/login"
        page = client.get("/portal/login")
        wrong = client.post("/portal/login", data={"username": "acme.li", "password": "nope nope nope",
                                                   "csrf_token": _csrf_from(page.text)})
        assert wrong.status_code == 401
        page = client.get("/portal/login")
        client.post("/portal/login", data={"username": "acme.li", "password": "correct horse",
                                           "csrf_token": _csrf_from(page.text)})
        inbox = client.get("/portal")
        assert inbox.status_code == 200 and world["orders"][0].number in inbox.text
        assert world["orders"][1].number not in inbox.text and "Li at Acme" in inbox.text
        order_page = client.get(f"/portal/orders/{world['orders'][0].id}")
        assert order_page.status_code == 200 and SECRET not in order_page.text
        assert client.get(f"/portal/orders/{world['orders'][1].id}").status_code == 404  # revoked: not theirs now
        saved = client.post(f"/portal/orders/{world['orders'][0].id}",
                            data={"f_production_progress": "40", "csrf_token": _csrf_from(order_page.text)},
                            follow_redirects=False)
        assert saved.status_code == 303
        session.expire_all()
        event = session.exec(select(OrderEvent).where(OrderEvent.order_id == world["orders"][0].id)
                             .order_by(OrderEvent.id.desc())).scalars().first()
        assert event.actor_label.startswith("Li at Acme, Acme Castings")
        # another company's user never opens Acme's order
        assert_not_found(lambda: party_side.view(session, token=None, user_id=other.id, now=now,
                                                 order_id=world["orders"][0].id))
        portal_users.set_active(session, actor=world["admin"], user_id=user.id, is_active=False, now=now)
        assert client.get("/portal", follow_redirects=False).status_code == 303
        assert client.get(f"/portal/orders/{world['orders'][0].id}", follow_redirects=False).status_code == 303


def test_the_worker_runs_the_portal_jobs(app):
    assert {"portal.issue_due_links", "portal.remind_parties"} <= {job.name for job in app.state.jobs}


def test_the_audit_page_names_portal_actions(client, session, now, world):
    from tests.conftest import login

    link = link_for(session, world, now)
    party_side.submit(session, token=link.token, values={"production_progress": "50"}, now=now)
    make_user(session, username="pt.auditor", roles=["admin"], locale="en")
    session.commit()
    login(client, "pt.auditor")
    page = client.get("/admin/audit")
    assert page.status_code == 200
    assert "Portal link" in page.text and "External party" in page.text


def test_a_customer_step_is_given_to_the_orders_own_customer(session, connection, now, world):
    admin = world["admin"]
    order = world["orders"][0]
    mine = portal.create_party(session, actor=admin, values={"kind": "customer", "name": "Buyer",
                                                             "customer_id": order.customer_id}, now=now)
    stranger = portal.create_party(session, actor=admin, values={"kind": "customer", "name": "Someone else",
                                                                 "customer_id": make_customer(session).id}, now=now)
    flow = supplier_flow(world["supplier"].id)
    flow["key"] = "portal_accept"
    flow["nodes"][1] = {**flow["nodes"][1], "key": "acceptance", "name": {"en": "Acceptance"},
                        "field_permissions": {"data.planned_finish_on": "editable"},
                        "external": {"kind": "customer"}}
    flow["edges"][0]["target"] = flow["edges"][1]["source"] = "acceptance"
    flows_service.save_draft(session, actor=admin, key="portal_accept", definition=flow, now=now)
    flows_service.publish_flow(session, actor=admin, key="portal_accept", now=now)
    service_instance.start_flow(session, order=order, actor=admin, now=now, key="portal_accept")
    session.commit()
    link = portal.issue_link(session, actor=admin, party_id=mine.id, order_id=order.id, node_key="acceptance",
                             days=7, now=now)
    v = party_side.view(session, token=link.token, now=now)
    assert [f.key for f in v.fields] == ["planned_finish_on"] and v.is_open
    with pytest.raises(GendanError) as err:
        portal.issue_link(session, actor=admin, party_id=stranger.id, order_id=order.id, node_key="acceptance",
                          days=7, now=now)
    assert err.value.code == "portal.node_not_granted"
    session.rollback()
    assert portal_tasks.issue_due_links(connection, now, base_url="") == 2  # the supplier's two orders


def test_the_page_speaks_the_partys_language(client, session, now, world):
    link = link_for(session, world, now)
    assert "Waiting for you" in client.get(f"/p/{link.token}").text
    portal.update_party(session, actor=world["admin"], party_id=world["supplier"].id, values={"locale": "zh_CN"},
                        now=now)
    page = client.get(f"/p/{link.token}").text
    assert "等您处理" in page and "步骤：生产" in page and "生产进度" in page
