"""Logistics end to end on SQLite and PostgreSQL: a carrier + tracking number subscribes the order,
a real local Kuaidi100-shaped server answers events then "signed", the push endpoint checks the
aggregator's signature, and "signed" completes the flow's sign-off step by itself."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from backend.auth.service import load_actor
from backend.flows import service as flows_service
from backend.flows import service_instance as flows_instances
from backend.flows.models import FlowInstance
from backend.flows.schemas import TaskAction
from backend.logistics import sources
from backend.logistics.models import Shipment, ShipmentEvent, TrackingSource
from backend.orders import service as orders_service
from backend.orders.models import Order, OrderEvent
from backend.orders.schemas import OrderUpdate
from backend.rules import matching
from engine.flows import FlowState
from engine.rules.classics import classic_rule
from tests.conftest import login
from tests.factories.orders import make_order
from tests.factories.people import make_user
from tests.factories.tracking_source import CUSTOMER, KEY, SALT, md5u, push_form

IN_TRANSIT = [("2026-11-24 09:00:00", "【深圳市】顺丰速运 已收取快件", "揽收"),
              ("2026-11-24 20:10:00", "【深圳转运中心】已发出，下一站【上海转运中心】", "在途")]
SIGNED = IN_TRANSIT + [("2026-11-25 08:30:00", "【上海市】快件交给张三，正在派送途中", "派件"),
                       ("2026-11-25 11:05:00", "【上海市】已签收，签收人凭取货码签收，感谢使用顺丰", "签收")]
SIGNOFF_FLOW = {
    "schema_version": 1, "key": "log_flow", "version": 1, "name": {"zh-CN": "签收流程", "en": "Sign-off flow"},
    "nodes": [
        {"type": "start", "key": "start", "name": {"zh-CN": "开始", "en": "Start"}, "stage": "draft"},
        {"type": "task", "key": "shipping", "name": {"zh-CN": "发货", "en": "Shipping"}, "stage": "shipping",
         "assignees": [{"kind": "initiator"}], "required_fields": ["data.carrier", "data.tracking_no"]},
        {"type": "task", "key": "customer_signoff", "name": {"zh-CN": "客户签收", "en": "Customer sign-off"},
         "assignees": [{"kind": "initiator"}], "required_fields": ["data.signed_on"]},
        {"type": "task", "key": "invoicing", "name": {"zh-CN": "开票", "en": "Invoicing"}, "stage": "delivered",
         "assignees": [{"kind": "initiator"}]},
        {"type": "end", "key": "done", "name": {"zh-CN": "完成", "en": "Done"}, "stage": "completed"},
    ],
    "edges": [{"key": "e1", "source": "start", "target": "shipping"},
              {"key": "e2", "source": "shipping", "target": "customer_signoff"},
              {"key": "e3", "source": "customer_signoff", "target": "invoicing"},
              {"key": "e4", "source": "invoicing", "target": "done"}],
}


def _source(session, admin, now, url, *, key=KEY, customer=CUSTOMER):
    return sources.save_source(session, actor=admin, now=now, data=sources.SourceInput(
        name="LOG-kuaidi100", url=url, customer=customer, key=key, salt=SALT, poll_minutes=30))


def _shipped_order(session, admin, now, number="SF1001"):
    """An order in the sign-off flow, shipped by its rep through the flow's shipping step."""
    rep = make_user(session, roles=["sales"], locale="en")
    flows_service.save_draft(session, actor=admin, key="log_flow", definition=SIGNOFF_FLOW, now=now)
    flows_service.publish_flow(session, actor=admin, key="log_flow", now=now)
    order = make_order(session, owner=rep)
    rep_actor = load_actor(session, rep.id)
    instance = flows_instances.start_flow(session, order=order, actor=rep_actor, now=now, key="log_flow")
    session.commit()
    task = _open_task(session, instance.id, "shipping")
    flows_instances.act_on_task(session, actor=rep_actor, instance_id=instance.id, task_id=task.id, now=now,
                                body=TaskAction(action="complete", values={"data.carrier": "shunfeng",
                                                                           "data.tracking_no": number}))
    session.refresh(order)
    return order, instance


def _open_task(session, instance_id, node_key):
    instance = session.get(FlowInstance, instance_id)
    session.refresh(instance)
    return next(t for t in FlowState.from_json(instance.state).open_tasks() if t.node_key == node_key)


def _shipment(session, order):
    return session.exec(select(Shipment).where(Shipment.order_id == order.id)).scalars().one()


class TestSubscribe:
    def test_carrier_and_number_through_the_pipeline_open_one_shipment(self, session, admin, now):
        order, _ = _shipped_order(session, admin, now)
        shipment = _shipment(session, order)
        assert (shipment.carrier, shipment.tracking_no, shipment.is_active) == ("shunfeng", "SF1001", True)
        assert order.stage == "shipping" and order.signed_at is None
        assert order.shipped_at is not None  # handed to the carrier: the warehouse is not late any more

    def test_shipped_at_is_the_first_hand_over_only(self, session, admin, now):
        rep = make_user(session, roles=["sales"])
        order = make_order(session, owner=rep, data={"carrier": "yuantong"})
        session.commit()
        assert order.shipped_at is None  # a carrier without a number is not a hand-over
        actor = load_actor(session, rep.id)
        for i, number in enumerate(("YT1", "YT2")):
            orders_service.update_order(session, actor=actor, order_id=order.id, now=now + timedelta(hours=i),
                                        payload=OrderUpdate(version=order.version,
                                                            data={"carrier": "yuantong", "tracking_no": number}))
            session.refresh(order)
        assert order.shipped_at == now  # a corrected number later keeps the first hand-over

    def test_a_new_number_replaces_the_followed_one(self, session, admin, now):
        rep = make_user(session, roles=["sales"])
        order = make_order(session, owner=rep, data={"carrier": "yuantong"})
        session.commit()
        assert session.exec(select(Shipment).where(Shipment.order_id == order.id)).first() is None  # no number yet
        actor = load_actor(session, rep.id)
        for i, number in enumerate(("YT1", "YT2")):
            orders_service.update_order(session, actor=actor, order_id=order.id, now=now + timedelta(minutes=i),
                                        payload=OrderUpdate(version=order.version,
                                                            data={"carrier": "yuantong", "tracking_no": number}))
            session.refresh(order)
        rows = session.exec(select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.id)).scalars().all()
        assert [(s.tracking_no, s.is_active) for s in rows] == [("YT1", False), ("YT2", True)]


class TestPoll:
    def test_events_then_signed_complete_the_sign_off_step(self, session, connection, admin, now, server):
        order, instance = _shipped_order(session, admin, now)
        _source(session, admin, now, f"{server.url}/poll/query.do")
        server.feeds["SF1001"] = ("0", IN_TRANSIT)
        assert sources.poll_due(connection, now) == 1
        session.expire_all()
        shipment = _shipment(session, order)
        assert shipment.state == "in_transit" and shipment.is_active and shipment.failures == 0
        assert session.exec(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)).all().__len__() == 2
        assert session.get(Order, order.id).stage == "shipping"
        assert sources.poll_due(connection, now + timedelta(minutes=1)) == 0  # not due before poll_minutes
        server.feeds["SF1001"] = ("3", SIGNED)
        later = now + timedelta(minutes=31)
        assert sources.poll_due(connection, later) == 1
        session.expire_all()
        shipment, order = _shipment(session, order), session.get(Order, order.id)
        events = session.exec(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)).scalars().all()
        assert len(events) == 4  # the two known ones not stored twice
        assert {e.status for e in events} == {"in_transit", "out_for_delivery", "signed"}
        assert shipment.state == "signed" and not shipment.is_active
        assert order.signed_at.isoformat().startswith("2026-11-25T03:05")  # 11:05 Beijing time
        assert order.stage == "delivered" and order.data["signed_on"] == "2026-11-25"
        assert order.delivered_at == order.signed_at  # the signature, not entering delivered half an hour later
        assert _open_task(session, instance.id, "invoicing") is not None
        signed = session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                       OrderEvent.type == "signed")).scalars().one()
        assert signed.actor_label == "logistics" and "SF1001" in signed.note
        history = FlowState.from_json(session.get(FlowInstance, instance.id).state).history
        done = [h for h in history if h.action == "task_completed" and h.node_key == "customer_signoff"]
        assert len(done) == 1 and done[0].actor_id == 0 and done[0].note.startswith("logistics:")

    def test_wrong_key_is_a_clear_error_on_the_health_and_nothing_changes(self, session, connection, admin, now,
                                                                          server):
        order, _ = _shipped_order(session, admin, now)
        source = _source(session, admin, now, f"{server.url}/poll/query.do", key="wrong")
        server.feeds["SF1001"] = ("3", SIGNED)
        assert sources.poll_due(connection, now) == 1
        session.expire_all()
        shipment, source = _shipment(session, order), session.get(TrackingSource, source.id)
        assert source.last_error["code"] == "logistics.bad_credentials"
        assert shipment.failures == 1 and shipment.is_active and shipment.next_poll_at > now + timedelta(minutes=30)
        assert session.get(Order, order.id).signed_at is None

    def test_an_html_answer_and_an_unknown_number_are_errors_not_crashes(self, session, connection, admin, now,
                                                                         server):
        order, _ = _shipped_order(session, admin, now)
        source = _source(session, admin, now, f"{server.url}/html")
        sources.poll_due(connection, now)
        session.expire_all()
        assert session.get(TrackingSource, source.id).last_error["code"] == "logistics.answer_not_json"
        source = session.get(TrackingSource, source.id)
        source.settings = {**source.settings, "url": f"{server.url}/poll/query.do"}
        session.commit()
        sources.poll_due(connection, now + timedelta(days=2))
        session.expire_all()
        assert _shipment(session, order).last_error["code"] == "logistics.unknown_number"


class TestPush:
    def _app_setup(self, session, admin, now, server):
        order, instance = _shipped_order(session, admin, now, number="SF2002")
        source = _source(session, admin, now, f"{server.url}/poll/query.do")
        return order, instance, source

    def test_bad_signature_is_refused_in_the_callers_language_and_changes_nothing(self, client, session, admin,
                                                                                  now, server):
        order, _, source = self._app_setup(session, admin, now, server)
        form = push_form("SF2002", "3", SIGNED, salt="not-the-salt")
        answer = client.post(f"/api/v1/tracking-push/{source.push_key}", data=form,
                             headers={"Accept-Language": "zh-CN"})
        assert answer.status_code == 401
        assert answer.json()["result"] is False and "签名" in answer.json()["message"]
        answer = client.post(f"/api/v1/tracking-push/{source.push_key}", data={"param": "{not json", "sign": "x"},
                             headers={"Accept-Language": "en"})
        assert answer.status_code == 401  # the signature is checked before the body is read
        session.expire_all()
        assert session.get(Order, order.id).signed_at is None
        assert session.get(TrackingSource, source.id).last_push_error["code"] == "logistics.push_signature_invalid"

    def test_malformed_and_unknown_pushes_are_4xx_json(self, client, session, admin, now, server):
        _, _, source = self._app_setup(session, admin, now, server)
        param = "not json"
        answer = client.post(f"/api/v1/tracking-push/{source.push_key}",
                             data={"param": param, "sign": md5u(param + SALT)})
        assert answer.status_code == 400 and answer.json()["code"] == "logistics.push_invalid"
        answer = client.post(f"/api/v1/tracking-push/{source.push_key}", data=push_form("NOPE-1", "0", IN_TRANSIT))
        assert answer.status_code == 404 and answer.json()["code"] == "logistics.unknown_number"
        answer = client.post("/api/v1/tracking-push/no-such-source", data=push_form("SF2002", "0", IN_TRANSIT))
        assert answer.status_code == 404 and answer.json()["result"] is False
        answer = client.post(f"/api/v1/tracking-push/{source.push_key}", content=b"\xff\xfe" * 10,
                             headers={"Content-Type": "application/json"})
        assert answer.status_code == 400

    def test_signed_push_completes_the_step_and_the_rule_counts_from_signed_at(self, client, session, admin, now,
                                                                             server):
        order, instance, source = self._app_setup(session, admin, now, server)
        answer = client.post(f"/api/v1/tracking-push/{source.push_key}", data=push_form("SF2002", "3", SIGNED))
        assert answer.status_code == 200
        assert answer.json() == {"result": True, "returnCode": "200", "message": "成功"}
        again = client.post(f"/api/v1/tracking-push/{source.push_key}", data=push_form("SF2002", "3", SIGNED))
        assert again.status_code == 200  # a repeated push is fine (and stores nothing twice)
        session.expire_all()
        order = session.get(Order, order.id)
        assert order.stage == "delivered" and order.signed_at is not None
        shipment = _shipment(session, order)
        assert len(session.exec(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)).all()) == 4
        # "1 day after sign-off" (the classic rule) counts from signed_at, in SQL and in Python
        rule = classic_rule("follow_up_after_sign_off")
        rule["key"] = "log_follow_up"
        signed = order.signed_at
        soon = matching.dry_run(session, actor=admin, definition=rule, now=signed + timedelta(hours=23))
        due = matching.dry_run(session, actor=admin, definition=rule, now=signed + timedelta(hours=24, seconds=1))
        assert due.compiled_to_sql
        assert order.id not in {m.order_id for m in soon.orders} and order.id in {m.order_id for m in due.orders}


class TestPages:
    def test_order_page_and_customer_page_show_the_events(self, client, session, admin, now, server):
        order, _, _ = TestPush()._app_setup(session, admin, now, server)
        client.post(f"/api/v1/tracking-push/{session.exec(select(TrackingSource)).scalars().first().push_key}",
                    data=push_form("SF2002", "0", IN_TRANSIT))
        user = make_user(session, username="log.admin", roles=["admin"], locale="zh_CN")
        session.commit()
        login(client, user.username)
        panel = client.get(f"/orders/{order.id}/shipments")
        assert panel.status_code == 200 and "深圳转运中心" in panel.text and "SF2002" in panel.text
        text = panel.text
        assert text.index("深圳转运中心") < text.index("已收取快件")  # newest first
        health = client.get("/admin/logistics")
        assert health.status_code == 200 and "LOG-kuaidi100" in health.text
        assert json.dumps(KEY)[1:-1] not in health.text  # the key is never shown again
        # the customer's tracking page: the same events, in the customer's language, nothing internal
        from backend.tracking import service as tracking_service

        link = tracking_service.create_link(session, actor=load_actor(session, user.id), order_id=order.id, now=now)
        client.cookies.clear()
        customer = client.get(f"/t/{link.token}/shipments")
        assert customer.status_code == 200 and "深圳转运中心" in customer.text and "运输中" in customer.text
        assert "上次查询" not in customer.text and "Last asked" not in customer.text
        assert client.get("/t/" + "x" * 43 + "/shipments").status_code == 404


    def test_without_a_tracking_source_the_panel_says_why_no_events_come(self, client, session, admin, now):
        rep = make_user(session, roles=["sales"], username="log.nosrc", locale="en")
        order = make_order(session, owner=rep, data={"carrier": "shunfeng"})
        session.commit()
        orders_service.update_order(session, actor=load_actor(session, rep.id), order_id=order.id, now=now,
                                    payload=OrderUpdate(version=order.version,
                                                        data={"carrier": "shunfeng", "tracking_no": "SF-NOSRC"}))
        session.commit()
        login(client, rep.username)
        panel = client.get(f"/orders/{order.id}/shipments")
        assert "No tracking source is set up" in panel.text and 'href="/admin/logistics"' not in panel.text
        chief = make_user(session, roles=["admin"], username="log.nosrc.admin", locale="zh_CN")
        session.commit()
        login(client, chief.username)
        assert 'href="/admin/logistics"' in client.get(f"/orders/{order.id}/shipments").text
        _source(session, admin, now, "http://127.0.0.1:9")
        session.commit()
        assert "logistics-no-source" not in client.get(f"/orders/{order.id}/shipments").text


class TestAdminPage:
    def test_admin_configures_a_source_and_bad_input_is_a_message(self, client, session):
        user = make_user(session, username="log.admin2", roles=["admin"], locale="en")
        session.commit()
        login(client, user.username)
        page = client.get("/admin/logistics")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        bad = client.post("/admin/logistics", data={"csrf_token": csrf, "name": "LOG-x", "url": "ftp://nope",
                                                    "customer": "C", "key": "k", "poll_minutes": "abc"})
        assert bad.status_code == 422 and "http://" in bad.text
        ok = client.post("/admin/logistics", data={"csrf_token": csrf, "name": "LOG-x", "url": "http://127.0.0.1:9/q",
                                                   "customer": "C", "key": "k-secret", "salt": "s",
                                                   "poll_minutes": "15", "is_enabled": "on"})
        assert ok.status_code == 200 and "LOG-x" in ok.text and "k-secret" not in ok.text
        source = session.exec(select(TrackingSource).where(TrackingSource.name == "LOG-x")).scalars().one()
        assert "k-secret" not in source.secrets and source.push_key in ok.text


class TestSignedByHand:
    def test_a_person_signing_the_step_gives_the_order_signed_at(self, session, admin, now):
        order, instance = _shipped_order(session, admin, now, number="SF3003")
        rep = load_actor(session, order.owner_id)
        task = _open_task(session, instance.id, "customer_signoff")
        later = now + timedelta(days=2)
        flows_instances.act_on_task(session, actor=rep, instance_id=instance.id, task_id=task.id, now=later,
                                    body=TaskAction(action="complete", values={"data.signed_on": "2026-11-26"}))
        session.refresh(order)
        assert order.signed_at == later and order.stage == "delivered"
        assert _shipment(session, order).is_active  # the feed may still bring its events

    def test_an_imported_sign_off_date_is_that_day_not_now(self, session, admin, now):
        rep = make_user(session, roles=["sales"])
        order = make_order(session, owner=rep)
        session.commit()
        orders_service.update_order(session, actor=load_actor(session, rep.id), order_id=order.id, now=now,
                                    payload=OrderUpdate(version=order.version, data={"signed_on": "2026-10-01"}))
        session.refresh(order)
        assert order.signed_at.isoformat() == "2026-10-01T15:59:59+00:00"  # end of that day in Shanghai
