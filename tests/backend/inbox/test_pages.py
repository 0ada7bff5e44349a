"""Inbox, notification and admin pages through the app (no browser): forms, fragments, refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.effects import apply_effects, enqueue
from backend.inbox.models import InboxItem
from backend.notify.models import Notification, NotificationPreference, OutboxMessage
from engine import effects as fx
from tests.conftest import login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

HX = {"HX-Request": "true"}


@pytest.fixture
def world(session, now):
    rep = make_user(session, roles=["sales"], display_name="Rep Li", locale="en")
    clerk = make_user(session, roles=["warehouse"], display_name="Clerk Wang", locale="en")
    order = make_order(session, owner=rep, stage="shipping", number="PG-1",
                       customer=make_customer(session, name="Acme Pumps"))
    apply_effects(session, [fx.CreateTodo(dedupe_key="rule:pg:1", kind="task", title="Enter the tracking number",
                                          assignee_ids=(clerk.id,), priority="urgent",
                                          payload={"fields": [{"key": "tracking_no", "label": "Tracking number",
                                                               "required": True}]})],
                  order=order, actor=None, now=now, source="rule")
    session.commit()
    item = session.exec(select(InboxItem).where(InboxItem.dedupe_key == "rule:pg:1")).scalars().one()
    return {"rep": rep, "clerk": clerk, "order": order, "item": item}


class TestInboxPage:
    def test_list_badge_and_complete_in_place(self, client, session, world):
        login(client, world["clerk"].username)
        page = client.get("/inbox")
        assert page.status_code == 200
        assert "Enter the tracking number" in page.text and "PG-1" in page.text and "Acme Pumps" in page.text
        badge = client.get("/inbox/badge")
        assert 'ws-connect="/ws/live"' in badge.text and ">1<" in badge.text
        item_id = world["item"].id
        bad = client.post(f"/inbox/items/{item_id}/complete", data={"f_tracking_no": ""}, headers=HX)
        assert bad.status_code == 422 and "Please fill in this field." in bad.text
        ok = client.post(f"/inbox/items/{item_id}/complete", data={"f_tracking_no": "SF77"}, headers=HX)
        assert ok.status_code == 200 and "Completed." in ok.text and 'data-state="done"' in ok.text
        assert ok.headers["HX-Trigger"] == "gendan:badge"
        assert client.get("/inbox/badge?part=count").text.count(">1<") == 0
        again = client.post(f"/inbox/items/{item_id}/complete", data={"f_tracking_no": "SF78"}, headers=HX)
        assert again.status_code == 409 and again.headers["HX-Retarget"] == "#toast"
        assert "already handled" in again.text
        done = client.get("/inbox?tab=done", headers={**HX, "HX-Target": "inbox-list"})
        assert 'id="inbox-list"' in done.text and "<html" not in done.text and "Enter the tracking number" in done.text

    def test_the_wrong_person_is_refused_with_a_clear_message(self, client, world):
        login(client, world["rep"].username)
        resp = client.post(f"/inbox/items/{world['item'].id}/complete", data={"f_tracking_no": "X"}, headers=HX)
        assert resp.status_code == 403 and "Clerk Wang" in resp.text
        started = client.get("/inbox?tab=started")
        assert "Enter the tracking number" in started.text and "Urge" in started.text

    def test_json_api(self, client, world):
        login(client, world["clerk"].username)
        listed = client.get("/api/v1/inbox").json()
        assert listed["total"] == 1 and listed["items"][0]["fields"][0]["key"] == "tracking_no"
        assert client.get("/api/v1/inbox/count").json() == {"open": 1}
        resp = client.post(f"/api/v1/inbox/{world['item'].id}/complete", json={"values": {"boxes": 2}})
        assert resp.status_code == 422
        assert set(resp.json()["error"]["fields"]) == {"boxes", "tracking_no"}
        resp = client.post(f"/api/v1/inbox/{world['item'].id}/complete", json={"values": {"tracking_no": "SF1"}})
        assert resp.status_code == 200 and resp.json()["state"] == "done"
        resp = client.post(f"/api/v1/inbox/{world['item'].id}/approve", json={})
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "inbox.already_closed"

    def test_comment_with_attachment_and_download(self, client, world, settings, tmp_path):
        client.app.state.settings = settings.model_copy(update={"upload_dir": tmp_path})
        login(client, world["clerk"].username)
        resp = client.post(f"/inbox/items/{world['item'].id}/comments", data={"text": "Label printed"},
                           files={"attachment": ("label.pdf", b"%PDF-1.4", "application/pdf")}, headers=HX)
        assert resp.status_code == 200 and "Label printed" in resp.text and "label.pdf" in resp.text
        href = resp.text.split('href="/inbox/attachments/')[1].split('"')[0]
        download = client.get(f"/inbox/attachments/{href}")
        assert download.content == b"%PDF-1.4"


class TestNotificationPages:
    def test_center_mark_read_and_preferences(self, client, session, now, world):
        apply_effects(session, [fx.Notify(dedupe_key="n1", user_ids=(world["rep"].id,), title="PG-1 was urged")],
                      order=world["order"], actor=None, now=now)
        session.commit()
        login(client, world["rep"].username)
        page = client.get("/notifications")
        assert "PG-1 was urged" in page.text and "Mark all as read" in page.text
        note = session.exec(select(Notification).where(Notification.user_id == world["rep"].id)).scalars().one()
        resp = client.post(f"/notifications/{note.id}/read", headers=HX)
        assert resp.status_code == 200 and "Mark all as read" not in resp.text
        bad = client.post("/notifications/preferences", data={"channels": ["email"], "quiet_start": "25h",
                                                              "digest_hour": "18"})
        assert bad.status_code == 422 and "is not a time like 22:00" in bad.text
        ok = client.post("/notifications/preferences", data={"channels": ["email"], "quiet_start": "22:00",
                                                             "quiet_end": "07:00", "digest_hour": "18",
                                                             "timezone": "Asia/Shanghai"}, follow_redirects=False)
        assert ok.status_code == 303
        pref = session.get(NotificationPreference, world["rep"].id)
        assert pref.channels == ["in_app", "email"] and pref.quiet_start == "22:00"

    def test_someone_elses_notification_is_not_found(self, client, session, now, world):
        apply_effects(session, [fx.Notify(dedupe_key="n2", user_ids=(world["rep"].id,), title="secret")],
                      order=None, actor=None, now=now)
        session.commit()
        note = session.exec(select(Notification).where(Notification.dedupe_key == "n2")).scalars().one()
        login(client, world["clerk"].username)
        resp = client.post(f"/api/v1/notifications/{note.id}/read")
        assert resp.status_code == 404


class TestAdminPages:
    def test_outbox_and_channels_are_for_admins_only(self, client, world):
        login(client, world["rep"].username)
        assert client.get("/admin/outbox", headers={"Accept": "text/html"}).status_code == 403
        assert client.get("/api/v1/channels").status_code == 403

    def test_outbox_page_resend_and_channel_form(self, client, session, now):
        admin = make_user(session, roles=["admin"], locale="en")
        row = enqueue(session, dedupe_key="x1", channel="email", recipient="a@example.com", subject="Hello",
                      body="b", payload={}, order_id=None, now=now)
        row.state, row.last_error = "dead", "SMTP 550"
        session.commit()
        login(client, admin.username)
        page = client.get("/admin/outbox")
        assert "Hello" in page.text and "SMTP 550" in page.text and "Resend" in page.text
        resp = client.post(f"/admin/outbox/{row.id}/resend", headers=HX)
        assert resp.status_code == 200 and "pending" in resp.text.lower() or "待发送" in resp.text
        session.expire_all()
        assert session.get(OutboxMessage, row.id).state == "pending"
        bad = client.post("/admin/channels", data={"name": "robot", "kind": "dingtalk", "robot_url": "not a url"})
        assert bad.status_code == 422 and "Enter the full address, starting with https://." in bad.text
        ok = client.post("/admin/channels", data={"name": "robot", "kind": "dingtalk",
                                                  "robot_url": "http://127.0.0.1:9/robot", "robot_secret": "s"},
                         follow_redirects=False)
        assert ok.status_code == 303
        listed = client.get("/api/v1/channels").json()
        assert listed[0]["name"] == "robot" and listed[0]["has_secret"] is True and "secret" not in listed[0]


class TestChannelTestSendPage:
    def test_the_test_button_sends_through_that_configuration(self, client, session, now):
        from backend.notify.models import ChannelConfig
        from tests.backend.notify.servers import HttpReceiver

        receiver = HttpReceiver()
        try:
            admin = make_user(session, roles=["admin"], locale="en")
            config = ChannelConfig(name="ops-dingtalk", kind="dingtalk", target=receiver.url + "/robot/send",
                                   secret="SEC1", options={}, created_at=now, updated_at=now)
            session.add(config)
            session.commit()
            login(client, admin.username)
            assert "ops-dingtalk" in client.get("/admin/channels").text
            resp = client.post(f"/admin/channels/{config.id}/test", data={"recipient": "13800000000"}, headers=HX)
            assert resp.status_code == 200 and "Test message sent through ops-dingtalk." in resp.text
            assert "sign=" in receiver.requests[0].path
            receiver.reply = {"errcode": 310000, "errmsg": "keywords not in content"}
            resp = client.post(f"/admin/channels/{config.id}/test", data={"recipient": ""}, headers=HX)
            assert "failed" in resp.text and "310000" in resp.text
            outbox = client.get("/admin/outbox?state=dead").text
            assert "keywords not in content" in outbox
        finally:
            receiver.close()
