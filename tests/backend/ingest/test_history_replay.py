"""History replay (issue 13): Olist orders imported with their past stage changes and original times.

A handful of real Olist rows (tests/data/olist, CC BY-NC-SA 4.0) through the real import job path
with tests/data/olist/mapping_history.json, on an installation where a normal import would start
the default flow, fire a stage rule and write the customer a "received" message: a replayed past
does none of that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend import i18n
from backend.auth.service import load_actor
from backend.flows.models import FlowInstance
from backend.inbox.models import InboxItem
from backend.ingest import copyrows, service
from backend.ingest.history import read_mapping_file
from backend.ingest.models import ImportJob, ImportRowError
from backend.notify.models import OutboxMessage
from backend.orders import service as orders_service
from backend.orders.models import Order, OrderEvent
from backend.rules.models import RuleFiring
from backend.tracking import service as tracking_service
from tests.backend.test_pipeline import enable_rule, publish_flow, stage_rule
from tests.factories.orders import make_customer
from tests.factories.people import make_department, make_user

OLIST = Path(__file__).resolve().parents[2] / "data" / "olist"
MAPPING = read_mapping_file(OLIST / "mapping_history.json")
# file lines of olist_orders_dataset.csv: delivered, invoiced, processing, shipped, unavailable,
# carrier before approval (refused), canceled, created
LINES = (2, 5, 58, 75, 118, 835, 840, 3356)
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _content(lines=LINES) -> bytes:
    source = (OLIST / "olist_orders_dataset.csv").read_bytes().splitlines(keepends=True)
    return source[0] + b"".join(source[n - 1] for n in lines)


@pytest.fixture
def admin(session):
    manager = make_user(session, roles=("sales", "approver"), username="hr.manager")
    dept = make_department(session, name="HR Sales", head=manager)
    make_user(session, roles=("warehouse",), username="hr.warehouse")
    admin = make_user(session, roles=("admin", "designer"), username="hr.admin", department=dept)
    # the first row's buyer, with an e-mail address: a normal import would write them a message
    make_customer(session, name="Olist buyer", code="9ef432eb6251297304e76186b10a928d", preferred_channel="email")
    session.flush()
    org = {"manager": manager, "admin": admin}
    publish_flow(session, org, NOW)
    tracking_service.save_notified_milestones(session, actor=load_actor(session, admin.id),
                                              milestones={"received", "shipped", "delivered"})
    for stage in ("draft", "shipping", "delivered"):
        enable_rule(session, org, stage_rule(f"hr_{stage}", stage, [{"type": "add_tag", "tag": f"hr-{stage}"}]), NOW)
    session.commit()
    return load_actor(session, admin.id)


def _import(session, connection, actor, content: bytes) -> ImportJob:
    preview = service.upload_import(session, actor=actor, filename="olist.csv", content=content, now=NOW)
    service.start_import(session, actor=actor, job_id=preview.job.id, mapping=MAPPING, now=NOW)
    service.run_to_end(connection, preview.job.id, NOW, batch_size=3)  # several batches
    session.expire_all()
    return session.get(ImportJob, preview.job.id)


def _order(session, external_id: str) -> Order:
    return session.exec(select(Order).where(Order.source == "olist", Order.external_id == external_id)
                        ).scalars().one()


def _count(session, model, *where) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_olist_rows_land_in_their_final_stage_with_their_past_as_history(session, connection, admin, monkeypatch):
    monkeypatch.setattr(copyrows, "COPY_MIN_ROWS", 1)  # PostgreSQL writes with COPY even these few rows
    job = _import(session, connection, admin, _content())
    assert (job.state, job.created_count, job.failed_count) == ("done", 7, 1)

    delivered = _order(session, "e481f51cbdc54678b7cc49136f2d6af7")  # Sao Paulo is UTC-3 in early October 2017
    assert (delivered.stage, delivered.status) == ("delivered", "completed")
    assert delivered.created_at == utc("2017-10-02 13:56:33")
    assert delivered.stage_entered_at == utc("2017-10-11 00:25:13")  # 2017-10-10 21:25:13 local: delivered
    assert delivered.closed_at == delivered.stage_entered_at
    assert delivered.tags == []  # no rule added its tag

    events = orders_service.list_events(session, actor=admin, order_id=delivered.id)
    assert [(e.type, e.at, (e.before or {}).get("stage"), (e.after or {}).get("stage")) for e in events] == [
        ("created", utc("2017-10-02 13:56:33"), None, "draft"),
        ("history", utc("2017-10-02 14:07:15"), "draft", "approval"),
        ("history", utc("2017-10-04 22:55:00"), "approval", "shipping"),
        ("history", utc("2017-10-11 00:25:13"), "shipping", "delivered"),
    ]
    assert events[-1].after["status"] == "completed" and events[-1].before["status"] == "open"
    # the customer's tracking page replays the events: its milestones carry the original dates
    reached = tracking_service._reached_at(session, delivered)
    assert (reached["received"], reached["delivered"]) == (utc("2017-10-02 13:56:33"), utc("2017-10-11 00:25:13"))

    shipped = _order(session, "36530871a5e80138db53bcfd8a104d90")
    assert (shipped.stage, shipped.status, shipped.closed_at) == ("shipping", "open", None)
    assert shipped.stage_entered_at == utc("2017-05-11 16:21:47")
    invoiced = _order(session, "136cce7faa42fdb2cefd53fdc79a6098")  # no time for invoicing: the last known one
    assert (invoiced.stage, invoiced.stage_entered_at) == ("invoicing", utc("2017-04-13 16:25:17"))
    unavailable = session.exec(select(Order).where(Order.source == "olist", Order.data["olist_status"].as_string()
                                                   == "unavailable")).scalars().one()
    assert (unavailable.stage, unavailable.status) == ("approval", "cancelled")  # stays where it got to
    assert unavailable.closed_at == unavailable.stage_entered_at > unavailable.created_at
    canceled = session.exec(select(Order).where(Order.source == "olist", Order.data["olist_status"].as_string()
                                                == "canceled")).scalars().one()
    assert (canceled.stage, canceled.status, canceled.closed_at) == ("draft", "cancelled", canceled.created_at)

    ids = [o.id for o in session.exec(select(Order).where(Order.source == "olist")).scalars()]
    assert len(ids) == 7
    # the past sends nothing, fires nothing, starts nothing
    assert _count(session, OutboxMessage) == 0
    assert _count(session, RuleFiring) == 0
    assert _count(session, FlowInstance, FlowInstance.order_id.in_(ids)) == 0
    assert _count(session, InboxItem, InboxItem.order_id.in_(ids)) == 0
    assert _count(session, OrderEvent, OrderEvent.order_id.in_(ids), OrderEvent.type == "history") == 3 + 2 + 2 + 2 + 1 + 1 + 0

    # the refused row: carrier before approval, in the reader's language; the others were imported
    (error,) = session.exec(select(ImportRowError).where(ImportRowError.import_job_id == job.id)).scalars().all()
    assert error.line == 7 and error.errors[0]["code"] == "import.history_out_of_order"
    assert error.errors[0]["column"] == "order_delivered_carrier_date"
    said = {}
    for locale in ("zh_CN", "en"):
        token = i18n.set_locale(locale)
        try:
            said[locale] = service.describe(error.errors[0])
        finally:
            i18n.reset_locale(token)
    assert "2017-04-28 10:05:52 早于 order_approved_at 中的 2017-04-28 11:41:28" in said["zh_CN"]
    assert "2017-04-28 10:05:52 is earlier than 2017-04-28 11:41:28 in order_approved_at" in said["en"]

    # importing the same file again changes nothing
    before = _count(session, OrderEvent)
    again = _import(session, connection, admin, _content())
    assert (again.created_count, again.existing_count, again.unchanged_count, again.updated_count,
            again.failed_count) == (0, 7, 7, 0, 1)
    assert _count(session, OrderEvent) == before
    session.expire_all()
    assert _order(session, "e481f51cbdc54678b7cc49136f2d6af7").stage_entered_at == utc("2017-10-11 00:25:13")


def test_a_newer_export_moves_a_replayed_order_on_as_history(session, connection, admin):
    _import(session, connection, admin, _content((75,)))
    row = _content((75,)).decode().splitlines()
    newer = row[1].replace(",shipped,", ",delivered,").replace(",,2017-", ",2017-05-16 09:00:00,2017-")
    job = _import(session, connection, admin, (row[0] + "\n" + newer + "\n").encode())
    assert (job.updated_count, job.created_count, job.failed_count) == (1, 0, 0)
    order = _order(session, "36530871a5e80138db53bcfd8a104d90")
    assert (order.stage, order.status, order.stage_entered_at) == ("delivered", "completed", utc("2017-05-16 12:00:00"))
    events = orders_service.list_events(session, actor=admin, order_id=order.id)
    assert [(e.type, e.before, e.after) for e in events][-1] == (
        "history", {"stage": "shipping", "status": "open"}, {"stage": "delivered", "status": "completed"})
    assert _count(session, OutboxMessage) == 0 and _count(session, RuleFiring) == 0


def test_a_history_column_the_file_lacks_is_refused_when_the_import_starts(session, admin):
    from backend.errors import GendanError

    preview = service.upload_import(session, actor=admin, filename="o.csv", content=b"order_id,x\n1,2\n", now=NOW)
    with pytest.raises(GendanError) as caught:
        service.start_import(session, actor=admin, job_id=preview.job.id, mapping=MAPPING, now=NOW)
    assert caught.value.fields["history.1"] == ("import.column_unknown", {"column": "order_approved_at"})


def test_bad_and_future_times_fail_their_rows_alone_each_cell_named_once(session, connection, admin):
    header, good = _content((2,)).decode().splitlines()
    bad = good.replace("e481f51c", "bad0f51c").replace("2017-10-02 11:07:15", "2017-13-45 11:07:15")
    future = good.replace("e481f51c", "f0f0f51c").replace("2017-10-10 21:25:13", "2031-10-10 21:25:13")
    job = _import(session, connection, admin, "\n".join([header, bad, good, future, ""]).encode())
    assert (job.created_count, job.failed_count) == (1, 2)
    errors = {e.line: e.errors for e in session.exec(
        select(ImportRowError).where(ImportRowError.import_job_id == job.id)).scalars()}
    assert [(e["column"], e["code"]) for e in errors[2]] == [("order_approved_at", "import.date_invalid")]
    assert [(e["column"], e["code"]) for e in errors[4]] == [("order_delivered_customer_date",
                                                              "import.history_in_future")]
    token = i18n.set_locale("zh_CN")
    try:
        assert "将来" in service.describe(errors[4][0])
    finally:
        i18n.reset_locale(token)
    assert _order(session, "e481f51cbdc54678b7cc49136f2d6af7").stage == "delivered"
