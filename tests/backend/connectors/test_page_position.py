"""The place inside a page (backend/connectors/page_position.py) for next-link paging and after a
failed run, on SQLite and PostgreSQL: the run after asks the page it stopped in, and hands the
writer only the records not written yet."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.connectors import runner, service
from backend.connectors.models import Connector
from backend.pipeline import NamedStage, Pipeline, attach
from backend.pipeline_assembly import build_pipeline
from tests.backend.connectors.test_runner import _orders, _run, payload


@pytest.mark.parametrize("batch_records", [1, 1000])
def test_next_link_paging_reads_on_inside_the_page_a_failed_run_stopped_in(session, connection, admin, now, source,
                                                                           monkeypatch, batch_records):
    monkeypatch.setattr(runner, "BATCH_RECORDS", batch_records)
    source.page_size = 3
    c = service.create_connector(session, actor=admin, payload=payload(source.url + "/orders/link?page=1"), now=now)

    def explode(s, change):
        if change.order.external_id == "CON-B5":
            raise RuntimeError("stage broke")

    broken = build_pipeline()
    attach(connection, Pipeline(checks=broken.checks, stages=(*broken.stages, NamedStage("boom", explode)),
                                appliers=broken.appliers))
    try:
        assert _run(connection, c.id, now).status == "failed"
    finally:
        attach(connection, build_pipeline())
    written = sorted(_orders(session))
    session.expire_all()
    at = session.get(Connector, c.id).cursor["at"]
    if batch_records == 1:  # B4 committed alone: page 2, one record written
        assert written == ["CON-B1", "CON-B2", "CON-B3", "CON-B4"]
        assert (at["url"].endswith("/orders/link?page=2"), at["done"], at["id"]) == (True, 1, "CON-B4")
    else:  # page 2 was one batch: none of it
        assert written == ["CON-B1", "CON-B2", "CON-B3"]
        assert (at["url"].endswith("/orders/link?page=2"), at["done"]) == (True, 0)
    handled: list[str] = []
    real = runner._records
    monkeypatch.setattr(runner, "_records", lambda s, ctx, numbered: (
        handled.extend(r["id"] for _, r, _ in numbered), real(s, ctx, numbered))[1])
    source.requests.clear()
    run = _run(connection, c.id, now + timedelta(minutes=1))
    assert run.status == "ok"
    assert [p for p in source.requests if p.startswith("/orders")][0] == "/orders/link?page=2"
    assert handled == [f"CON-B{i}" for i in range(len(written) + 1, 6)]  # none again, none skipped
    assert run.unchanged_count == 0 and sorted(_orders(session)) == [f"CON-B{i}" for i in range(1, 6)]
    session.expire_all()
    assert "at" not in session.get(Connector, c.id).cursor  # read to the end: the next run starts at page 1
