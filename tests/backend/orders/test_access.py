"""Row-level access through the org chart, to-do holders, and a query-count guard on the list."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from backend.auth.service import load_actor
from backend.errors import GendanError
from backend.inbox.models import InboxItem
from backend.orders import service
from backend.orders.schemas import OrderFilter
from tests.factories.orders import T0, make_customer, make_order
from tests.factories.people import make_department, make_user


def _visible(session, user) -> set[str]:
    page = service.list_orders(session, actor=load_actor(session, user.id), filters=OrderFilter(limit=200))
    return {o.number for o in page.items}


class TestOrgChart:
    def test_heads_see_every_level_below_and_members_only_their_own(self, session):
        ceo = make_user(session, roles=["sales"])
        lead = make_user(session, roles=["sales"])
        top = make_department(session, head=ceo)
        east = make_department(session, parent=top, head=lead)
        ceo.department_id, lead.department_id = top.id, east.id
        rep = make_user(session, roles=["sales"], department=east)
        peer = make_user(session, roles=["sales"], department=east)
        outsider = make_user(session, roles=["sales"])
        customer = make_customer(session)
        for user, number in ((ceo, "OC-ceo"), (lead, "OC-lead"), (rep, "OC-rep"), (peer, "OC-peer"),
                             (outsider, "OC-out")):
            make_order(session, owner=user, customer=customer, number=number)
        session.flush()
        assert _visible(session, ceo) == {"OC-ceo", "OC-lead", "OC-rep", "OC-peer"}
        assert _visible(session, lead) == {"OC-lead", "OC-rep", "OC-peer"}
        assert _visible(session, rep) == {"OC-rep"}
        assert _visible(session, outsider) == {"OC-out"}

    def test_a_member_cannot_read_the_heads_order_by_id(self, session):
        lead = make_user(session, roles=["sales"])
        dep = make_department(session, head=lead)
        rep = make_user(session, roles=["sales"], department=dep)
        order = make_order(session, owner=lead)
        with pytest.raises(GendanError) as err:
            service.get_order(session, actor=load_actor(session, rep.id), order_id=order.id)
        assert err.value.code == "order.not_found" and err.value.status == 404


class TestTodoHolders:
    def test_whoever_holds_a_todo_on_an_order_sees_it(self, session, now):
        owner = make_user(session, roles=["sales"])
        designer = make_user(session, roles=["designer"])
        order = make_order(session, owner=owner, number="TD-1")
        make_order(session, owner=owner, number="TD-2")
        assert _visible(session, designer) == set()
        session.add(InboxItem(dedupe_key="t1", order_id=order.id, assignee_id=designer.id, kind="task",
                              title="Check drawing", created_at=now))
        session.flush()
        assert _visible(session, designer) == {"TD-1"}


@contextmanager
def count_queries(session):
    statements: list[str] = []

    def before(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    bind = session.connection()
    event.listen(bind, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(bind, "before_cursor_execute", before)


class TestQueryCount:
    def test_list_costs_the_same_number_of_queries_for_5_or_100_rows(self, session):
        admin = make_user(session, roles=["admin"])
        rep = make_user(session, roles=["sales"])
        customers = [make_customer(session) for _ in range(10)]
        for i in range(100):
            make_order(session, owner=rep if i % 2 else admin, customer=customers[i % 10], number=f"QC-{i:03d}")
        session.flush()
        counts = []
        for user in (admin, rep):
            actor = load_actor(session, user.id)
            for limit in (5, 100):
                with count_queries(session) as statements:
                    page = service.list_orders(session, actor=actor, filters=OrderFilter(q="QC-", limit=limit,
                                                                                         with_total=True))
                assert len(page.items) == min(limit, 100 if user is admin else 50)
                counts.append(len(statements))
        assert counts[0] == counts[1] and counts[2] == counts[3], counts
        assert max(counts) <= 7, counts  # 7th: the published form's text fields that the search reads

    def test_event_history_is_one_query_plus_names(self, session, now):
        rep = make_user(session, roles=["sales"])
        order = make_order(session, owner=rep, at=T0)
        actor = load_actor(session, rep.id)
        for _ in range(20):
            service.record_event(session, order, type="urged", actor=actor, now=now)
        session.flush()
        with count_queries(session) as statements:
            events = service.list_events(session, actor=actor, order_id=order.id)
        assert len(events) == 20 and events[0].actor_name == rep.display_name
        assert len(statements) <= 5, statements
