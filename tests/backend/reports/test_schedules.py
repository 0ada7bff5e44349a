"""Scheduled reports: sent through a real SMTP server with the .xlsx attached, as the schedule's
owner may see it; robots get the top rows; each due moment exactly once."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from backend.auth.service import load_actor
from backend.errors import GendanError
from backend.notify import delivery
from backend.notify.models import ChannelConfig, OutboxMessage
from backend.reports import schedules, service
from backend.settings import Settings
from tests.backend.notify.servers import HttpReceiver, SmtpServer, free_port
from tests.conftest import bearer, login
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user

DEFINITION = {"key": "sched_by_owner", "name": {"zh": "按负责人", "en": "By owner"},
              "dimensions": [{"field": "owner_id"}], "measures": [{"op": "count"}], "view": {"type": "bar"}}


@pytest.fixture
def smtp():
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def _published(session, now):
    admin = load_actor(session, make_user(session, roles=["admin"]).id)
    service.save_draft(session, actor=admin, definition=DEFINITION, now=now)
    service.publish(session, actor=admin, key=DEFINITION["key"], now=now)
    session.commit()


def _two_teams(session):
    head1, head2 = make_user(session, display_name="Head A"), make_user(session, display_name="Head B")
    team1, team2 = make_department(session, head=head1), make_department(session, head=head2)
    rep1 = make_user(session, department=team1, display_name="Rep One")
    rep2 = make_user(session, department=team2, display_name="Rep Two")
    for _ in range(3):
        make_order(session, owner=rep1)
    for _ in range(5):
        make_order(session, owner=rep2)
    session.commit()
    return rep1, rep2


def _ours(session):
    return session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("report_schedule:%"))
                        .order_by(OutboxMessage.id)).scalars().all()


def test_email_with_the_reps_rows_only_through_smtp_exactly_once(session, connection, now, smtp):
    _published(session, now)
    rep1, rep2 = _two_teams(session)
    reader = make_user(session, display_name="Boss Reader", locale="en")
    session.commit()
    actor = load_actor(session, rep1.id)
    at = (now + timedelta(minutes=5)).astimezone(schedules.get_installation(session).zone).strftime("%H:%M")
    schedules.create(session, actor=actor, key=DEFINITION["key"], kind="daily", at=at, weekday=None, day=None,
                     user_ids=[reader.id, rep1.id], channel_id=None, locale="en", now=now)
    assert schedules.send_due(connection, now) == 0  # not due yet
    due = now + timedelta(minutes=6)
    assert schedules.send_due(connection, due) == 1
    assert schedules.send_due(connection, due + timedelta(seconds=30)) == 0  # no double send
    assert len(_ours(session)) == 2
    settings = Settings(DATABASE_URL="sqlite://", smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="g@example.com")
    assert delivery.deliver_outbox(connection, due, settings=settings) == 2
    assert sorted(r for rcpt, _ in smtp.messages for r in rcpt) == sorted([reader.email, rep1.email])
    mail = smtp.messages[0][1]
    assert mail["Subject"].startswith("Report By owner")
    files = [part for part in mail.iter_attachments()]
    assert [f.get_filename() for f in files] == [f"sched_by_owner-{due.astimezone(schedules.get_installation(session).zone):%Y%m%d}.xlsx"]
    sheet = load_workbook(BytesIO(files[0].get_content())).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values == [["Owner", "Orders"], ["Rep One", 3]]  # rep1's team only, never rep2's 5
    # the next day: sent again, once
    assert schedules.send_due(connection, due + timedelta(days=1)) == 1
    assert len(_ours(session)) == 4


def test_a_retry_sends_the_same_file(session, connection, now):
    _published(session, now)
    rep1, _ = _two_teams(session)
    actor = load_actor(session, rep1.id)
    schedules.create(session, actor=actor, key=DEFINITION["key"], kind="daily", at="00:00", weekday=None, day=None,
                     user_ids=[rep1.id], channel_id=None, locale="zh_CN", now=now - timedelta(days=2))
    assert schedules.send_due(connection, now) == 1
    port = free_port()
    settings = Settings(DATABASE_URL="sqlite://", smtp_host="127.0.0.1", smtp_port=port, smtp_from="g@example.com")
    assert delivery.deliver_outbox(connection, now, settings=settings) == 0  # server down
    server = SmtpServer(port)
    server.start()
    try:
        assert delivery.deliver_outbox(connection, now + timedelta(minutes=1), settings=settings) == 1
        mail = server.messages[0][1]
        sheet = load_workbook(BytesIO(next(mail.iter_attachments()).get_content())).active
        assert [c.value for c in next(sheet.iter_rows())] == ["负责人", "订单"]
    finally:
        server.stop()


def test_missed_moments_during_downtime_send_once(session, connection, now):
    _published(session, now)
    rep1, _ = _two_teams(session)
    schedules.create(session, actor=load_actor(session, rep1.id), key=DEFINITION["key"], kind="daily", at="08:00",
                     weekday=None, day=None, user_ids=[rep1.id], channel_id=None, locale="en", now=now)
    later = now + timedelta(days=5, hours=1)
    assert schedules.send_due(connection, later) == 1
    assert schedules.send_due(connection, later + timedelta(minutes=1)) == 0
    assert len(_ours(session)) == 1


def test_robot_gets_the_top_rows_and_a_link(session, connection, now):
    _published(session, now)
    rep1, _ = _two_teams(session)
    robot = HttpReceiver()
    try:
        config = ChannelConfig(name="sched robot", kind="wecom", target=robot.url + "/hook", created_at=now,
                               updated_at=now)
        session.add(config)
        session.commit()
        schedules.create(session, actor=load_actor(session, rep1.id), key=DEFINITION["key"], kind="weekly",
                         at="00:00", weekday=now.weekday(), day=None, user_ids=[], channel_id=config.id, locale="en",
                         now=now - timedelta(days=8))
        assert schedules.send_due(connection, now, base_url="http://gendan.test") == 1
        settings = Settings(DATABASE_URL="sqlite://")
        assert delivery.deliver_outbox(connection, now, settings=settings) == 2  # the chart image, then the rows
        assert robot.requests[0].json()["msgtype"] == "image"
        content = robot.requests[1].json()["markdown"]["content"]
        assert "Rep One | 3" in content and "Rep Two" not in content
        assert "http://gendan.test/reports/sched_by_owner/export.xlsx" in content
    finally:
        robot.close()


def test_bad_input_is_refused_in_words(session, now):
    _published(session, now)
    rep1, _ = _two_teams(session)
    actor = load_actor(session, rep1.id)
    for kwargs, code in [({"at": "25:00"}, "schedule.invalid_at"), ({"user_ids": []}, "schedule.no_recipients"),
                         ({"user_ids": [10**9]}, "schedule.unknown_recipient"),
                         ({"key": "no_such_report"}, "report.not_found")]:
        args = {"key": DEFINITION["key"], "kind": "daily", "at": "08:00", "weekday": None, "day": None,
                "user_ids": [rep1.id], "channel_id": None, "locale": "en", "now": now, **kwargs}
        with pytest.raises(GendanError) as err:
            schedules.create(session, actor=actor, **args)
        assert err.value.code == code
    other = load_actor(session, make_user(session).id)
    row = schedules.create(session, actor=actor, key=DEFINITION["key"], kind="daily", at="08:00", weekday=None,
                           day=None, user_ids=[rep1.id], channel_id=None, locale="en", now=now)
    with pytest.raises(GendanError) as err:
        schedules.delete(session, actor=other, schedule_id=row.id)
    assert err.value.code == "schedule.not_found"
    schedules.set_paused(session, actor=actor, schedule_id=row.id, paused=True)
    schedules.delete(session, actor=actor, schedule_id=row.id)


def test_the_designer_page_adds_pauses_and_deletes_schedules_in_both_languages(client, session, now):
    admin = make_user(session, roles=["admin"], display_name="Sched Admin")
    reader = make_user(session, display_name="Sched Reader")
    session.commit()
    auth = bearer(client, admin.username)
    assert client.post("/api/v1/reports", json=DEFINITION, headers=auth).status_code == 201
    login(client, admin.username)
    page = client.get("/designer/reports/sched_by_owner", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "定时发送" in page.text and "Sched Reader" in page.text
    hx = {"HX-Request": "true", "Accept-Language": "en"}
    refused = client.post("/designer/reports/sched_by_owner/schedules", data={"kind": "daily", "at": "8h",
                                                                              "user_ids": [str(reader.id)]}, headers=hx)
    assert refused.status_code == 200 and "Type a time like 08:30." in refused.text and 'value="8h"' in refused.text
    added = client.post("/designer/reports/sched_by_owner/schedules",
                        data={"kind": "weekly", "weekday": "4", "at": "17:30", "user_ids": [str(reader.id)],
                              "locale": "en"}, headers=hx)
    assert "Every Friday at 17:30" in added.text and "Sched Reader" in added.text
    row = schedules.list_schedules(session, "sched_by_owner")[0]
    paused = client.post(f"/designer/reports/sched_by_owner/schedules/{row.id}/pause", headers=hx)
    assert "Paused" in paused.text
    gone = client.post(f"/designer/reports/sched_by_owner/schedules/{row.id}/delete", headers=hx)
    assert "No schedule yet." in gone.text
    assert client.post("/designer/reports/sched_by_owner/schedules/999999/delete", headers=hx).status_code == 404


def test_a_report_that_cannot_run_skips_its_moment_and_never_stops_the_others(session, connection, now):
    _published(session, now)
    rep1, _ = _two_teams(session)
    actor = load_actor(session, rep1.id)
    broken = schedules.create(session, actor=actor, key=DEFINITION["key"], kind="daily", at="00:00", weekday=None,
                              day=None, user_ids=[rep1.id], channel_id=None, locale="en", now=now - timedelta(days=2))
    schedules.create(session, actor=actor, key=DEFINITION["key"], kind="daily", at="00:00", weekday=None, day=None,
                     user_ids=[rep1.id], channel_id=None, locale="en", now=now - timedelta(days=2))
    broken.report_key = "sched_gone"
    session.commit()
    assert schedules.send_due(connection, now) == 1
    assert schedules.send_due(connection, now + timedelta(minutes=1)) == 0
    session.refresh(broken)
    assert broken.last_moment is not None
    assert len(_ours(session)) == 1


def test_the_worker_runs_the_job():
    from backend.pipeline_assembly import build_jobs
    from backend.reports import tasks

    job = next(j for j in build_jobs() if j.name == "reports.send_schedules")
    assert job.run is tasks.send_schedules
