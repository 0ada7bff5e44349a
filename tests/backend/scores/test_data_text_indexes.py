"""A supplier's orders are found through the expression index of revision mendsb_0001, not a scan
of every order: the statements the change-driven score refresh and the
automatic decisions' history really run are EXPLAINed on a book of orders with many suppliers (the
planner's own choice, with statistics: no `enable_seqscan = off`). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select, text

from backend.flows.autodecide import _history
from backend.orders.models import DATA_TEXT_INDEXES, Order
from backend.scores import service as scores_service
from backend.scores.models import OrderScoreMark
from engine.facts.sql import DataText
from tests.backend.scores.test_scores_differential import NOW
from tests.factories.orders import make_customer
from tests.factories.people import make_user

SUPPLIERS = 1000


def _book(session, orders: int) -> None:
    """`orders` orders of 50 customers, each of SUPPLIERS suppliers with as many, a tenth (those of
    supplier S7 among them) with one of 50 carriers, a third closed on time (the groups' samples),
    in one INSERT ... SELECT; then
    statistics (ANALYZE runs inside the test's transaction and goes with it)."""
    owner = make_user(session)
    customers = [make_customer(session).id for _ in range(50)]
    conn = session.connection()
    build = "CAST(json_build_object({}) AS jsonb)" if conn.dialect.name == "postgresql" else "json_object({})"
    supplier = "'supplier', 'S' || (g % :suppliers)"
    conn.execute(text(f"""
        WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :n)
        INSERT INTO sales_order (number, customer_id, owner_id, amount, currency, stage, status,
            stage_entered_at, planned_delivery, source, data, tags, risk_flags, urge_count, version, created_at,
            updated_at, stages_entered, priority_score, churn_signals, closed_at)
        SELECT 'IX' || g, :first + (g % 50), :owner, 100, 'CNY', 'production',
            CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'open' END, :at, :planned, 'ix',
            CASE WHEN g % 10 = 7 THEN {build.format(supplier + ", 'carrier', 'C' || (g % 50)")}
                 ELSE {build.format(supplier)} END,
            '[]', '[]', 0, 1, :at, :at, 0, 0, 0, CASE WHEN g % 3 = 0 THEN :closed END
        FROM s""").bindparams(at=NOW - timedelta(days=30), closed=NOW - timedelta(days=20)),
                 {"owner": owner.id, "first": min(customers), "n": orders, "suppliers": SUPPLIERS,
                  "planned": (NOW - timedelta(days=10)).date()})
    assert max(customers) - min(customers) == 49
    conn.execute(text("ANALYZE sales_order"))


def _plan(conn, statement: str, parameters) -> str:
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
    else:
        rows = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()]
    return "\n".join(rows)


def _statements(conn, run) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def keep(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", keep)
    try:
        run()
    finally:
        event.remove(conn, "before_cursor_execute", keep)
    return seen


def _big_enough(session) -> int:
    return 20_000 if session.connection().dialect.name == "postgresql" else 3_000


def test_the_indexes_are_there_with_the_expressions_the_queries_use(session):
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        found = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                                       "'sales_order' AND indexname LIKE 'ix_sales_order_data_%'")).all())
    else:
        found = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                                       "name LIKE 'ix_sales_order_data_%'")).all())
    assert set(found) == set(DATA_TEXT_INDEXES)
    for name, key in DATA_TEXT_INDEXES.items():
        rendered = str(select(DataText(Order.__table__.c.data, key)).compile(conn))
        expression = rendered.removeprefix("SELECT ").split(" AS ")[0].replace("sales_order.", "")
        assert expression in found[name].replace("'::text", "'"), (expression, found[name])


def test_a_suppliers_open_orders_are_refreshed_through_the_index(session):
    _book(session, _big_enough(session))
    conn = session.connection()
    conn.execute(OrderScoreMark.__table__.insert(), [{"kind": "supplier", "key": "S7", "created_at": NOW}])
    scores_service._last_day[0] = NOW.date()  # no urgency edges: the supplier alone
    ran = _statements(conn, lambda: scores_service.refresh_changed(conn, NOW))
    update = [(s, p) for s, p in ran if s.lstrip().upper().startswith("UPDATE")]
    assert update, [s[:60] for s, _ in ran]
    plan = _plan(conn, *update[0])
    assert "ix_sales_order_data_supplier" in plan, plan  # the supplier's open orders and closed samples
    if conn.dialect.name == "postgresql":  # and its orders' carriers' closed samples (SQLite's planner,
        assert "ix_sales_order_data_carrier" in plan, plan  # on 3,000 orders, reads them otherwise)
    refreshed = session.execute(select(Order.supplier_on_time_rate).where(
        DataText(Order.__table__.c.data, "supplier") == "S7", Order.status == "open")).scalars().all()
    assert refreshed and all(rate is not None for rate in refreshed)  # the group's closed samples counted


def test_the_automatic_decisions_history_reads_a_supplier_through_the_index(session):
    _book(session, _big_enough(session))
    conn = session.connection()
    orders = [{"_at": NOW, "customer_id": 1, "supplier": "S7"}]
    ran = _statements(conn, lambda: _history(session, orders, {"supplier_on_time_rate"}, NOW))
    statement, parameters = next((s, p) for s, p in ran if "sales_order" in s and "supplier" in s)
    plan = _plan(conn, statement, parameters)
    assert "ix_sales_order_data_supplier" in plan, plan
