"""CSV imports through the service and the worker: good rows land, bad rows are reported, nothing twice."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from backend import i18n
from backend.auth.service import load_actor
from backend.customers.models import Customer
from backend.db import new_session
from backend.errors import GendanError
from backend.ingest import service
from backend.ingest.models import ImportJob
from backend.ingest.schemas import ImportMapping
from backend.orders.models import Order, OrderEvent
from tests.factories.orders import make_customer
from tests.factories.people import make_user

MAPPING = ImportMapping(columns={"external_id": "订单号", "customer": "客户", "amount": "金额",
                                 "planned_delivery": "交货日期", "created": "下单日期", "stage": "状态",
                                 "data.remark": "备注"},
                        stage_map={"生产中": "production", "已发货": "shipping"},
                        status_map={"已取消": "cancelled"}, source="erp-csv")
FILE = (
    "订单号,客户,金额,交货日期,下单日期,状态,备注\n"
    "E-1,{c},1200.50,2026-12-31,2026-11-20,生产中,加急\n"
    "E-2,{c},\"3,000\",2026/12/15,2026-11-21 09:00,已发货,\n"
    "E-3,{c},99,2026-13-01,2026-11-21,生产中,坏日期\n"
    "E-4,{c},-5,2026-12-01,2026-11-21,生产中,负数\n"
    "E-5,没有这个客户,10,2026-12-01,2026-11-21,生产中,未知客户\n"
    "E-6,{c},10,2026-12-01,2026-11-22,已取消,\n"
)


@pytest.fixture
def admin(session):
    user = make_user(session, roles=["admin"])
    session.commit()
    return load_actor(session, user.id)


def _import(session, connection, admin, now, content: bytes, mapping: ImportMapping = MAPPING, batch_size=2):
    preview = service.upload_import(session, actor=admin, filename="orders.csv", content=content, now=now)
    service.start_import(session, actor=admin, job_id=preview.job.id, mapping=mapping, now=now)
    service.run_to_end(connection, preview.job.id, now, batch_size=batch_size)
    session.expire_all()
    return session.get(ImportJob, preview.job.id)


class TestImportOrders:
    def test_good_rows_land_and_bad_rows_are_reported_per_column(self, session, connection, admin, now):
        customer = make_customer(session, name="上海精工")
        session.commit()
        job = _import(session, connection, admin, now, FILE.format(c=customer.name).encode("gbk"))
        assert (job.state, job.created_count, job.existing_count, job.failed_count, job.next_row) == (
            "done", 3, 0, 3, 6)
        orders = {o.external_id: o for o in session.exec(
            select(Order).where(Order.source == "erp-csv")).scalars()}
        assert sorted(orders) == ["E-1", "E-2", "E-6"]
        assert orders["E-1"].amount == Decimal("1200.50") and orders["E-1"].stage == "production"
        assert orders["E-1"].data == {"remark": "加急"} and orders["E-2"].data == {"remark": None}
        assert orders["E-1"].created_at.isoformat() == "2026-11-19T16:00:00+00:00"  # midnight in Shanghai
        assert orders["E-2"].amount == Decimal("3000") and orders["E-2"].stage == "shipping"
        assert (orders["E-6"].status, orders["E-6"].stage) == ("cancelled", "draft")
        errors = service.list_row_errors(session, actor=admin, job_id=job.id)
        assert [(r.line, [(e["column"], e["code"]) for e in r.errors]) for r in errors] == [
            (4, [("交货日期", "import.date_invalid")]),
            (5, [("金额", "import.amount_negative")]),
            (6, [("客户", "import.customer_unknown")]),
        ]
        assert errors[0].cells[0] == "E-3"

    def test_reimporting_the_same_file_creates_nothing(self, session, connection, admin, now):
        customer = make_customer(session, name="Repeat Co")
        session.commit()
        content = FILE.format(c=customer.name).encode("utf-8")
        _import(session, connection, admin, now, content)
        count = session.exec(select(func.count()).select_from(Order)).scalar_one()
        again = _import(session, connection, admin, now, content, batch_size=100)
        assert (again.created_count, again.existing_count, again.failed_count) == (0, 3, 3)
        assert session.exec(select(func.count()).select_from(Order)).scalar_one() == count

    def test_a_failing_row_leaves_no_new_customer_behind(self, session, connection, admin, now):
        # the customer would be created, but the order's delivery date is before its own date
        content = ("订单号,客户,金额,交货日期,下单日期\n"
                   "N-1,新客户甲,10,2026-11-01,2026-11-20\n"
                   "N-2,新客户乙,10,2026-12-01,2026-11-20\n").encode()
        mapping = MAPPING.model_copy(update={"create_customers": True, "columns": {
            k: v for k, v in MAPPING.columns.items() if k not in ("stage", "data.remark")}})
        job = _import(session, connection, admin, now, content, mapping)
        assert (job.created_count, job.failed_count) == (1, 1)
        names = set(session.exec(select(Customer.name).where(Customer.name.like("新客户%"))).scalars())
        assert names == {"新客户乙"}
        [row] = service.list_row_errors(session, actor=admin, job_id=job.id)
        assert [(e["field"], e["code"]) for e in row.errors] == [("planned_delivery", "order.date_before_created")]
        assert session.exec(select(func.count()).select_from(ImportJob).where(
            ImportJob.id == job.id, ImportJob.next_row == 2)).scalar_one() == 1

    def test_rows_without_external_id_are_not_doubled_when_a_batch_is_retried(self, session, connection, admin,
                                                                             now):
        customer = make_customer(session, name="NoId Co")
        session.commit()
        content = f"客户,金额\n{customer.name},5\n{customer.name},6\n".encode()
        mapping = ImportMapping(columns={"customer": "客户", "amount": "金额"})
        job = _import(session, connection, admin, now, content, mapping)
        # a crashed worker's batch is processed again from an earlier row
        job.next_row, job.state = 0, "running"
        session.commit()
        service.run_to_end(connection, job.id, now)
        session.expire_all()
        assert session.exec(select(func.count()).select_from(Order).where(
            Order.customer_id == customer.id)).scalar_one() == 2
        assert session.exec(select(Order.external_id).where(Order.customer_id == customer.id)
                            .order_by(Order.external_id)).scalars().all() == [
            f"import-{job.id}-2", f"import-{job.id}-3"]

    def test_each_created_order_has_its_history_event(self, session, connection, admin, now):
        customer = make_customer(session, name="Event Co")
        session.commit()
        job = _import(session, connection, admin, now, f"订单号,客户,金额\nEV-1,{customer.name},1\n".encode(),
                      ImportMapping(columns={"external_id": "订单号", "customer": "客户", "amount": "金额"}))
        order = session.exec(select(Order).where(Order.external_id == "EV-1")).scalars().one()
        assert job.created_count == 1
        assert session.exec(select(OrderEvent.type).where(OrderEvent.order_id == order.id)).scalars().all() == [
            "created"]


    def test_an_xlsx_workbook_imports_like_its_csv(self, session, connection, admin, now):
        from datetime import datetime

        from openpyxl import Workbook

        customer = make_customer(session, name="Excel Co")
        session.commit()
        book = Workbook()
        for row in (["订单号", "客户", "金额", "交货日期"], ["XL-1", customer.name, 10.5, datetime(2026, 12, 31)],
                    ["XL-2", customer.name, "abc", datetime(2026, 12, 31)]):
            book.active.append(row)
        out = io.BytesIO()
        book.save(out)
        preview = service.upload_import(session, actor=admin, filename="订单.xlsx", content=out.getvalue(), now=now)
        assert preview.suggested["amount"] == "金额" and preview.job.encoding == "xlsx"
        mapping = ImportMapping(columns=preview.suggested)
        service.start_import(session, actor=admin, job_id=preview.job.id, mapping=mapping, now=now)
        service.run_to_end(connection, preview.job.id, now)
        session.expire_all()
        order = session.exec(select(Order).where(Order.source == "csv", Order.external_id == "XL-1")).scalars().one()
        assert order.amount == Decimal("10.50") and order.planned_delivery.isoformat() == "2026-12-31"
        [row] = service.list_row_errors(session, actor=admin, job_id=preview.job.id)
        assert (row.line, row.errors[0]["code"]) == (3, "import.amount_invalid")
        assert "XL-2" in service.row_errors_csv(session, actor=admin, job_id=preview.job.id)


    def test_a_row_the_database_refuses_does_not_stop_the_file(self, session, connection, admin, now):
        # PostgreSQL refuses NUL characters in text; SQLite stores them
        content = "订单号,客户,金额\nNUL-1,坏\x00名字,1\nNUL-2,好名字,2\nNUL-3,好名字,x\x00\n".encode()
        mapping = ImportMapping(columns={"external_id": "订单号", "customer": "客户", "amount": "金额"},
                                create_customers=True, source="nul")
        job = _import(session, connection, admin, now, content, mapping)
        refused = session.get_bind().dialect.name == "postgresql"
        assert (job.created_count, job.failed_count, job.state) == (1 if refused else 2, 2 if refused else 1, "done")
        assert session.exec(select(Order.id).where(Order.external_id == "NUL-2")).first() is not None
        if refused:
            assert [(r.line, r.errors[0]["code"]) for r in service.list_row_errors(
                session, actor=admin, job_id=job.id)] == [(2, "import.row_internal"), (4, "import.amount_invalid")]


class TestErrorsDownload:
    def test_failed_rows_come_back_with_their_cells_and_a_chinese_reason(self, session, connection, admin, now):
        customer = make_customer(session, name="下载客户")
        session.commit()
        job = _import(session, connection, admin, now, FILE.format(c=customer.name).encode("utf-8"))
        token = i18n.set_locale("zh_CN")
        try:
            text = service.row_errors_csv(session, actor=admin, job_id=job.id)
        finally:
            i18n.reset_locale(token)
        assert text.startswith("\ufeff")
        rows = list(csv.reader(io.StringIO(text[1:])))
        assert rows[0][:7] == ["订单号", "客户", "金额", "交货日期", "下单日期", "状态", "备注"]
        assert [r[0] for r in rows[1:]] == ["E-3", "E-4", "E-5"]
        assert "不是有效日期" in rows[1][7] and rows[1][8] == "4"


class TestWorker:
    def test_the_assembled_worker_job_drains_queued_imports_in_batches(self, session, connection, admin, now):
        from backend.ingest import tasks
        from backend.pipeline_assembly import build_jobs

        job = next(j for j in build_jobs() if j.name == "ingest.process_imports")
        assert job.run is tasks.process_imports
        customer = make_customer(session, name="Worker Co")
        session.commit()
        rows = "".join(f"W-{i},{customer.name},{i}\n" for i in range(1, 151))
        preview = service.upload_import(session, actor=admin, filename="w.csv",
                                        content=f"订单号,客户,金额\n{rows}".encode(), now=now)
        service.start_import(session, actor=admin, job_id=preview.job.id,
                             mapping=ImportMapping(columns=preview.suggested), now=now)
        # a run does a few batches, then lets the worker loop do other jobs
        assert service.process_imports(connection, now, batch_size=50, max_batches=2) == 100
        session.expire_all()
        assert session.get(ImportJob, preview.job.id).state == "running"
        assert job.run(connection, now) == 50
        session.expire_all()
        done = session.get(ImportJob, preview.job.id)
        assert (done.state, done.created_count) == ("done", 150)
        assert done.finished_at >= now  # the tick's start plus the time its batches took
        assert job.run(connection, now) == 0

    def test_finished_at_is_when_the_last_batch_ended_not_when_the_tick_began(self, session, connection, admin,
                                                                                now):
        """Issue 17: finished_at was the tick's start (a 200-row job 'took' 0.46 s)."""
        from datetime import timedelta

        customer = make_customer(session, name="Clock Co")
        session.commit()
        rows = "".join(f"T-{i},{customer.name},{i}\n" for i in range(1, 4))
        preview = service.upload_import(session, actor=admin, filename="t.csv",
                                        content=f"订单号,客户,金额\n{rows}".encode(), now=now)
        service.start_import(session, actor=admin, job_id=preview.job.id,
                             mapping=ImportMapping(columns=preview.suggested), now=now)
        assert service.claim_job(connection, now) == preview.job.id
        ticks = iter([100.0, 142.5])  # a monotonic clock: the batch took 42.5 s
        from backend.db import new_session

        with new_session(connection) as worker:
            service.process_batch(worker, preview.job.id, now=now, elapsed=lambda: next(ticks))
        session.expire_all()
        job = session.get(ImportJob, preview.job.id)
        assert (job.state, job.created_count) == ("done", 3)
        assert job.finished_at - job.started_at == timedelta(seconds=42.5)


class TestStartImport:
    def test_every_mapping_problem_at_once(self, session, admin, now):
        preview = service.upload_import(session, actor=admin, filename="x.csv", content=b"a,b\n1,2\n", now=now)
        bad = ImportMapping(columns={"external_id": "nope", "colour": "a"}, timezone="Mars/Base")
        with pytest.raises(GendanError) as err:
            service.start_import(session, actor=admin, job_id=preview.job.id, mapping=bad, now=now)
        assert {k: v[0] for k, v in err.value.fields.items()} == {
            "external_id": "import.column_unknown", "colour": "import.target_unknown",
            "amount": "import.amount_unmapped", "customer": "import.customer_unmapped",
            "timezone": "import.timezone_unknown"}
        assert session.get(ImportJob, preview.job.id).state == "uploaded"

    def test_only_admins_import(self, session, now):
        sales = make_user(session, roles=["sales"])
        session.commit()
        with pytest.raises(GendanError) as err:
            service.upload_import(session, actor=load_actor(session, sales.id), filename="x.csv",
                                  content=b"a\n1\n", now=now)
        assert err.value.code == "auth.forbidden"

    def test_a_job_is_started_once_and_claimed_by_one_worker(self, session, connection, admin, now):
        preview = service.upload_import(session, actor=admin, filename="x.csv", content=b"c,a\nX,1\n", now=now)
        mapping = ImportMapping(columns={"customer": "c", "amount": "a"})
        service.start_import(session, actor=admin, job_id=preview.job.id, mapping=mapping, now=now)
        with pytest.raises(GendanError) as err:
            service.start_import(session, actor=admin, job_id=preview.job.id, mapping=mapping, now=now)
        assert err.value.code == "import.already_started"
        assert service.claim_job(connection, now) == preview.job.id
        assert service.claim_job(connection, now) is None  # leased
        assert service.claim_job(connection, now + service.LEASE * 2) == preview.job.id  # the lease ran out

    def test_a_worker_that_stalled_past_its_lease_imports_nothing(self, session, connection, admin, now):
        """Two workers: A claims the import and stalls past its lease; B claims it again. A's batch
        finds B's lease on the row and writes nothing; B imports the rows once."""
        if connection.dialect.name != "postgresql":
            pytest.skip("one worker on SQLite")
        preview = service.upload_import(session, actor=admin, filename="x.csv", content=b"c,a\nX,1\nY,2\n", now=now)
        service.start_import(session, actor=admin, job_id=preview.job.id,
                             mapping=ImportMapping(columns={"customer": "c", "amount": "a"}), now=now)
        assert service.claim_job(connection, now) == preview.job.id  # A
        later = now + service.LEASE * 2
        assert service.claim_job(connection, later) == preview.job.id  # B, after A's lease ran out
        with new_session(connection) as a_session:  # A resumes with its old claim
            assert service._still_held(a_session, preview.job.id, now + service.LEASE) is False
            a_session.rollback()
        with new_session(connection) as b_session:  # B: its claim's token is on the row
            assert service._still_held(b_session, preview.job.id, later + service.LEASE) is True
            assert service.process_batch(b_session, preview.job.id, now=later) == 2
        session.expire_all()
        assert session.get(ImportJob, preview.job.id).state == "done"
