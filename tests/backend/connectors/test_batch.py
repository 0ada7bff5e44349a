"""Connector records set-based a batch at a time (backend/connectors/batch.py), on SQLite and
PostgreSQL, against a real local HTTP source: the same outcomes as record by record (a
differential run), the cursor moving only with a whole batch, a run failing mid-batch leaving none
of it and the next run doing each record once, a bad record failing alone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from backend.audit.models import AuditEvent
from backend.connectors import batch, runner, service
from backend.connectors.models import Connector, ConnectorRecordError
from backend.customers.models import Customer
from backend.orders.models import Order, OrderEvent
from backend.pipeline import NamedStage, Pipeline, attach
from backend.pipeline_assembly import build_pipeline
from tests.backend.connectors.conftest import records
from tests.backend.connectors.test_runner import _run, payload
from tests.factories.orders import make_customer


def _cursor_source(source, page_size: int):
    source.page_size = page_size
    return payload(source.url + "/orders/cursor?cursor={cursor}", paging="cursor", records_path="items",
                   since_path="updated")


def _state(session, connector_id: int) -> dict:
    session.expire_all()
    orders = session.exec(select(Order).where(Order.source == "shop")).scalars().all()
    codes = dict(session.execute(select(Customer.id, Customer.code)).all())
    events = session.execute(select(Order.external_id, OrderEvent.type, func.count()).join(
        Order, Order.id == OrderEvent.order_id).where(Order.source == "shop")
        .group_by(Order.external_id, OrderEvent.type)).all()
    errors = session.exec(select(ConnectorRecordError).where(ConnectorRecordError.connector_id == connector_id)
                          .order_by(ConnectorRecordError.run_id, ConnectorRecordError.position)).scalars().all()
    connector = session.get(Connector, connector_id)
    made = session.execute(select(AuditEvent.entity_key, AuditEvent.actor_id).where(
        AuditEvent.entity_type == "customer", AuditEvent.action == "create")).all()
    return {
        "customer_audit": sorted((codes[int(key)], actor_id) for key, actor_id in made),
        "orders": sorted((o.external_id, o.number, str(o.amount), o.stage, o.status, codes[o.customer_id], o.version)
                         for o in orders),
        "events": sorted(tuple(e) for e in events),
        "errors": [(e.position, e.external_id, [x["code"] for x in e.errors], e.record) for e in errors],
        "cursor": connector.cursor,
        "last_error": {k: v for k, v in (connector.last_error_record or {}).items() if k != "run_id"},
    }


def _counts(run) -> tuple:
    return (run.status, run.read_count, run.created_count, run.updated_count, run.unchanged_count, run.failed_count)


def _mixed(source) -> None:
    source.records = records(9)
    source.records[2]["total"] = "lots"  # a bad amount: fails alone
    del source.records[4]["id"]  # no id: fails alone
    source.records[6] = dict(source.records[1], total="2002.50")  # B2 again in the same page: an update


def test_batches_leave_what_record_by_record_leaves(session, connection, admin, now, source, monkeypatch):
    _mixed(source)
    make_customer(session, name="买家0", code="K0")  # known already: no audit row for it
    c = service.create_connector(session, actor=admin, payload=_cursor_source(source, 4), now=now)
    session.commit()
    session.close()
    used = []
    real = batch.write_batch
    monkeypatch.setattr(batch, "write_batch", lambda *a: used.append(real(*a)) or used[-1])

    def two_runs() -> tuple[list, dict]:
        first = _counts(_run(connection, c.id, now))
        source.records[0]["total"] = "5555.00"  # changed at the source: an update on the second run
        with runner.new_session(connection) as s:
            s.get(Connector, c.id).cursor = {}  # re-read everything
            s.commit()
        second = _counts(_run(connection, c.id, now + timedelta(minutes=5)))
        source.records[0]["total"] = "1001.50"
        with runner.new_session(connection) as s:
            return [first, second], _state(s, c.id)

    savepoint = connection.begin_nested()
    monkeypatch.setattr(runner, "BATCH_RECORDS", 1)
    by_record = two_runs()
    savepoint.rollback()
    assert used == []
    monkeypatch.setattr(runner, "BATCH_RECORDS", 1000)
    by_batch = two_runs()
    assert used and all(used)  # every batch went set-based

    assert by_batch == by_record
    counts, state = by_batch
    # B2 twice in a page (the second an update), then B1 changed at the source and B2 flipping back and forth
    assert counts == [("ok", 9, 6, 1, 0, 2), ("ok", 9, 0, 3, 4, 2)]
    assert ("CON-B2", "updated", 3) in state["events"] and ("CON-B1", "updated", 1) in state["events"]
    assert [e[:3] for e in state["errors"]] == [(3, "CON-B3", ["import.amount_invalid"]),
                                                (5, None, ["connector.record_id_missing"])] * 2
    assert state["cursor"]["since"] == "2026-11-29 10:00"
    # the buyer the connector created: one audit "create", by the connector's owner; none for K0
    assert state["customer_audit"] == [("K1", admin.user_id)]


def test_a_run_failing_mid_batch_leaves_none_of_it_and_the_next_does_each_record_once(session, connection, admin,
                                                                                      now, source):
    source.records = records(7)
    c = service.create_connector(session, actor=admin, payload=_cursor_source(source, 4), now=now)

    def explode(s, change):
        if change.order.external_id == "CON-B6":
            raise RuntimeError("the worker dies here")

    broken = build_pipeline()
    attach(connection, Pipeline(checks=broken.checks, stages=(*broken.stages, NamedStage("boom", explode)),
                                appliers=broken.appliers))
    try:
        run = _run(connection, c.id, now)
    finally:
        attach(connection, build_pipeline())
    assert (run.status, run.error["code"], run.created_count, run.read_count) == ("failed", "connector.run_internal",
                                                                                 4, 4)
    state = _state(session, c.id)
    assert [o[0] for o in state["orders"]] == [f"CON-B{i}" for i in range(1, 5)]  # the first page's batch only
    # page 1 was read through: its last record stored the next page's token (and its time), nothing of page 2
    at = state["cursor"].pop("at")
    assert state["cursor"] == {"token": "4", "since": "2026-11-24 10:00"}
    assert {k: at[k] for k in ("page", "token", "done")} == {"page": 2, "token": "4", "done": 0}

    run = _run(connection, c.id, now + timedelta(minutes=1))
    assert _counts(run) == ("ok", 3, 3, 0, 0, 0)  # page 2's records once, page 1 not asked again
    state = _state(session, c.id)
    assert [o[0] for o in state["orders"]] == [f"CON-B{i}" for i in range(1, 8)]
    assert all(count == 1 for _, kind, count in state["events"] if kind == "created")
    assert len([e for e in state["events"] if e[1] == "created"]) == 7


def test_a_bad_record_in_the_middle_of_a_batch_fails_alone(session, connection, admin, now, source):
    source.records = records(5)
    source.records[2]["updated"] = "31/31/2026"
    c = service.create_connector(session, actor=admin, payload=_cursor_source(source, 5), now=now)
    run = _run(connection, c.id, now)
    assert _counts(run) == ("ok", 5, 4, 0, 0, 1)
    state = _state(session, c.id)
    assert [o[0] for o in state["orders"]] == ["CON-B1", "CON-B2", "CON-B4", "CON-B5"]
    assert state["errors"] == [(3, "CON-B3", ["import.date_invalid"], source.records[2])]
    assert state["last_error"]["position"] == 3 and state["last_error"]["external_id"] == "CON-B3"
    assert state["cursor"]["token"] == ""  # the page is done (the source's last page has no next cursor)


def test_a_batch_the_set_based_path_declines_goes_record_by_record(session, connection, admin, now, source):
    source.records = records(4)
    source.records[1]["no"] = "SO20261207-00042"  # a number in the automatic series: the bulk path declines
    c = service.create_connector(session, actor=admin, payload=_cursor_source(source, 4), now=now)
    assert _counts(_run(connection, c.id, now)) == ("ok", 4, 4, 0, 0, 0)
    assert sorted(_state(session, c.id)["orders"])[1][1] == "SO20261207-00042"
