"""The set-based import path (backend/ingest/bulk.py) against the row-by-row one: the same files
imported through each leave the same orders, events, flows, to-dos, outbox rows, rule firings,
customers and per-row outcomes (a differential test, on SQLite and PostgreSQL).

Both runs happen in one database: the first inside a savepoint that is rolled back, so the second
starts from the same state. Ids differ between runs (sequences do not roll back on PostgreSQL,
and the bulk path inserts in another order), so rows are compared by what they say, with order
ids replaced by the order's external id and tracking tokens blanked.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from backend.auth.service import load_actor
from backend.db import new_session
from backend.ingest import bulk, service
from backend.ingest.models import ImportJob
from backend.ingest.schemas import ImportMapping
from backend.orders.models import Order
from backend.tracking import service as tracking_service
from tests.backend.test_pipeline import enable_rule, publish_flow, stage_rule
from tests.factories.orders import make_customer
from tests.factories.people import make_department, make_user

MAPPING = ImportMapping(
    columns={"external_id": "ref", "customer_code": "code", "customer": "customer", "amount": "amount",
             "planned_delivery": "delivery", "stage": "stage", "created": "created", "data.note": "note"},
    defaults={"currency": "CNY"},
    stage_map={"新建": "draft", "发货": "shipping", "完成": "delivered", "取消": "draft"},
    status_map={"完成": "completed", "取消": "cancelled"},
    data_types={"note": "text"},
    create_customers=True, source="bk", timezone="Asia/Shanghai",
)
HEADER = "ref,code,customer,amount,delivery,stage,created,note\n"
FIRST = HEADER + "".join([
    "BK-1,BKC1,Acme,100,2027-01-10,新建,2026-12-01 09:00,first\n",        # existing customer by code; draft: flow
    "BK-2,,Brand New Co,200.50,2027-01-11,发货,2026-12-01 10:00,\n",    # new customer by name; shipping: rule
    "BK-3,,Brand New Co,300,2027-01-12,完成,2026-12-02 10:00,done\n",   # the same new customer; closed
    "BK-4,BKC9,Gamma,400,2027-02-30,新建,2026-12-02 11:00,\n",           # bad date: fails alone
    "BK-5,BKC9,Gamma,abc,2027-01-12,新建,2026-12-02 11:00,\n",           # bad amount (Gamma is not created)
    "BK-6,,Twin,600,2027-01-12,发货,2026-12-03 11:00,\n",                # two customers called Twin: ambiguous
    "BK-7,BKC7,Delta,700,2026-11-01,新建,2026-12-03 12:00,\n",           # delivery before creation
    "BK-8,BKC8,Echo,800,2027-01-12,取消,2026-12-04 12:00,x\n",           # cancelled: no flow, no message
    "BK-1,BKC1,Acme,150,2027-01-10,新建,2026-12-01 09:00,first\n",        # BK-1 again: updates the amount
    ",BKC8,Echo,900,,新建,,no ref\n",                                     # no external id: import-<job>-<line>
    "BK-9,BKC8,Echo,1000,2027-03-01,发货,2026-12-05 08:00,\n",
    "BK-10,BKC10,Foxtrot,1100,2027-03-01,新建,,\n",                       # created now
])
SECOND = HEADER + "".join([
    "BK-1,BKC1,Acme,150,2027-01-10,新建,2026-12-01 09:00,first\n",        # unchanged
    "BK-2,,Brand New Co,250,2027-01-11,完成,2026-12-01 10:00,\n",       # amount, stage and status change
    "BK-9,BKC8,Echo,1000,2027-03-01,完成,2026-12-05 08:00,changed\n",  # delivered: Echo hears of it
    "BK-10,BKC10,Foxtrot,1100,2027-03-01,发货,,\n",                      # its flow runs: the stage is history
    "BK-11,BKC11,Golf,1200,2027-13-01,新建,,\n",                          # bad date
    "BK-12,BKC12,Hotel,1300,2027-03-01,新建,2026-12-06 08:00,\n",
])
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TABLES = ("sales_order", "order_event", "customer", "flow_instance", "flow_timer", "inbox_item", "outbox_message",
          "rule_firing", "rule_order_state", "tracking_link", "notification", "import_row_result",
          "import_row_error", "audit_event")
_TOKEN = re.compile(r"/t/[A-Za-z0-9_-]{43}")


@pytest.fixture
def org(session):
    manager = make_user(session, roles=("sales", "approver"), display_name="Manager", username="bk.manager")
    dept = make_department(session, name="BK Sales", head=manager)
    rep = make_user(session, roles=("sales",), department=dept, username="bk.rep")
    warehouse = make_user(session, roles=("warehouse",), username="bk.warehouse")
    admin = make_user(session, roles=("admin", "designer"), username="bk.admin", department=dept)
    make_customer(session, name="Acme", code="BKC1", preferred_channel="email", preferred_locale="en")
    make_customer(session, name="Echo", code="BKC8", preferred_channel="email")
    make_customer(session, name="Twin")
    make_customer(session, name="Twin")
    session.flush()
    org = {"manager": manager, "rep": rep, "warehouse": warehouse, "admin": admin}
    publish_flow(session, org, NOW)
    tracking_service.save_notified_milestones(session, actor=load_actor(session, admin.id),
                                              milestones={"received", "shipped", "delivered"})
    enable_rule(session, org, stage_rule("bk_ship_tag", "shipping", [{"type": "add_tag", "tag": "on-its-way"}]), NOW)
    session.commit()
    return org


def _import(session, connection, actor, content: str, *, bulk_path: bool, batch_size: int) -> int:
    preview = service.upload_import(session, actor=actor, filename="bk.csv", content=content.encode(), now=NOW)
    service.start_import(session, actor=actor, job_id=preview.job.id, mapping=MAPPING, now=NOW)
    service.run_to_end(connection, preview.job.id, NOW, batch_size=batch_size, bulk=bulk_path)
    return preview.job.id


def _dump(connection, job_ids: list[int]) -> dict[str, Any]:
    meta = SQLModel.metadata
    orders = {row.id: row.external_id for row in connection.execute(select(meta.tables["sales_order"]))}
    customers = {row.id: (row.code, row.name) for row in connection.execute(select(meta.tables["customer"]))}

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            value = _TOKEN.sub("/t/<token>", value)
            value = re.sub(r"^flow:\d+:", "flow:<instance>:", value)  # dedupe keys carry the instance id
            value = re.sub(r"^rule:([^:]+):(\d+):", lambda m: f"rule:{m[1]}:{orders.get(int(m[2]))}:", value)
            value = re.sub(r"milestone:(\d+):", lambda m: f"milestone:{orders.get(int(m[1]))}:", value)
            # last: the order ids above became external ids, which name the import job
            return re.sub(r"import-\d+-", "import-<job>-", value)
        if isinstance(value, dict):
            ids = {"customer_id": customers, "order_id": orders}
            return {k: clean(ids[k].get(v, v) if k in ids and isinstance(v, int) else v) for k, v in value.items()
                    if k not in ("id", "instance_id", "item_id", "token")}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    out: dict[str, Any] = {}
    for name in TABLES:
        rows = []
        for row in connection.execute(select(meta.tables[name])).mappings():
            item = {}
            for key, value in row.items():
                if key in ("id", "import_job_id", "flow_instance_id", "instance_id", "item_id", "token",
                           "message_id", "firing_id", "version_id"):
                    continue
                if key == "order_id":
                    value = orders.get(value)
                elif key == "customer_id" or (key == "entity_key" and row.get("entity_type") == "customer"):
                    value = customers.get(int(value)) if value is not None else None
                elif isinstance(value, datetime):
                    value = value.replace(tzinfo=None).isoformat()
                item[key] = clean(value)
            rows.append(item)
        out[name] = sorted(rows, key=repr)
    jobs = [connection.execute(select(ImportJob.__table__).where(ImportJob.__table__.c.id == j)).mappings().one()
            for j in job_ids]
    out["jobs"] = [{k: job[k] for k in ("state", "next_row", "created_count", "existing_count", "updated_count",
                                        "unchanged_count", "failed_count")} for job in jobs]
    return out


def _run(connection, actor, *, bulk_path: bool, batch_size: int) -> dict[str, Any]:
    with new_session(connection) as session:
        first = _import(session, connection, actor, FIRST, bulk_path=bulk_path, batch_size=batch_size)
        second = _import(session, connection, actor, SECOND, bulk_path=bulk_path, batch_size=batch_size)
    return _dump(connection, [first, second])


@pytest.mark.parametrize("batch_size", [200, 4])
def test_bulk_and_row_by_row_leave_the_same_database(session, connection, org, batch_size, monkeypatch):
    actor = load_actor(session, org["admin"].id)
    used = []
    real = bulk.import_batch
    monkeypatch.setattr(bulk, "import_batch", lambda *a, **k: used.append(real(*a, **k)) or used[-1])

    session.close()  # its savepoint would hold the one below
    savepoint = connection.begin_nested()
    by_row = _run(connection, actor, bulk_path=False, batch_size=batch_size)
    savepoint.rollback()
    assert used == []
    by_bulk = _run(connection, actor, bulk_path=True, batch_size=batch_size)
    assert used and all(used)  # every batch went set-based (none fell back to row by row)

    for name in (*TABLES, "jobs"):
        assert by_bulk[name] == by_row[name], name
    # what the file asked for happened (so the comparison compares something)
    first, second = by_bulk["jobs"]
    assert (first["created_count"], first["failed_count"], first["updated_count"]) == (7, 4, 1)
    assert (second["created_count"], second["updated_count"], second["unchanged_count"], second["failed_count"]) \
        == (1, 2, 2, 1)
    events = {(e["order_id"], e["type"]) for e in by_bulk["order_event"]}
    assert ("BK-1", "created") in events and ("BK-10", "created") in events
    flows = {i["order_id"] for i in by_bulk["flow_instance"]}
    assert {"BK-1", "BK-10"} <= flows and not {"BK-2", "BK-3", "BK-8", "BK-9"} & flows  # open drafts only
    assert any(f["order_id"] == "BK-2" for f in by_bulk["rule_firing"])
    told = {o["dedupe_key"] for o in by_bulk["outbox_message"]}
    assert "milestone:BK-9:delivered" in told  # Echo takes e-mail
    assert not any(k.startswith(("milestone:BK-3:", "milestone:BK-8:")) for k in told)  # imported closed
    # each customer the files created has one audit "create" row by the importer; the others none
    made = [(a["entity_key"], a["actor_id"]) for a in by_bulk["audit_event"]
            if a["entity_type"] == "customer" and a["action"] == "create"]
    assert len(made) == 3 and set(made) == {((None, "Brand New Co"), actor.user_id),
                                            (("BKC10", "Foxtrot"), actor.user_id), (("BKC12", "Hotel"), actor.user_id)}


def test_a_bad_row_fails_alone_in_a_bulk_batch(session, connection, org):
    actor = load_actor(session, org["admin"].id)
    job_id = _import(session, connection, actor, FIRST, bulk_path=True, batch_size=200)
    session.expire_all()
    job = session.get(ImportJob, job_id)
    assert (job.state, job.next_row, job.failed_count) == ("done", 12, 4)
    errors = {e.line: {x["code"] for x in e.errors} for e in service.list_row_errors(session, actor=actor,
                                                                                          job_id=job_id)}
    assert set(errors) == {5, 6, 7, 8}
    assert "import.customer_ambiguous" in errors[7] and "order.date_before_created" in errors[8]
    refs = set(session.exec(select(Order.external_id).where(Order.source == "bk")).scalars())
    assert {"BK-1", "BK-2", "BK-3", "BK-8", "BK-9", "BK-10"} <= refs and not {"BK-4", "BK-5", "BK-6", "BK-7"} & refs
    assert session.get(Order, session.exec(select(Order.id).where(Order.external_id == "BK-1")).scalar_one()
                       ).amount == 150


def test_a_worker_killed_mid_batch_leaves_nothing_and_the_batch_is_done_again_once(session, connection, org,
                                                                                    monkeypatch):
    """The job's cursor commits with its rows: a batch that dies halfway (here in the pipeline's
    stages, after its orders were inserted) leaves neither rows nor progress."""
    from backend.pipeline import Pipeline

    actor = load_actor(session, org["admin"].id)
    preview = service.upload_import(session, actor=actor, filename="bk.csv", content=FIRST.encode(), now=NOW)
    service.start_import(session, actor=actor, job_id=preview.job.id, mapping=MAPPING, now=NOW)
    real = Pipeline.publish_many

    def killed(self, session, changes):
        real(self, session, changes)
        raise KeyboardInterrupt  # the worker process is stopped here

    monkeypatch.setattr(Pipeline, "publish_many", killed)
    with pytest.raises(KeyboardInterrupt):
        service.run_to_end(connection, preview.job.id, NOW, batch_size=200, bulk=True)
    session.expire_all()
    job = session.get(ImportJob, preview.job.id)
    assert (job.next_row, job.created_count) == (0, 0)
    assert session.exec(select(Order.id).where(Order.source == "bk")).first() is None

    monkeypatch.setattr(Pipeline, "publish_many", real)
    job.locked_until = None  # the lease of the dead worker ran out
    session.commit()
    service.run_to_end(connection, preview.job.id, NOW, batch_size=200, bulk=True)
    session.expire_all()
    job = session.get(ImportJob, preview.job.id)
    assert (job.state, job.next_row, job.created_count, job.failed_count) == ("done", 12, 7, 4)
    assert len(session.exec(select(Order.id).where(Order.source == "bk")).all()) == 7


def test_a_batch_the_bulk_path_declines_goes_row_by_row_with_the_same_outcomes(session, connection, org,
                                                                                monkeypatch):
    """E.g. a published form with unique fields (two rows of one batch could clash unseen): the
    batch is rolled back and imported row by row."""
    actor = load_actor(session, org["admin"].id)
    monkeypatch.setattr(bulk, "_form_has_unique_fields", lambda session: True)
    used = []
    real = bulk.import_batch
    monkeypatch.setattr(bulk, "import_batch", lambda *a, **k: used.append(real(*a, **k)) or used[-1])
    job_id = _import(session, connection, actor, FIRST, bulk_path=True, batch_size=200)
    session.expire_all()
    job = session.get(ImportJob, job_id)
    assert used == [False]
    assert (job.state, job.next_row, job.created_count, job.updated_count, job.failed_count) == ("done", 12, 7, 1, 4)
