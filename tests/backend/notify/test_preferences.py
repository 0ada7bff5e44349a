"""Preferences: quiet hours, handing notifications to channels, the daily digest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.auth.service import load_actor
from backend.effects import apply_effects
from backend.errors import GendanError
from backend.notify import service as notify_service
from backend.notify.models import NotificationDispatch, OutboxMessage
from backend.notify.preferences import digest_due, quiet_until
from engine import effects as fx
from tests.factories.people import make_user

SH = "Asia/Shanghai"  # UTC+8


class TestQuietHours:
    @pytest.mark.parametrize(("utc", "expected"), [
        (datetime(2026, 11, 24, 15, 0, tzinfo=UTC), datetime(2026, 11, 24, 23, 0, tzinfo=UTC)),  # 23:00 local
        (datetime(2026, 11, 24, 20, 0, tzinfo=UTC), datetime(2026, 11, 24, 23, 0, tzinfo=UTC)),  # 04:00 local
        (datetime(2026, 11, 24, 2, 30, tzinfo=UTC), None),  # 10:30 local
        (datetime(2026, 11, 24, 23, 0, tzinfo=UTC), None),  # 07:00 local: quiet hours just ended
    ])
    def test_window_across_midnight(self, utc, expected):
        assert quiet_until(utc, start="22:00", end="07:00", tz=SH) == expected

    def test_window_within_a_day_and_none(self):
        noon = datetime(2026, 11, 24, 4, 30, tzinfo=UTC)  # 12:30 local
        assert quiet_until(noon, start="12:00", end="13:30", tz=SH) == datetime(2026, 11, 24, 5, 30, tzinfo=UTC)
        assert quiet_until(noon, start=None, end=None, tz=SH) is None
        assert quiet_until(noon, start="12:00", end="12:00", tz=SH) is None

    def test_digest_due_once_a_day_after_the_hour(self):
        evening = datetime(2026, 11, 24, 10, 5, tzinfo=UTC)  # 18:05 local
        assert digest_due(evening, hour=18, tz=SH, last_sent_on=None) == date(2026, 11, 24)
        assert digest_due(evening, hour=18, tz=SH, last_sent_on=date(2026, 11, 24)) is None
        assert digest_due(evening - timedelta(hours=1), hour=18, tz=SH, last_sent_on=None) is None


def _notify(session, user, key, now, title="Order SO-1 is late"):
    apply_effects(session, [fx.Notify(dedupe_key=key, user_ids=(user.id,), title=title, body="3 days")],
                  order=None, actor=None, now=now)
    session.commit()


class TestDispatch:
    def test_in_app_only_users_get_no_outbox_rows(self, session, connection, now):
        user = make_user(session)
        _notify(session, user, "d1", now)
        assert notify_service.dispatch_notifications(connection, now) == 1
        assert session.exec(select(OutboxMessage)).first() is None
        assert notify_service.dispatch_notifications(connection, now) == 0  # handled once

    def test_email_now_or_after_quiet_hours(self, session, connection, now):
        user = make_user(session, locale="en")
        notify_service.save_preference(session, actor=load_actor(session, user.id), channels=["email", "sms"],
                                       quiet_start="22:00", quiet_end="07:00", is_digest=False, digest_hour=18,
                                       timezone=SH, now=now)
        _notify(session, user, "d2", now)  # 10:30 local: not quiet
        night = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 23:00 local
        _notify(session, user, "d3", night, title="Late at night")
        notify_service.dispatch_notifications(connection, night, base_url="http://gendan.test")
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        # the user has no phone: no SMS row; both notifications go by e-mail
        assert [(r.channel, r.recipient) for r in rows] == [("email", user.email)] * 2
        by_subject = {r.subject: r for r in rows}
        assert by_subject["Late at night"].next_attempt_at == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
        assert by_subject["Order SO-1 is late"].payload["locale"] == "en"

    def test_digest_collects_the_day_into_one_message(self, session, connection, now):
        user = make_user(session, locale="en")
        notify_service.save_preference(session, actor=load_actor(session, user.id), channels=["email"],
                                       quiet_start=None, quiet_end=None, is_digest=True, digest_hour=18,
                                       timezone=SH, now=now)
        _notify(session, user, "g1", now, title="First")
        _notify(session, user, "g2", now, title="Second")
        notify_service.dispatch_notifications(connection, now)
        assert session.exec(select(OutboxMessage)).first() is None
        modes = session.exec(select(NotificationDispatch.mode)).scalars().all()
        assert modes == ["digest", "digest"]
        evening = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 18:00 local
        assert notify_service.send_digests(connection, evening - timedelta(hours=1)) == 0
        assert notify_service.send_digests(connection, evening) == 1
        assert notify_service.send_digests(connection, evening + timedelta(hours=1)) == 0
        [row] = session.exec(select(OutboxMessage)).scalars().all()
        assert row.subject == "Gendan: 2 updates today" and "- First" in row.body and "- Second" in row.body

    def test_bad_preferences_are_refused_per_field(self, session, now):
        user = make_user(session)
        with pytest.raises(GendanError) as err:
            notify_service.save_preference(session, actor=load_actor(session, user.id), channels=["pigeon"],
                                           quiet_start="25", quiet_end="7:00", is_digest=False, digest_hour=30,
                                           timezone=SH, now=now)
        assert set(err.value.fields) == {"channels", "quiet_start", "digest_hour"}


class TestRequestedChannels:
    def test_a_rule_asking_for_email_and_chat_is_honoured(self, session, connection, now):
        from backend.notify.models import ChannelConfig

        user = make_user(session, phone="13700000000")
        session.add(ChannelConfig(name="ops-robot", kind="wecom", target="http://127.0.0.1:9/send", options={},
                                  created_at=now, updated_at=now))
        apply_effects(session, [fx.Notify(dedupe_key="r1", user_ids=(user.id,), title="Late",
                                          channels=("in_app", "email", "chat"))], order=None, actor=None, now=now)
        session.commit()
        notify_service.dispatch_notifications(connection, now)
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        assert [(r.channel, r.recipient) for r in rows] == [("email", user.email), ("wecom", "13700000000")]
