"""The day-one tiles over all time read covering indexes on PostgreSQL (dayone1m_0001) and say exactly
what the order rows say: each report run twice on the same data — the planner kept off the table
(the indexes' plans) and kept off every index (the plan before the indexes) — as an admin, a team
head and a sales rep, with a dashboard's filters, on edge cases of the on-time trend: no planned
date, late by one second, delivered either side of midnight in the installation's zone
(Asia/Shanghai, UTC+8) at a month's end. On SQLite (no such plans) the same figures are checked."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from backend.auth.service import load_actor
from backend.db import make_engine, new_session
from backend.orders.models import Order
from backend.pipeline_assembly import assemble
from backend.reports import service
from engine.reports.builtin import BUILTIN_REPORTS
from tests.backend.reports.test_datasets import NOW
from tests.conftest import make_test_database
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_teams

DAY_ONE = {r["key"]: r for r in BUILTIN_REPORTS}
ON_TIME = DAY_ONE["day1_on_time_trend"]
CUSTOMERS = {"dataset": "customers", "dimensions": [{"field": "customer_id"}],
             "measures": [{"op": "sum", "field": "open_value"}, {"op": "sum", "field": "order_count"},
                          {"op": "avg", "field": "on_time_rate"}],
             "sort": [{"by": "m0", "dir": "desc"}], "limit": 10}
TILES = {"on time": ON_TIME, "customers": CUSTOMERS, "top customers": DAY_ONE["day1_top_customers"],
         "overdue by owner": DAY_ONE["day1_overdue_by_owner"], "payment ageing": DAY_ONE["day1_payment_overdue"]}
# an index wherever one serves the report — the covering ones index-only — else the table as the
# planner's last resort (enable_indexscan = off would price index-only scans out too)
INDEXES = ("SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off")
TABLE = ("SET LOCAL enable_indexscan = off", "SET LOCAL enable_indexonlyscan = off",
         "SET LOCAL enable_bitmapscan = off")  # every order row, as before dayone1m_0001


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def book(session, teams):
    return make_book(session, teams)


def make_book(session, teams):
    """Delivered orders of both teams on the edges of a day and a month in Asia/Shanghai (UTC+8)."""
    rep1, rep2 = teams["rep1"], teams["rep2"]
    c1, c2 = make_customer(session, name="Edge one"), make_customer(session, name="Edge two")
    nov10 = date(2026, 11, 10)
    # planned 10 Nov: delivered at 00:00:00 of 11 Nov local (16:00:00 UTC) is one second late ...
    make_order(session, owner=rep1, customer=c1, stage="delivered", planned_delivery=nov10,
               delivered_at=utc(2026, 11, 10, 16, 0, 0), amount="300.00")
    # ... at 23:59:59 of 10 Nov local it is on time (signed for)
    make_order(session, owner=rep1, customer=c1, stage="completed", status="completed", planned_delivery=nov10,
               signed_at=utc(2026, 11, 10, 15, 59, 59), amount="100.00")
    # 16:30 UTC on 31 Oct is 00:30 on 1 Nov local: a November delivery, late against 31 Oct (a UTC
    # day would say October and on time)
    make_order(session, owner=rep2, customer=c2, stage="completed", status="completed",
               planned_delivery=date(2026, 10, 31), signed_at=utc(2026, 10, 31, 16, 30), amount="700.00")
    # 15:30 UTC on 31 Oct is 23:30 local: October, on time
    make_order(session, owner=rep2, customer=c2, stage="delivered", planned_delivery=date(2026, 10, 31),
               delivered_at=utc(2026, 10, 31, 15, 30), amount="50.00")
    # no planned date, a cancelled delivery: neither is in the trend
    make_order(session, owner=rep1, customer=c1, stage="completed", status="completed",
               signed_at=utc(2026, 11, 5, 3, 0), amount="80.00")
    make_order(session, owner=rep2, customer=c2, stage="delivered", status="cancelled", planned_delivery=nov10,
               delivered_at=utc(2026, 11, 9, 1, 0), amount="60.00")
    # not delivered, open, past its planned date and its payment date
    make_order(session, owner=rep1, customer=c2, stage="production", planned_delivery=date(2026, 11, 20),
               payment_due=date(2026, 10, 15), amount="1234.50")
    make_order(session, owner=rep2, customer=c1, stage="draft", amount="20.00")
    return teams


def _readers(book):
    return {"admin": book["admin"], "team head": book["head2"], "sales rep": book["rep1"]}


def _run(session, user, definition, monkeypatch, settings=(), extra=None):
    """The report's rows with the planner settings `settings` added to the report statement's own."""
    bounded = service._bounded

    def with_settings(session):
        bounded(session)
        if session.get_bind().dialect.name == "postgresql":
            for setting in settings:
                session.execute(text(setting))

    service.cache.CACHE.clear()
    with monkeypatch.context() as patched:
        patched.setattr(service, "_bounded", with_settings)
        return service.run(session, actor=load_actor(session, user.id), definition=definition, now=NOW,
                           extra=extra).rows


def _both(session, user, definition, monkeypatch, extra=None):
    fast = _run(session, user, definition, monkeypatch, INDEXES, extra)
    slow = _run(session, user, definition, monkeypatch, TABLE, extra)
    return fast, slow


def test_the_on_time_trend_counts_days_in_the_installations_zone(session, book, monkeypatch):
    fast, slow = _both(session, book["admin"], ON_TIME, monkeypatch)
    assert fast == slow == [["2026-10-01", pytest.approx(1.0), 1], ["2026-11-01", pytest.approx(1 / 3), 3]]
    assert _both(session, book["head2"], ON_TIME, monkeypatch) == (
        [["2026-10-01", pytest.approx(1.0), 1], ["2026-11-01", pytest.approx(0.0), 1]],) * 2
    assert _both(session, book["rep1"], ON_TIME, monkeypatch) == ([["2026-11-01", pytest.approx(0.5), 2]],) * 2


def test_the_customers_figures_are_the_order_rows_figures(session, book, monkeypatch):
    fast, slow = _both(session, book["admin"], CUSTOMERS, monkeypatch)
    assert fast == slow
    # Edge two: open 1234.50 + 50.00 (the delivered one is still open); four orders; on time judged
    # as the trend judges (delivered, planned, not cancelled; days in Asia/Shanghai): the one signed
    # at 00:30 local the day after its date is late, the one delivered at 23:30 local on time.
    # Edge one: the one delivered at 00:00:00 local the day after is late, the one at 23:59:59 on time.
    assert [r[1:] for r in fast] == [[pytest.approx(1284.5), 4, pytest.approx(0.5)],
                                     [pytest.approx(320.0), 4, pytest.approx(0.5)]]


@pytest.mark.parametrize("tile", list(TILES))
def test_every_tile_answers_the_same_from_the_indexes_for_each_reader(session, book, monkeypatch, tile):
    for who, user in _readers(book).items():
        fast, slow = _both(session, user, TILES[tile], monkeypatch)
        assert fast == slow, (tile, who)
        assert fast or who != "admin", tile


@pytest.mark.parametrize("tile", ["on time", "customers"])
def test_dashboard_filters_still_narrow_the_indexed_reads(session, book, monkeypatch, tile):
    team = Order.owner_id.in_([book["rep1"].id])  # as a dashboard's team filter narrows the orders
    created = Order.created_at >= utc(2026, 1, 1)  # a date range
    for extra in (team, created, Order.customer_id.in_([-1])):
        fast, slow = _both(session, book["admin"], TILES[tile], monkeypatch, extra=extra)
        assert fast == slow
    fast, _ = _both(session, book["admin"], TILES[tile], monkeypatch, extra=team)
    assert fast == _both(session, book["rep1"], TILES[tile], monkeypatch)[0]


@pytest.fixture
def vacuumed(engine, tmp_path):
    """The book on a database of its own, with a working installation's volume (most orders long
    delivered) and vacuumed as PostgreSQL's autovacuum keeps a live table: the planner's choice
    depends on statistics and on the visibility map, which the session's rolled-back transactions
    (and other tests' committed rows) leave in any state."""
    if engine.dialect.name != "postgresql":
        pytest.skip("index-only scans are PostgreSQL's")
    own = assemble(make_engine(make_test_database("postgresql", tmp_path, label="dayone_plans")))
    with own.connect() as conn, new_session(conn) as session:
        teams = make_teams(session)
        make_book(session, teams)
        customer = make_customer(session, name="Volume")
        for n in range(VOLUME):
            owner = (teams["rep1"], teams["rep2"])[n % 2]
            if n % 5:  # delivered, four in five
                make_order(session, owner=owner, customer=customer, stage="delivered",
                           planned_delivery=date(2026, 1 + n % 10, 10), delivered_at=utc(2026, 1 + n % 10, 9 + n % 3))
            else:
                make_order(session, owner=owner, customer=customer, stage="production")
        session.commit()
    with own.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    with own.connect() as conn, new_session(conn) as session:
        yield session, teams
        session.rollback()
    own.dispose()


VOLUME = 1500


def test_postgresql_reads_the_covering_indexes_alone(vacuumed, monkeypatch):
    """EXPLAIN of the two heavy tiles, kept off the table: index-only scans of the new indexes, for
    the admin and for a sales rep (the access clause's columns are in the index)."""
    session, book = vacuumed
    plans = []
    rows = service._rows
    mine = threading.get_ident()

    def explained(session, statement):
        if threading.get_ident() != mine:  # a browser test's server thread in this process: not ours
            return rows(session, statement)
        sql = statement.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
        plans.append("\n".join(r[0] for r in session.execute(text(f"EXPLAIN {sql}"))))
        return rows(session, statement)

    monkeypatch.setattr(service, "_rows", explained)
    for user in (book["admin"], book["rep1"]):
        _run(session, user, ON_TIME, monkeypatch, INDEXES)
        _run(session, user, CUSTOMERS, monkeypatch, INDEXES)
    on_time, customers = plans[0::2], plans[1::2]
    assert all("Index Only Scan using ix_sales_order_delivered" in p for p in on_time), on_time
    assert all("Index Only Scan using ix_sales_order_customer_figures" in p for p in customers), customers
