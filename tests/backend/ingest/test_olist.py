"""Real data: the Olist orders file (10,000 rows of 2017, CC BY-NC-SA 4.0, see tests/data/olist/SOURCE.txt).

The reference facts of SOURCE.txt are checked on all 10,000 rows through the same parsing the
import uses (pure, about a second). The database import runs on the first OLIST_ROWS rows on both
databases: the whole file took 392 s on SQLite (10,000 rows plus the same again for the re-import,
about 20 ms per row, a third of it in the tracking hook of create_order), too long for `make test`.
Set GENDAN_OLIST_ROWS=10000 to import the whole file; the expected counts then are SOURCE.txt's.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from backend.auth.service import load_actor
from backend.customers.models import Customer
from backend.ingest import service
from backend.ingest.csvfile import read_table
from backend.ingest.models import ImportJob
from backend.ingest.rows import parse_row
from backend.ingest.schemas import ImportMapping
from backend.orders.models import Order
from tests.factories.people import make_user

# In the repository, so every clone runs the real-data tests (a missing file fails, never skips).
OLIST = Path(__file__).resolve().parents[2] / "data" / "olist" / "olist_orders_dataset.csv"
OLIST_ROWS = int(os.environ.get("GENDAN_OLIST_ROWS", "1000"))
pytestmark = [pytest.mark.slow]

# the documented Olist mapping (tests/data/olist/mapping.json), shared by the tests and bench/
MAPPING = ImportMapping.model_validate_json((OLIST.parent / "mapping.json").read_text())
STAGE_OF = {"delivered": ("delivered", "completed"), "shipped": ("shipping", "open"),
            "unavailable": ("draft", "cancelled"), "canceled": ("draft", "cancelled"),
            "processing": ("production", "open"), "invoiced": ("invoicing", "open"), "created": ("draft", "open")}


def _content(rows: int | None) -> bytes:
    lines = OLIST.read_bytes().splitlines(keepends=True)
    return b"".join(lines if rows is None else lines[: rows + 1])


def test_every_olist_row_parses_and_keeps_the_reference_facts():
    headers, rows, encoding, delimiter = read_table(_content(None))
    assert (len(rows), encoding, delimiter) == (10_000, "utf-8", ",")
    parsed = [parse_row(i + 2, dict(zip(headers, cells, strict=True)), MAPPING, ZoneInfo(MAPPING.timezone))
              for i, cells in enumerate(rows)]
    assert [p.errors for p in parsed if p.errors] == []
    assert len({p.values["external_id"] for p in parsed}) == 10_000
    assert Counter(p.values["data"]["olist_status"] for p in parsed) == {
        "delivered": 9649, "shipped": 104, "unavailable": 98, "canceled": 57, "processing": 47, "invoiced": 43,
        "created": 2}
    assert {k: sum(1 for p in parsed if p.values["data"][k] is None)
            for k in ("approved_at", "delivered_carrier_at", "delivered_customer_at")} == {
        "approved_at": 16, "delivered_carrier_at": 247, "delivered_customer_at": 352}
    delivered = [p for p in parsed if p.values["data"]["olist_status"] == "delivered"]
    assert sum(1 for p in delivered if p.values["data"]["delivered_customer_at"]) == 9648
    assert Counter((p.values.get("stage", "draft"), p.status) for p in parsed) == {
        ("delivered", "completed"): 9649, ("shipping", None): 104, ("draft", "cancelled"): 155,
        ("production", None): 47, ("invoicing", None): 43, ("draft", None): 2}


def test_olist_orders_land_with_their_statuses_and_gaps(session, connection, now):
    is_full = OLIST_ROWS >= 10_000
    content = _content(None if is_full else OLIST_ROWS)
    source_rows = list(csv.DictReader(content.decode().splitlines()))
    admin = make_user(session, roles=["admin"])
    session.commit()
    actor = load_actor(session, admin.id)
    preview = service.upload_import(session, actor=actor, filename="olist_orders_dataset.csv", content=content,
                                    now=now)
    service.start_import(session, actor=actor, job_id=preview.job.id, mapping=MAPPING, now=now)
    service.run_to_end(connection, preview.job.id, now, batch_size=500)
    session.expire_all()
    job = session.get(ImportJob, preview.job.id)
    n = len(source_rows)
    assert (job.state, job.total_rows, job.created_count, job.failed_count) == ("done", n, n, 0)

    by_status = Counter(session.exec(
        select(Order.data["olist_status"].as_string()).where(Order.source == "olist")).scalars())
    if is_full:  # SOURCE.txt: status counts
        assert by_status == {"delivered": 9649, "shipped": 104, "unavailable": 98, "canceled": 57,
                             "processing": 47, "invoiced": 43, "created": 2}
    else:
        assert by_status == Counter(r["order_status"] for r in source_rows)
    stages = Counter(session.exec(select(Order.stage, Order.status).where(Order.source == "olist")).all())
    expected = Counter()
    for status, count in by_status.items():
        expected[STAGE_OF[status]] += count
    assert {tuple(k): v for k, v in stages.items()} == dict(expected)

    # data-quality rows are kept, with the gap recorded as unknown rather than dropped
    gaps = Counter()
    for key in ("approved_at", "delivered_carrier_at", "delivered_customer_at"):
        gaps[key] = session.exec(select(func.count()).select_from(Order).where(
            Order.source == "olist", Order.data[key].as_string().is_(None))).scalar_one()
    if is_full:  # SOURCE.txt: null counts 16 / 247 / 352
        assert gaps == {"approved_at": 16, "delivered_carrier_at": 247, "delivered_customer_at": 352}
    else:
        assert gaps == {"approved_at": sum(1 for r in source_rows if not r["order_approved_at"]),
                        "delivered_carrier_at": sum(1 for r in source_rows if not r["order_delivered_carrier_date"]),
                        "delivered_customer_at": sum(1 for r in source_rows if not r["order_delivered_customer_date"])}
        assert gaps["approved_at"] >= 1  # the slice holds some of the 16 orders without approval

    first = source_rows[0]  # e481f51c..., bought 2017-10-02 10:56:33 in Sao Paulo (UTC-3)
    order = session.exec(select(Order).where(Order.source == "olist",
                                             Order.external_id == first["order_id"])).scalars().one()
    assert order.created_at.isoformat() == "2017-10-02T13:56:33+00:00"
    # the other timestamps are stored in UTC too, as the form engine stores date-times (issue 17)
    assert first["order_approved_at"] == "2017-10-02 11:07:15"
    assert order.data["approved_at"] == "2017-10-02T14:07:15Z"
    assert order.planned_delivery.isoformat() == "2017-10-18" and order.amount == Decimal("0") and order.currency == "BRL"
    assert session.get(Customer, order.customer_id).code == first["customer_id"]
    assert session.exec(select(func.count()).select_from(Customer).where(
        Customer.code.in_([r["customer_id"] for r in source_rows[:500]]))).scalar_one() == 500

    # importing the same file again creates nothing
    again = service.upload_import(session, actor=actor, filename="again.csv", content=content, now=now)
    service.start_import(session, actor=actor, job_id=again.job.id, mapping=MAPPING, now=now)
    service.run_to_end(connection, again.job.id, now, batch_size=1000)
    session.expire_all()
    repeat = session.get(ImportJob, again.job.id)
    assert (repeat.created_count, repeat.existing_count, repeat.failed_count) == (0, n, 0)
    assert (repeat.updated_count, repeat.unchanged_count) == (0, n)  # the same values: nothing to update
    assert session.exec(select(func.count()).select_from(Order).where(Order.source == "olist")).scalar_one() == n


def test_the_olist_file_in_the_repository_is_the_one_its_source_note_describes():
    note = (OLIST.parent / "SOURCE.txt").read_text(encoding="utf-8")
    assert "CC BY-NC-SA 4.0" in note
    assert hashlib.sha256(OLIST.read_bytes()).hexdigest() in note


def _cancelled_and_delivered(rows: int) -> bytes:
    """The header, every canceled/unavailable row of the first `rows`, and the first five delivered."""
    lines = OLIST.read_bytes().splitlines(keepends=True)
    header, body = lines[0], lines[1: rows + 1]
    cancelled = [b for b in body if b.split(b",")[2].strip(b'"') in (b"canceled", b"unavailable")]
    delivered = [b for b in body if b.split(b",")[2].strip(b'"') == b"delivered"][:5]
    return header + b"".join(cancelled + delivered)


class TestCancelledRowsStartNothing:
    """Issue 17: the 9 cancelled rows among the first 1,000 Olist orders stayed at `draft`, started
    the default flow, got an approval to-do and timed out at once (their dates lie in 2017)."""

    def test_cancelled_olist_rows_become_closed_orders_without_flow_or_timers(self, session, connection, now):
        from backend.flows import service as flows_service
        from backend.flows import service_instance as flows_instances
        from backend.flows.models import FlowInstance, FlowTimer
        from backend.inbox.models import InboxItem

        for role in ("approver", "warehouse", "finance"):  # the template's steps need someone to do them
            make_user(session, roles=[role])
        designer = load_actor(session, make_user(session, roles=["designer"]).id)
        flows_service.install_template(session, actor=designer, key=flows_service.DEFAULT_FLOW_KEY,
                                       template="b2b_fulfilment", now=now)
        flows_service.publish_flow(session, actor=designer, key=flows_service.DEFAULT_FLOW_KEY, now=now)
        admin = make_user(session, roles=["admin"])
        session.commit()
        actor = load_actor(session, admin.id)
        content = _cancelled_and_delivered(1000)
        preview = service.upload_import(session, actor=actor, filename="olist.csv", content=content, now=now)
        assert preview.job.total_rows == 14  # 3 canceled + 6 unavailable + 5 delivered
        service.start_import(session, actor=actor, job_id=preview.job.id, mapping=MAPPING, now=now)
        service.run_to_end(connection, preview.job.id, now)
        session.expire_all()
        job = session.get(ImportJob, preview.job.id)
        assert (job.created_count, job.failed_count) == (14, 0)

        orders = session.exec(select(Order).where(Order.source == "olist")).scalars().all()
        cancelled = [o for o in orders if o.data["olist_status"] in ("canceled", "unavailable")]
        assert len(cancelled) == 9
        assert {(o.status, o.stage) for o in cancelled} == {("cancelled", "draft")}
        assert all(o.closed_at == o.created_at for o in cancelled)  # closed "at" its own date
        ids = [o.id for o in orders]
        assert session.exec(select(func.count()).select_from(FlowInstance)
                            .where(FlowInstance.order_id.in_(ids))).scalar_one() == 0
        assert session.exec(select(func.count()).select_from(FlowTimer)).scalar_one() == 0
        assert session.exec(select(func.count()).select_from(InboxItem)
                            .where(InboxItem.order_id.in_(ids))).scalar_one() == 0
        assert flows_instances.run_due_timers(connection, now) == 0  # nothing to time out
