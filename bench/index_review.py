"""Which `sales_order` indexes do the order list's queries use? EXPLAIN on a populated database.

    .venv/bin/python -m bench.index_review postgresql://postgres@127.0.0.1:5432/bulk5_bench

Runs the real `list_orders` (free text: an order number, an external id, a customer name, a word
that matches nothing; an owner's list; a team's list) and the numbering queries (`next_numbers`,
`_next_number`) on the database given (one loaded by bench/import_rows.py or bench/orders_list.py),
captures the SQL each sends and prints, for each, the indexes its plan reads, then the same with
the indexes revision `bulk5_0001` drops removed (DROP INDEX inside a transaction that is rolled
back: nothing changes). A tool for the schema decision in docs/ingest.md, not a test.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

import backend.models  # noqa: F401
from backend.auth.actor import Actor
from backend.db import make_engine
from backend.orders import service as orders_service
from backend.orders.schemas import OrderFilter

DROPPED = ("ix_sales_order_owner_id", "ix_sales_order_number_trgm", "ix_sales_order_external_id_trgm")


def _indexes(plan: dict) -> list[str]:
    out = [plan["Index Name"]] if "Index Name" in plan else []
    for child in plan.get("Plans", []):
        out += _indexes(child)
    return out


def _scans(plan: dict) -> list[str]:
    out = [f"{plan['Node Type']}({plan.get('Relation Name', '')})"] if "Scan" in plan["Node Type"] else []
    for child in plan.get("Plans", []):
        out += _scans(child)
    return out


def capture(engine) -> list[tuple[str, str, object]]:
    """(label, sql, params) of every statement the list and the numbering send for the scenarios."""
    sent: list[tuple[str, object]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        if "sales_order" in statement and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    with engine.connect() as conn:
        owner = conn.execute(sa.text("SELECT owner_id FROM sales_order LIMIT 1")).scalar()
        number, external = conn.execute(sa.text("SELECT number, external_id FROM sales_order ORDER BY id DESC LIMIT 1")).one()
        customer = conn.execute(sa.text("SELECT name FROM customer ORDER BY id DESC LIMIT 1")).scalar()
    admin = Actor(user_id=owner, username="review", display_name="Review", roles=frozenset({"admin"}))
    sales = Actor(user_id=owner, username="review", display_name="Review", roles=frozenset({"sales"}))
    scenarios = [("admin, free text order number", admin, OrderFilter(q=number)),
                 ("admin, free text external id", admin, OrderFilter(q=external)),
                 ("admin, free text customer name", admin, OrderFilter(q=customer)),
                 ("admin, free text matching nothing", admin, OrderFilter(q="zz-nothing-zz")),
                 ("admin, owner filter", admin, OrderFilter(owner_id=owner)),
                 ("sales, own orders", sales, OrderFilter()),
                 ("sales, own orders, free text", sales, OrderFilter(q=number))]
    out = []
    event.listen(engine, "before_cursor_execute", listen)
    try:
        for label, actor, filters in scenarios:
            with Session(engine) as session:
                sent.clear()
                orders_service.list_orders(session, actor=actor, filters=filters)
                out += [(label, s, p) for s, p in sent]
        with Session(engine) as session:
            sent.clear()
            orders_service.next_numbers(session, [datetime.now(UTC)])
            out += [("next_numbers (one day)", s, p) for s, p in sent]
            sent.clear()
            orders_service._next_number(session, datetime.now(UTC))
            out += [("_next_number", s, p) for s, p in sent]
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return out


def explain(conn, sql: str, params: object) -> tuple[list[str], list[str], float]:
    row = conn.exec_driver_sql("EXPLAIN (FORMAT JSON, ANALYZE) " + sql, params).scalar()
    doc = row if isinstance(row, list) else json.loads(row)
    plan = doc[0]["Plan"]
    return _indexes(plan), _scans(plan), doc[0]["Execution Time"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    engine = make_engine(argv[0])
    statements = capture(engine)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM sales_order")).scalar()
        conn.rollback()
        print(f"# sales_order: {count} rows")
        for label, sql, params in statements:
            before = explain(conn, sql, params)
            conn.rollback()
            for name in DROPPED:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            after = explain(conn, sql, params)
            conn.rollback()  # the indexes are back
            print(f"{label:<40} with: {', '.join(before[0]) or '-':<60} {before[2]:8.2f} ms | "
                  f"without {', '.join(DROPPED[:1])}+trgm: {', '.join(after[0]) or '-':<50} {after[2]:8.2f} ms"
                  f"  [{'; '.join(after[1])}]")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
