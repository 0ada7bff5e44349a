"""A long inbox (issue 17: "shows 50 cards and says 共 134 条, with no paging", "took 10 s"): pages
with correct counts, an emptied page falls back to the last one, and reading a page costs the
same number of queries for 5 or 50 approvals of one flow."""

from __future__ import annotations

import pytest

from backend.inbox import service as inbox_service
from backend.inbox.schemas import InboxFilter
from tests.backend.inbox.test_flow_actions import _actor, _start, org  # noqa: F401 (fixture)
from tests.backend.orders.test_access import count_queries


@pytest.fixture
def many(session, org, now):  # noqa: F811
    for n in range(57):
        _start(session, org, now, f"PG-{n:03d}")
    return org


class TestPaging:
    def test_pages_count_and_do_not_overlap(self, session, many, now):
        manager = _actor(many["manager"])
        first = inbox_service.list_items(session, actor=manager, filters=InboxFilter(limit=25), now=now)
        second = inbox_service.list_items(session, actor=manager, filters=InboxFilter(limit=25, offset=25), now=now)
        third = inbox_service.list_items(session, actor=manager, filters=InboxFilter(limit=25, offset=50), now=now)
        assert (first.total, first.counts["todo"]) == (57, 57)
        assert (first.first, first.last, first.has_previous, first.has_next) == (1, 25, False, True)
        assert (third.first, third.last, third.has_previous, third.has_next) == (51, 57, True, False)
        ids = [i.id for p in (first, second, third) for i in p.items]
        assert len(ids) == len(set(ids)) == 57

    def test_a_page_past_the_end_shows_the_last_page(self, session, many, now):
        manager = _actor(many["manager"])
        page = inbox_service.list_items(session, actor=manager, filters=InboxFilter(limit=25, offset=100), now=now)
        assert (page.offset, page.first, page.last) == (50, 51, 57)

    def test_empty_inbox_says_zero(self, session, many, now):
        page = inbox_service.list_items(session, actor=_actor(many["rep"]), filters=InboxFilter(offset=50), now=now)
        assert (page.total, page.first, page.last, page.has_next) == (0, 0, 0, False)


class TestQueryCount:
    def test_a_page_of_50_costs_what_a_page_of_5_costs(self, session, many, now):
        manager = _actor(many["manager"])
        counts = []
        for limit in (5, 50):
            session.expire_all()
            with count_queries(session) as statements:
                page = inbox_service.list_items(session, actor=manager, filters=InboxFilter(limit=limit), now=now)
            assert len(page.items) == limit
            counts.append(len(statements))
        assert counts[0] == counts[1], counts
