"""Exactly once with a slow SMTP server and two delivery workers running at once.

Before: a batch of 50 claimed under one lease outlived it while the server took its time, the
other worker claimed the rows still waiting and both sent them (issue 18: 78 delivered for 70).
Durations are scaled down through the settings (short lease, a server taking a fraction of a
second per message) so the lease runs out mid-batch, as it did at 7 s per message.

These tests commit for real, so they use their own databases (not the rolled-back fixtures).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from backend.clock import utcnow
from backend.db import make_engine, new_session
from backend.effects import enqueue
from backend.migrate import upgrade
from backend.notify import delivery
from backend.notify.models import OutboxAttempt, OutboxMessage
from backend.settings import Settings
from tests.backend.notify.servers import SmtpServer, free_port
from tests.conftest import PG_URL, _pg_available

pytestmark = pytest.mark.slow
MESSAGES = 24


def _admin():
    return sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/outbox-once.db"
        upgrade(url)
        yield url
        return
    if not _pg_available():
        pytest.skip(f"no PostgreSQL server at {PG_URL}")
    name = f"gendan_outbox_once_{os.getpid()}"
    admin = _admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def slow_smtp():
    server = SmtpServer(free_port(), delay=0.25)
    server.start()
    yield server
    server.stop()


def test_two_workers_and_a_slow_server_deliver_every_message_exactly_once(fresh_url, slow_smtp):
    # a lease (1 s) far shorter than a batch (12 x 0.25 s): rows wait in one worker's batch past
    # their lease and the other worker claims them
    settings = Settings(DATABASE_URL=fresh_url, smtp_host="127.0.0.1", smtp_port=slow_smtp.port,
                        smtp_from="gendan@example.com", outbox_batch_size=12, outbox_lease_seconds=1)
    engine = make_engine(fresh_url)
    try:
        start = utcnow()
        with new_session(engine) as session:
            for i in range(MESSAGES):
                enqueue(session, dedupe_key=f"once:{i}", channel="email", recipient=f"buyer{i}@example.com",
                        subject=f"Order SO-{i} shipped", body="Your order left the factory.", payload={},
                        order_id=None, now=start)
            session.commit()
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def worker():
            try:
                barrier.wait()
                for _ in range(40):  # until nothing is left (a generous bound, not a timing)
                    delivery.deliver_outbox(engine, utcnow(), settings=settings, clock=utcnow)
                    with new_session(engine) as s:
                        left = s.exec(select(func.count()).select_from(OutboxMessage)
                                      .where(OutboxMessage.state != "sent")).scalar_one()
                    if not left:
                        return
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        received = Counter(mail["X-Gendan-Delivery"] for _rcpt, mail in slow_smtp.messages)
        assert sorted(received) == sorted(f"once:{i}" for i in range(MESSAGES))
        assert set(received.values()) == {1}, {k: n for k, n in received.items() if n > 1}
        assert len({mail["Message-ID"] for _rcpt, mail in slow_smtp.messages}) == MESSAGES
        with new_session(engine) as session:
            rows = session.exec(select(OutboxMessage)).scalars().all()
            attempts = session.exec(select(OutboxAttempt)).scalars().all()
        assert {r.state for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}
        assert len(attempts) == MESSAGES and all(a.ok for a in attempts)
        # the send time is read when the server answered, not when the batch was claimed
        # (two workers share the server time: the last send is at least half of it after the start)
        assert max(r.sent_at for r in rows) - start >= timedelta(seconds=MESSAGES * 0.25 / 2 * 0.9)
        assert {a.at for a in attempts} == {r.sent_at for r in rows}
    finally:
        engine.dispose()


STALL = 8.0  # seconds the server holds its answer to DATA: past the lease, under the client's 10 s timeout


@pytest.fixture
def stalling_smtp():
    server = SmtpServer(free_port(), delay=STALL)
    server.start()
    yield server
    server.stop()


def test_mendsa_a_send_that_outlives_its_lease_is_not_sent_again_by_another_worker(fresh_url, stalling_smtp):
    """Before: the lease was renewed once, right before the send; a server answering DATA after
    the lease ran out let a second worker claim the row and send it too (two e-mails, the first
    worker's outcome dropped by the fence). Now the sending worker's heartbeat renews the lease
    while the server talks, so the second worker finds nothing due: one delivery."""
    settings = Settings(DATABASE_URL=fresh_url, smtp_host="127.0.0.1", smtp_port=stalling_smtp.port,
                        smtp_from="gendan@example.com", outbox_batch_size=1, outbox_lease_seconds=3)
    engine = make_engine(fresh_url)
    try:
        with new_session(engine) as session:
            enqueue(session, dedupe_key="stall:1", channel="email", recipient="buyer@example.com",
                    subject="Order SO-1 shipped", body="Your order left the factory.", payload={},
                    order_id=None, now=utcnow())
            session.commit()
        errors: list[BaseException] = []
        sent: list[int] = []

        def first():
            try:
                sent.append(delivery.deliver_outbox(engine, utcnow(), settings=settings, clock=utcnow))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        sender = threading.Thread(target=first)
        sender.start()
        second = 0
        # the second worker asks for due rows all along the first one's send (a generous bound)
        for _ in range(600):
            if not sender.is_alive():
                break
            with new_session(engine) as s:
                state = s.exec(select(OutboxMessage.state)).scalar_one()
            if state == "sending":
                second += delivery.deliver_outbox(engine, utcnow(), settings=settings, clock=utcnow)
            threading.Event().wait(0.2)
        sender.join(120)
        second += delivery.deliver_outbox(engine, utcnow(), settings=settings, clock=utcnow)
        assert errors == [] and not sender.is_alive()
        assert [mail["X-Gendan-Delivery"] for _rcpt, mail in stalling_smtp.messages] == ["stall:1"]
        assert sent == [1] and second == 0
        with new_session(engine) as session:
            row = session.exec(select(OutboxMessage)).scalar_one()
            attempts = session.exec(select(OutboxAttempt)).scalars().all()
        assert (row.state, row.attempts, row.locked_until) == ("sent", 1, None)
        assert [a.ok for a in attempts] == [True]
    finally:
        engine.dispose()
