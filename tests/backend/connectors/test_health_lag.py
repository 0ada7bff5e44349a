"""Issue 13 health page: next run, and lag = time since the last successful run (its end; the
run's clock is held still here), which a failed run does not reset. SQLite and PostgreSQL, a real local HTTP source."""

from __future__ import annotations

from datetime import timedelta

from backend.connectors import runner, service
from tests.backend.connectors.test_runner import payload


def test_lag_counts_from_the_last_success_and_a_failure_does_not_reset_it(session, connection, admin, now, source):
    c = service.create_connector(session, actor=admin, payload=payload(
        source.url + "/flaky", paging="none", records_path="items", max_retries=0), now=now)
    assert runner.run_connector(connection, c.id, now, trigger="manual", elapsed=lambda: 0.0).status == "ok"
    session.expire_all()
    read = service.get_connector(session, actor=admin, connector_id=c.id, now=now + timedelta(minutes=3))
    assert read.lag_seconds == 180 and read.last_status == "ok"
    assert read.next_run_at == now + timedelta(minutes=5)

    source.fail_times = 1
    later = now + timedelta(minutes=30)
    assert runner.run_connector(connection, c.id, later, trigger="manual", elapsed=lambda: 0.0).status == "failed"
    session.expire_all()
    read = service.get_connector(session, actor=admin, connector_id=c.id, now=later + timedelta(minutes=1))
    assert read.lag_seconds == 31 * 60 and read.last_status == "failed" and read.failures_in_row == 1
    assert read.last_error_message
