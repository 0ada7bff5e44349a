"""backend/bulk_insert.py's write-behind COPY: the order of statements is kept, what the server
refuses surfaces as the usual SQLAlchemy error (at the next insert or at the commit), and a
rollback forgets it (SQLite writes at once: the same calls, the same outcomes)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backend.bulk_insert import insert_rows, settle
from backend.customers.models import Customer
from backend.ingest import bulk
from backend.ingest.models import ImportRowResult
from tests.factories.people import make_user


def _customers(n: int, prefix: str, now) -> list[dict]:
    return [bulk._customer_row(bulk._NewCustomer(name=f"{prefix} {i}", code=f"{prefix}-{i}", created_at=now))
            for i in range(n)]


def _orphan_result() -> dict:
    # an import row result naming an import job that does not exist: the foreign key refuses it
    # when the COPY ends, i.e. in the writer thread on PostgreSQL
    return {"import_job_id": 987654321, "line": 2, "outcome": "created", "order_id": None,
            "external_id": "bulk4-orphan", "changed": []}


class TestWriteBehind:
    def test_a_later_statement_sees_the_rows(self, session, now):
        before = session.execute(select(func.count()).select_from(Customer)).scalar_one()
        ids = insert_rows(session, Customer.__table__, _customers(300, "bulk4-wb", now), ids=True, background=True)
        assert len(ids) == 300 and len(set(ids)) == 300
        # a read right after the call waits for the COPY (psycopg's connection lock)
        assert session.execute(select(func.count()).select_from(Customer)).scalar_one() == before + 300
        got = dict(session.execute(select(Customer.id, Customer.code).where(Customer.id.in_(ids))).all())
        assert got[ids[0]] == "bulk4-wb-0" and got[ids[-1]] == "bulk4-wb-299"

    def test_two_in_a_row_keep_their_order(self, session, now):
        user = make_user(session, username="bulk4-wb-order")
        first = insert_rows(session, Customer.__table__, _customers(50, "bulk4-a", now), ids=True, background=True)
        second = insert_rows(session, Customer.__table__, _customers(50, "bulk4-b", now), ids=True, background=True)
        session.commit()
        assert max(first) < min(second)
        assert user.id is not None
        assert session.execute(select(func.count()).select_from(Customer).where(
            Customer.code.like("bulk4-%"))).scalar_one() == 100

    def test_a_refused_copy_fails_the_commit(self, session):
        with pytest.raises(IntegrityError):  # SQLite refuses at the insert, PostgreSQL at the commit
            insert_rows(session, ImportRowResult.__table__, [_orphan_result()], background=True)
            session.commit()
        session.rollback()

    def test_a_refused_copy_fails_the_next_insert(self, session, now):
        with pytest.raises(IntegrityError):  # SQLite refuses at the first insert, PostgreSQL at the second
            insert_rows(session, ImportRowResult.__table__, [_orphan_result()], background=True)
            insert_rows(session, Customer.__table__, _customers(1, "bulk4-next", now), ids=True)
        settle(session)  # nothing left to raise
        session.rollback()

    def test_a_rollback_forgets_the_refusal(self, session, now):
        try:
            insert_rows(session, ImportRowResult.__table__, [_orphan_result()], background=True)
        except IntegrityError:
            pass  # SQLite refuses at once
        session.rollback()
        ids = insert_rows(session, Customer.__table__, _customers(2, "bulk4-after", now), ids=True, background=True)
        session.commit()
        assert session.execute(select(func.count()).select_from(Customer).where(
            Customer.id.in_(ids))).scalar_one() == 2
