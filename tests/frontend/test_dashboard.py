"""Dashboard figures (backend/orders/stats.py through frontend/pages/dashboard.py) on both databases."""

from __future__ import annotations

from datetime import date, timedelta

from backend.auth.service import load_actor
from backend.orders import stats
from frontend.pages.dashboard import build_dashboard
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user


def _actor(session, user):
    return load_actor(session, user.id)


class TestDashboardFigures:
    def test_counts_only_what_the_actor_may_see(self, session, now):
        rep = make_user(session, roles=["sales"])
        stranger = make_user(session, roles=["sales"])
        admin = make_user(session, roles=["admin"])
        make_order(session, owner=rep, stage="production")
        make_order(session, owner=rep, stage="production")
        make_order(session, owner=rep, stage="draft")
        make_order(session, owner=rep, stage="completed", status="completed")
        make_order(session, owner=stranger, stage="production")
        session.flush()
        mine = {s.stage: s.count for s in stats.count_by_stage(session, actor=_actor(session, rep))}
        assert mine == {"production": 2, "draft": 1}
        everyone = {s.stage: s.count for s in stats.count_by_stage(session, actor=_actor(session, admin))}
        assert everyone["production"] >= 3

    def test_a_team_head_sees_the_team(self, session, now):
        head = make_user(session, roles=["sales"])
        dep = make_department(session, head=head)
        member = make_user(session, roles=["sales"], department=dep)
        make_order(session, owner=member, stage="shipping")
        session.flush()
        counts = {s.stage: s.count for s in stats.count_by_stage(session, actor=_actor(session, head))}
        assert counts == {"shipping": 1}

    def test_overdue_means_open_undelivered_and_past_planned_delivery(self, session, now):
        rep = make_user(session, roles=["sales"])
        today = now.date()
        late = make_order(session, owner=rep, stage="production", planned_delivery=today - timedelta(days=5))
        later = make_order(session, owner=rep, stage="shipping", planned_delivery=today - timedelta(days=1))
        make_order(session, owner=rep, stage="production", planned_delivery=today)  # due today: not late
        make_order(session, owner=rep, stage="delivered", planned_delivery=today - timedelta(days=9))
        make_order(session, owner=rep, stage="production", status="cancelled",
                   planned_delivery=today - timedelta(days=9))
        make_order(session, owner=rep, stage="production", planned_delivery=None)
        session.flush()
        actor = _actor(session, rep)
        assert stats.count_overdue(session, actor=actor, now=now) == 2
        lines = stats.list_overdue(session, actor=actor, now=now)
        assert [(line.id, line.days_overdue) for line in lines] == [(late.id, 5), (later.id, 1)]

    def test_risk_flagged_are_open_orders_with_a_flag(self, session, now):
        rep = make_user(session, roles=["sales"])
        flagged = make_order(session, owner=rep, risk_flags=["credit_hold", "late_material"])
        make_order(session, owner=rep, risk_flags=[])
        make_order(session, owner=rep, risk_flags=["credit_hold"], status="completed", stage="completed")
        session.flush()
        actor = _actor(session, rep)
        assert stats.count_risk_flagged(session, actor=actor) == 1
        [line] = stats.list_risk_flagged(session, actor=actor, now=now)
        assert line.id == flagged.id and line.risk_flags == ["credit_hold", "late_material"]

    def test_created_per_week_has_every_week_and_monday_boundaries(self, session, now):
        # now is Tuesday 2026-11-24 02:30 UTC (10:30 in Shanghai, the installation's default zone): this
        # week started Monday 2026-11-23 00:00 in Shanghai, Sunday 16:00 UTC
        rep = make_user(session, roles=["sales"])
        monday = now.replace(hour=16, minute=0) - timedelta(days=2)
        make_order(session, owner=rep, at=monday)  # this week, first instant
        make_order(session, owner=rep, at=monday - timedelta(seconds=1))  # last week, last instant
        make_order(session, owner=rep, at=monday - timedelta(days=7))  # last week, first instant
        make_order(session, owner=rep, at=monday - timedelta(weeks=3, days=-2))
        make_order(session, owner=rep, at=monday - timedelta(weeks=4))  # outside 4 weeks
        session.flush()
        weeks = stats.created_per_week(session, actor=_actor(session, rep), now=now, weeks=4)
        assert [w.week_start for w in weeks] == [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16),
                                                 date(2026, 11, 23)]
        assert [w.count for w in weeks] == [1, 0, 2, 1]

    def test_build_dashboard_totals(self, session, now):
        rep = make_user(session, roles=["sales"])
        make_order(session, owner=rep, stage="approval", at=now - timedelta(days=1), risk_flags=["x"])
        make_order(session, owner=rep, stage="production", at=now - timedelta(days=20),
                   planned_delivery=now.date() - timedelta(days=2))
        session.flush()
        d = build_dashboard(session, actor=_actor(session, rep), now=now, weeks=8)
        assert d.open_total == 2 and d.overdue_count == 1 and d.risk_count == 1
        assert len(d.weeks) == 8 and sum(w.count for w in d.weeks) == 2 and d.week_max == 1


class TestDashboardQueryCount:
    def test_a_fixed_number_of_queries_whatever_the_data(self, session, connection, now):
        from sqlalchemy import event

        head = make_user(session, roles=["sales"])
        dep = make_department(session, head=head)
        members = [make_user(session, roles=["sales"], department=dep) for _ in range(3)]
        for i, member in enumerate(members * 4):
            make_order(session, owner=member, stage="production", risk_flags=["x"] if i % 2 else [],
                       planned_delivery=now.date() - timedelta(days=i + 1), at=now - timedelta(days=i))
        session.flush()
        actor = _actor(session, head)
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731 (conn, cursor, statement, ...)
        event.listen(connection, "before_cursor_execute", listener)
        try:
            d = build_dashboard(session, actor=actor, now=now)
        finally:
            event.remove(connection, "before_cursor_execute", listener)
        assert d.open_total == 12 and d.overdue_count == 12 and d.risk_count == 6
        # org chart walked once (3) + stages, weeks, 2 counts, 2 lists with 2 name lookups each (10)
        # + the installation calendar for "today" (1, once per session; the page has read it already)
        assert len(statements) <= 14, statements
