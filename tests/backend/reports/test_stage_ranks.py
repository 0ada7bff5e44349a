"""Time in stage read at its ranks (engine/reports/stage_ranks.py) against the general plan, on the
same data, on SQLite and PostgreSQL: the day-one tile and its variants as an admin (ranks), a team
head and a sales rep (row-level access: the general plan), with left and open visits, ties, a stage
with one visit, stages nobody entered, visits entered at a fraction of a second, and a dashboard
filter (the general plan); the figures are the same, and, switched on, the ranks are what the
admin's run reads (and a rep's or a filtered dashboard's does not)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from backend.auth.service import load_actor
from backend.orders.models import Order, OrderEvent
from backend.reports import cache, datasets, service
from backend.rules.context import catalogue_for, fact_context
from engine.reports.builtin import BUILTIN_REPORTS
from tests.backend.reports.test_stage_visits import NOW, _seed
from tests.factories.orders import make_order

TIME_IN_STAGE = next(r for r in BUILTIN_REPORTS if r["key"] == "day1_time_in_stage")
TILE = {k: TIME_IN_STAGE[k] for k in ("dataset", "dimensions", "measures", "filter")}
STAGES = ("draft", "approval", "production", "shipping", "delivered")
DEFINITIONS = {
    "day one tile": TILE,
    "count, min, max, p90, median, sorted by p90 desc": {
        **TILE, "measures": [{"op": "count"}, {"op": "min", "field": "duration_hours"},
                             {"op": "max", "field": "duration_hours"}, {"op": "p90", "field": "duration_hours"},
                             {"op": "median", "field": "duration_hours"}],
        "sort": [{"by": "m3", "dir": "desc"}]},
    "stages descending, two and more": {**TILE, "sort": [{"by": "d0", "dir": "desc"}], "limit": 2},
    "count ascending (ties by stage)": {**TILE, "measures": [{"op": "count"}], "sort": [{"by": "m0"}]},
}


def _many(session, teams):
    """Orders of both teams whose visits have random whole and fractional durations, many equal ones,
    open visits in every stage, one visit of `qc`, and an order entering a stage after `now`."""
    rng = random.Random(16)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    rows = []
    for i in range(60):
        order = make_order(session, owner=teams["rep1" if i % 3 else "rep2"], stage="draft", at=start)
        at = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 30), microseconds=rng.choice([0, 999_999, 500_000]))
        for stage in STAGES[: rng.randrange(1, len(STAGES) + 1)]:
            rows.append({"order_id": order.id, "type": "stage_entered", "at": at, "before": None,
                         "after": {"stage": stage}})
            at += timedelta(hours=rng.choice([1, 1, 1, 24, 48.5]) if i % 2 else rng.randrange(1, 400) / 7)
    qc = make_order(session, owner=teams["rep1"], stage="draft", at=start)
    rows += [{"order_id": qc.id, "type": "created", "at": start, "before": None, "after": {"stage": "draft"}},
             {"order_id": qc.id, "type": "stage_entered", "at": start + timedelta(hours=3), "before": None,
              "after": {"stage": "qc"}},
             {"order_id": qc.id, "type": "stage_entered", "at": start + timedelta(hours=5, seconds=1), "before": None,
              "after": {"stage": "shipping"}},
             {"order_id": qc.id, "type": "stage_entered", "at": NOW + timedelta(hours=2), "before": None,
              "after": {"stage": "delivered"}}]
    session.execute(sa.insert(OrderEvent.__table__), rows)
    session.flush()


def _run(session, actor, definition, ranked, monkeypatch, extra=None, extra_key=None):
    with monkeypatch.context() as m:
        m.setattr(service, "RANKED_TIME_IN_STAGE", ranked)
        cache.CACHE.clear()
        return service.run(session, actor=actor, definition=definition, now=NOW, extra=extra, extra_key=extra_key)


def _same(new, old, label):
    assert new.more == old.more, label
    assert len(new.rows) == len(old.rows), label
    for a, b in zip(new.rows, old.rows, strict=True):
        assert a == [pytest.approx(v, abs=1e-9) if isinstance(v, float) else v for v in b], label


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_ranks_give_the_general_plans_figures(session, teams, monkeypatch, name):
    _seed(session, teams)
    _many(session, teams)
    definition = {"limit": 1000, **DEFINITIONS[name]}
    for who in ("admin", "head1", "rep2"):
        actor = load_actor(session, teams[who].id)
        ranked = _run(session, actor, definition, True, monkeypatch)
        general = _run(session, actor, definition, False, monkeypatch)
        assert ranked.rows, (name, who)
        _same(ranked, general, (name, who))
    # the window over the event log (before insight1m_0001) says the same
    with monkeypatch.context() as m:
        m.setattr(datasets, "TABLES", {k: v for k, v in datasets.TABLES.items() if k != "visit"})
        window = _run(session, load_actor(session, teams["admin"].id), definition, True, monkeypatch)
    _same(_run(session, load_actor(session, teams["admin"].id), definition, True, monkeypatch), window, name)


def _statements(session, run):
    """The SQL a run sends to the database."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    bind = session.connection()
    sa.event.listen(bind, "before_cursor_execute", record)
    try:
        run()
    finally:
        sa.event.remove(bind, "before_cursor_execute", record)
    return seen


def _reads_ranks(statements) -> bool:
    return any("order_stage_visit.seconds IS NOT NULL ORDER BY order_stage_visit.seconds" in s for s in statements)


def test_the_admins_tile_is_read_at_its_ranks_and_a_reps_is_not(session, teams, monkeypatch):
    _seed(session, teams)
    _many(session, teams)
    monkeypatch.setattr(service, "RANKED_TIME_IN_STAGE", True)
    definition = {**TILE, "limit": 1000}
    admin, rep = load_actor(session, teams["admin"].id), load_actor(session, teams["rep2"].id)
    assert _reads_ranks(_statements(session, lambda: service.run(session, actor=admin, definition=definition, now=NOW)))
    cache.CACHE.clear()
    assert not _reads_ranks(_statements(session, lambda: service.run(session, actor=rep, definition=definition,
                                                                       now=NOW)))
    cache.CACHE.clear()
    assert not _reads_ranks(_statements(session, lambda: service.run(
        session, actor=admin, definition=definition, now=NOW, extra=Order.owner_id == teams["rep2"].id, extra_key="t")))
    monkeypatch.setattr(service, "RANKED_TIME_IN_STAGE", False)
    cache.CACHE.clear()
    assert not _reads_ranks(_statements(session, lambda: service.run(session, actor=admin, definition=definition,
                                                                       now=NOW)))
    monkeypatch.setattr(service, "RANKED_TIME_IN_STAGE", True)
    report = service.parse({**TILE, "limit": 1000}, catalogue_for(session))
    ctx = fact_context(NOW, session=session)
    rows = service._ranked(session, report, ctx)
    stages = [r[0] for r in rows]
    assert "qc" in stages and "delivered" in stages and "invoicing" not in stages  # entered once; never
    one = next(r for r in rows if r[0] == "qc")
    assert one[1] == one[2] == pytest.approx((2 * 3600 + 1) / 3600.0)  # a stage with one visit: that visit
    cache.CACHE.clear()
    assert service.run(session, actor=load_actor(session, teams["admin"].id), definition={**TILE, "limit": 1000},
                       now=NOW).rows == [[r[0], round(r[1], 6), round(r[2], 6)] for r in rows]
    cache.CACHE.clear()
    rep = service.run(session, actor=load_actor(session, teams["rep2"].id), definition={**TILE, "limit": 1000}, now=NOW)
    assert "qc" not in [r[0] for r in rep.rows]  # rep1's order: not counted for rep2


def test_a_dashboard_filter_narrows_the_admins_tile(session, teams, monkeypatch):
    _seed(session, teams)
    _many(session, teams)
    admin = load_actor(session, teams["admin"].id)
    team2 = Order.owner_id == teams["rep2"].id
    filtered = _run(session, admin, {**TILE, "limit": 1000}, True, monkeypatch, extra=team2, extra_key="team2")
    everyone = _run(session, admin, {**TILE, "limit": 1000}, True, monkeypatch)
    rep2 = _run(session, load_actor(session, teams["rep2"].id), {**TILE, "limit": 1000}, True, monkeypatch)
    assert filtered.rows == rep2.rows  # rep2 sees their own team's orders: the same visits
    assert filtered.rows != everyone.rows


def test_the_cached_tile_moves_with_a_new_visit(session, teams):
    _seed(session, teams)
    admin = load_actor(session, teams["admin"].id)
    definition = {**TILE, "limit": 1000}
    first = service.run(session, actor=admin, definition=definition, now=NOW)
    assert service.run(session, actor=admin, definition=definition, now=NOW) is first  # cached
    order = session.exec(select(Order).where(Order.owner_id == teams["rep2"].id)).first()
    session.add(OrderEvent(order_id=order.id, type="stage_entered", at=NOW - timedelta(hours=1), before=None,
                           after={"stage": "qc"}))
    session.flush()
    again = service.run(session, actor=admin, definition=definition, now=NOW)
    assert again is not first
    assert ["qc", 1.0, 1.0] in again.rows
