"""Outbox delivery through real servers on loopback: SMTP (aiosmtpd) and HTTP robot receivers."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from backend.auth.actor import Actor
from backend.effects import enqueue
from backend.errors import GendanError
from backend.notify import delivery
from backend.notify import service as notify_service
from backend.notify.models import ChannelConfig, OutboxAttempt, OutboxMessage
from backend.settings import Settings
from tests.backend.notify.servers import HttpReceiver, SmtpServer, free_port

ADMIN = Actor(user_id=1, username="admin", display_name="Admin", roles=frozenset({"admin"}))
SALES = Actor(user_id=2, username="rep", display_name="Rep", roles=frozenset({"sales"}))


def _settings(port: int) -> Settings:
    return Settings(DATABASE_URL="sqlite://", smtp_host="127.0.0.1", smtp_port=port, smtp_from="gendan@example.com")


def _queue(session, now, *, channel="email", recipient="buyer@example.com", key="k1", payload=None,
           subject="Order SO-1 shipped", body="Your order SO-1 left the factory.\nTracking: SF123"):
    row = enqueue(session, dedupe_key=key, channel=channel, recipient=recipient, subject=subject, body=body,
                  payload=payload or {}, order_id=None, now=now)
    session.commit()
    return row


def _attempts(session, row):
    return session.exec(select(OutboxAttempt).where(OutboxAttempt.message_id == row.id)
                        .order_by(OutboxAttempt.id)).scalars().all()


@pytest.fixture
def smtp():
    server = SmtpServer(free_port())
    yield server
    server.stop()


class TestEmailOverSmtp:
    def test_smtp_server_receives_text_and_html_in_the_customers_language(self, session, connection, now, smtp):
        smtp.start()
        _queue(session, now, payload={"locale": "en", "link": "http://gendan.test/t/abc"})
        assert delivery.deliver_outbox(connection, now, settings=_settings(smtp.port)) == 1
        assert len(smtp.messages) == 1
        rcpt, mail = smtp.messages[0]
        assert rcpt == ["buyer@example.com"]
        assert mail["Subject"] == "Order SO-1 shipped"
        assert mail["From"] == "gendan@example.com"
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        assert "Tracking: SF123" in text and "Sent by Gendan" in text and "http://gendan.test/t/abc" in text
        assert "<p" in html and "Tracking: SF123" in html and 'href="http://gendan.test/t/abc"' in html

    def test_chinese_template_for_a_chinese_recipient(self, session, connection, now, smtp):
        smtp.start()
        _queue(session, now, payload={"locale": "zh_CN"})
        delivery.deliver_outbox(connection, now, settings=_settings(smtp.port))
        text = smtp.messages[0][1].get_body(("plain",)).get_content()
        assert "跟单" in text and "Sent by Gendan" not in text

    def test_smtp_down_the_outbox_retries_with_backoff_and_delivers_once(self, session, connection, now, smtp):
        settings = _settings(smtp.port)
        row = _queue(session, now)
        assert delivery.deliver_outbox(connection, now, settings=settings) == 0
        session.refresh(row)
        assert (row.state, row.attempts) == ("failed", 1)
        assert row.next_attempt_at == now + timedelta(seconds=30)
        assert "Connection" in row.last_error or "refused" in row.last_error.lower()
        # not due yet: nothing is tried
        assert delivery.deliver_outbox(connection, now + timedelta(seconds=10), settings=settings) == 0
        assert len(_attempts(session, row)) == 1
        smtp.start()
        assert delivery.deliver_outbox(connection, now + timedelta(seconds=31), settings=settings) == 1
        assert delivery.deliver_outbox(connection, now + timedelta(hours=2), settings=settings) == 0
        session.refresh(row)
        assert (row.state, row.attempts, row.sent_at) == ("sent", 2, now + timedelta(seconds=31))
        assert [a.ok for a in _attempts(session, row)] == [False, True]
        assert len(smtp.messages) == 1

    def test_gives_up_after_max_attempts_and_an_admin_resends(self, session, connection, now, smtp):
        settings = _settings(smtp.port)
        row = _queue(session, now)
        at = now
        for _ in range(delivery.MAX_ATTEMPTS):
            delivery.deliver_outbox(connection, at, settings=settings)
            at += timedelta(hours=2)
        session.refresh(row)
        assert (row.state, row.attempts) == ("dead", delivery.MAX_ATTEMPTS)
        assert delivery.deliver_outbox(connection, at, settings=settings) == 0
        with pytest.raises(GendanError) as err:
            delivery.resend(session, actor=SALES, message_id=row.id, now=at)
        assert err.value.code == "auth.forbidden"
        delivery.resend(session, actor=ADMIN, message_id=row.id, now=at)
        smtp.start()
        assert delivery.deliver_outbox(connection, at, settings=settings) == 1
        assert len(smtp.messages) == 1
        with pytest.raises(GendanError) as err:
            delivery.resend(session, actor=ADMIN, message_id=10**9, now=at)
        assert err.value.code == "outbox.not_found"

    def test_a_bad_address_is_dead_at_once(self, session, connection, now, smtp):
        smtp.start()
        row = _queue(session, now, recipient="not-an-address")
        delivery.deliver_outbox(connection, now, settings=_settings(smtp.port))
        session.refresh(row)
        assert row.state == "dead" and "not an e-mail address" in row.last_error
        assert smtp.messages == []


@pytest.fixture
def receiver():
    r = HttpReceiver()
    yield r
    r.close()


def _config(session, now, kind, url, secret=None, **options):
    config = ChannelConfig(name=f"{kind}-robot", kind=kind, target=url, secret=secret, options=options,
                           created_at=now, updated_at=now)
    session.add(config)
    session.commit()
    return config


class TestRobotWebhooks:
    def test_dingtalk_robot_gets_a_markdown_message_with_a_valid_signature(self, session, connection, now, receiver):
        _config(session, now, "dingtalk", receiver.url + "/robot/send?access_token=tok", secret="SECdemo")
        _queue(session, now, channel="dingtalk", recipient="13800000000")
        assert delivery.deliver_outbox(connection, now, settings=_settings(1)) == 1
        req = receiver.requests[0]
        query = parse_qs(urlparse(req.path).query)
        ts = query["timestamp"][0]
        assert ts == str(int(now.timestamp() * 1000)) and query["access_token"] == ["tok"]
        expected = base64.b64encode(hmac.new(b"SECdemo", f"{ts}\nSECdemo".encode(), hashlib.sha256).digest()).decode()
        assert query["sign"][0] == expected
        body = req.json()
        assert body["msgtype"] == "markdown" and "Order SO-1 shipped" in body["markdown"]["text"]
        assert body["at"]["atMobiles"] == ["13800000000"]

    def test_wecom_robot_gets_markdown(self, session, connection, now, receiver):
        _config(session, now, "wecom", receiver.url + "/cgi-bin/webhook/send?key=abc")
        _queue(session, now, channel="wecom", recipient="")
        assert delivery.deliver_outbox(connection, now, settings=_settings(1)) == 1
        body = receiver.requests[0].json()
        assert receiver.requests[0].path == "/cgi-bin/webhook/send?key=abc"
        assert body["msgtype"] == "markdown" and "SF123" in body["markdown"]["content"]

    def test_feishu_robot_gets_a_signed_text(self, session, connection, now, receiver):
        receiver.reply = {"code": 0, "msg": "success"}
        _config(session, now, "feishu", receiver.url + "/open-apis/bot/v2/hook/x", secret="fs-secret")
        _queue(session, now, channel="feishu", recipient="")
        assert delivery.deliver_outbox(connection, now, settings=_settings(1)) == 1
        body = receiver.requests[0].json()
        ts = int(body["timestamp"])
        assert ts == int(now.timestamp())
        expected = base64.b64encode(hmac.new(f"{ts}\nfs-secret".encode(), b"", hashlib.sha256).digest()).decode()
        assert body["sign"] == expected and body["msg_type"] == "text" and "SF123" in body["content"]["text"]

    def test_generic_webhook_carries_an_hmac_signature_header(self, session, connection, now, receiver):
        _config(session, now, "webhook", receiver.url + "/unused", secret="whsec")
        _queue(session, now, channel="webhook", recipient=receiver.url + "/hooks/erp", key="wh1",
               payload={"data": {"order": "SO-1", "event": "shipped"}, "secret_ref": "webhook-robot"})
        assert delivery.deliver_outbox(connection, now, settings=_settings(1)) == 1
        req = receiver.requests[0]
        assert req.path == "/hooks/erp"
        ts = req.headers["X-Gendan-Timestamp"]
        mac = hmac.new(b"whsec", f"{ts}.".encode() + req.body, hashlib.sha256).hexdigest()
        assert req.headers["X-Gendan-Signature"] == f"sha256={mac}"
        assert req.headers["X-Gendan-Delivery"] == "wh1"
        assert req.json() == {"delivery_id": "wh1", "data": {"order": "SO-1", "event": "shipped"}}

    def test_sms_gateway_gets_the_templated_body(self, session, connection, now, receiver):
        receiver.reply = {"result": "OK"}
        _config(session, now, "sms", receiver.url + "/sms", secret="key-1",
                body_template='{"mobile": $phone, "content": $text, "sign": "Gendan"}', ok_field="result",
                ok_value="OK")
        _queue(session, now, channel="sms", recipient="13900000000", body='发货了 "SF123"')
        assert delivery.deliver_outbox(connection, now, settings=_settings(1)) == 1
        req = receiver.requests[0]
        assert req.json() == {"mobile": "13900000000", "content": '发货了 "SF123"', "sign": "Gendan"}
        assert req.headers["Authorization"] == "Bearer key-1"

    def test_a_robot_refusing_the_signature_is_not_retried(self, session, connection, now, receiver):
        receiver.reply = {"errcode": 310000, "errmsg": "sign not match"}
        _config(session, now, "dingtalk", receiver.url + "/robot/send", secret="wrong")
        row = _queue(session, now, channel="dingtalk", recipient="")
        delivery.deliver_outbox(connection, now, settings=_settings(1))
        session.refresh(row)
        assert row.state == "dead" and "310000" in row.last_error

    def test_a_server_error_is_retried(self, session, connection, now, receiver):
        receiver.status = 503
        _config(session, now, "wecom", receiver.url + "/send")
        row = _queue(session, now, channel="wecom", recipient="")
        delivery.deliver_outbox(connection, now, settings=_settings(1))
        session.refresh(row)
        assert (row.state, row.attempts) == ("failed", 1)
        receiver.status = 200
        assert delivery.deliver_outbox(connection, now + timedelta(minutes=1), settings=_settings(1)) == 1
        assert len(receiver.requests) == 2

    def test_no_configuration_for_a_channel_is_logged_as_a_failed_attempt(self, session, connection, now):
        row = _queue(session, now, channel="feishu", recipient="")
        delivery.deliver_outbox(connection, now, settings=_settings(1))
        session.refresh(row)
        assert row.state == "failed" and "no feishu channel" in row.last_error


class TestTestSend:
    def test_admin_test_send_delivers_now_and_logs_the_attempt(self, session, connection, now, receiver):
        config = _config(session, now, "webhook", receiver.url + "/test-hook", secret="s")
        row = notify_service.test_send(session, actor=ADMIN, channel_id=config.id, recipient="", now=now,
                                       settings=_settings(1))
        assert row.state == "sent"
        assert receiver.requests[0].json()["data"]["test"] is True

    def test_only_admins_test_send(self, session, connection, now, receiver):
        config = _config(session, now, "webhook", receiver.url + "/test-hook")
        with pytest.raises(GendanError) as err:
            notify_service.test_send(session, actor=SALES, channel_id=config.id, recipient="", now=now,
                                     settings=_settings(1))
        assert err.value.code == "auth.forbidden"
        assert session.exec(select(OutboxMessage)).first() is None

    def test_channel_target_must_fit_the_kind(self, session, now):
        with pytest.raises(GendanError) as err:
            notify_service.save_channel(session, actor=ADMIN, name="x", kind="dingtalk", target="smtp.local:25",
                                        secret=None, options={}, is_enabled=True, now=now)
        assert err.value.code == "validation.failed" and "target" in err.value.fields
        with pytest.raises(GendanError) as err:
            notify_service.save_channel(session, actor=ADMIN, name="x", kind="pigeon", target="http://x",
                                        secret=None, options={}, is_enabled=True, now=now)
        assert err.value.code == "channel.invalid_kind"


class TestRobustness:
    def test_a_line_break_in_the_subject_cannot_inject_headers(self, session, connection, now, smtp):
        smtp.start()
        _queue(session, now, subject="Shipped\r\nBcc: victim@example.com")
        assert delivery.deliver_outbox(connection, now, settings=_settings(smtp.port)) == 1
        rcpt, mail = smtp.messages[0]
        assert rcpt == ["buyer@example.com"] and mail["Bcc"] is None
        assert mail["Subject"] == "Shipped Bcc: victim@example.com"

    def test_an_unexpected_error_fails_that_row_only(self, session, connection, now, smtp):
        smtp.start()
        bad = _queue(session, now, channel="email", key="bad", payload={"data": "not a dict"})
        good = _queue(session, now, key="good")
        assert delivery.deliver_outbox(connection, now, settings=_settings(smtp.port)) == 1
        session.refresh(bad)
        session.refresh(good)
        assert bad.state == "failed" and "internal error" in bad.last_error
        assert good.state == "sent"


class TestNoLockWhileSending:
    def test_sqlite_is_writable_while_a_robot_takes_its_time(self, tmp_path, now, receiver):
        """On SQLite an open transaction holds the write lock; delivery must not hold one while
        a (slow) server answers, or every page would wait for it."""
        import sqlite3

        from backend.db import make_engine, new_session
        from backend.migrate import upgrade

        url = f"sqlite:///{tmp_path / 'outbox.db'}"
        upgrade(url)
        engine = make_engine(url)
        writes: list[str] = []

        def write_meanwhile():
            conn = sqlite3.connect(tmp_path / "outbox.db", timeout=0.5, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("UPDATE notify_channel SET updated_at = updated_at")
                conn.execute("COMMIT")
                writes.append("ok")
            except sqlite3.OperationalError as exc:
                writes.append(str(exc))
            finally:
                conn.close()

        receiver.on_request = write_meanwhile
        try:
            with new_session(engine) as s:
                _config(s, now, "wecom", receiver.url + "/send")
                _queue(s, now, channel="wecom", recipient="")
            assert delivery.deliver_outbox(engine, now, settings=_settings(1)) == 1
        finally:
            engine.dispose()
        assert writes == ["ok"]


class TestLeaseFencing:
    def test_a_row_taken_over_after_its_lease_ran_out_is_not_sent_by_the_old_holder(self, session, connection, now,
                                                                                      smtp):
        smtp.start()
        settings = _settings(smtp.port)
        row = _queue(session, now)
        [(message_id, old_token)] = delivery.claim_due(connection, now, limit=10, lease=delivery.lease_of(settings))
        later = now + delivery.lease_of(settings) + timedelta(seconds=1)
        assert delivery.deliver_outbox(connection, later, settings=settings) == 1  # another worker took it over
        stale = session.get(OutboxMessage, message_id)
        assert delivery._attempt(session, stale, token=old_token, clock=lambda: later, settings=settings) is False
        assert len(smtp.messages) == 1 and len(_attempts(session, row)) == 1

    def test_a_holder_frozen_past_its_lease_cannot_mark_or_send_what_another_worker_took(self, session, connection,
                                                                                         now, smtp):
        """Two workers, two sessions: A claims and renews its lease, then freezes; B takes the row
        over once A's lease ran out and sends it. A resumes: its outcome (sent or failed) leaves B's
        row as B marked it, and a resumed A that had not sent yet does not send."""
        smtp.start()
        settings = _settings(smtp.port)
        row = _queue(session, now)
        lease = delivery.lease_of(settings)
        [(message_id, claimed)] = delivery.claim_due(connection, now, limit=10, lease=lease)
        renewed = delivery._renew(session, message_id, claimed, now + lease)  # A, right before its send
        session.commit()
        later = renewed + timedelta(seconds=1)  # A froze past its lease ...
        assert delivery.deliver_outbox(connection, later, settings=settings) == 1  # ... B took over and sent
        b_state = session.execute(select(OutboxMessage.state, OutboxMessage.sent_at, OutboxMessage.attempts)
                                  .where(OutboxMessage.id == message_id)).one()
        assert tuple(b_state) == ("sent", later, 1)
        stale = session.get(OutboxMessage, message_id)
        for ok in (True, False):  # A's late outcome: logged as an attempt, never written on the row
            delivery._finish(session, stale, message_id, renewed, at=later, ok=ok, detail="late",
                             values={"state": "sent" if ok else "failed", "attempts": 9, "sent_at": None,
                                     "locked_until": None})
        assert tuple(session.execute(select(OutboxMessage.state, OutboxMessage.sent_at, OutboxMessage.attempts)
                                     .where(OutboxMessage.id == message_id)).one()) == tuple(b_state)
        assert [a.detail for a in _attempts(session, row)][1:] == ["late", "late"]

        # a holder that renewed and then froze before sending does not send once it wakes
        second = _queue(session, now, key="k2")
        [(second_id, token)] = delivery.claim_due(connection, now, limit=10, lease=lease)
        ran_out = now + lease + timedelta(seconds=1)
        assert delivery._attempt(session, session.get(OutboxMessage, second_id), token=token,
                                 clock=iter([now, ran_out, ran_out]).__next__, settings=settings) is False
        assert len(smtp.messages) == 1  # only B's send of the first row
        assert session.execute(select(OutboxMessage.state).where(OutboxMessage.id == second.id)).scalar_one() \
            == "sending"  # left for the next holder

    def test_the_same_message_id_on_every_attempt_of_a_row(self, session, connection, now, smtp):
        smtp.start()
        settings = _settings(smtp.port)
        row = _queue(session, now)
        delivery.deliver_outbox(connection, now, settings=settings)
        session.refresh(row)
        delivery.resend(session, actor=ADMIN, message_id=row.id, now=now)
        delivery.deliver_outbox(connection, now, settings=settings)
        ids = {mail["Message-ID"] for _rcpt, mail in smtp.messages}
        assert len(smtp.messages) == 2 and len(ids) == 1
