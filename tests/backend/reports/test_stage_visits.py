"""Stored stage visits (order_stage_visit, insight1m_0001) on SQLite and PostgreSQL: the database
writes them as events are inserted — one at a time, many in one statement, out of time order, two at
the same moment — and the order events data set reads its durations from them with the same figures
as the window over the event log it replaced (the differential: both compiles over the same data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.auth.service import load_actor
from backend.orders.models import OrderEvent, OrderStageVisit
from backend.reports import cache, datasets, service
from engine.facts.catalogue import as_utc
from engine.reports.builtin import BUILTIN_REPORTS
from tests.factories.order_events import travel
from tests.factories.orders import make_order

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
T = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
TIME_IN_STAGE = next(r for r in BUILTIN_REPORTS if r["key"] == "day1_time_in_stage")


def _seed(session, teams):
    """Orders of two teams whose logs have every shape the window reads."""
    orders = [travel(session, owner=teams["rep1"], created=T + timedelta(hours=i),
                     stages_hours=[("draft", 0), ("approval", 2 + i), ("production", 7 * i + 1), ("shipping", 30 - i)])
              for i in range(4)]
    orders += [travel(session, owner=teams["rep2"], created=T, stages_hours=[("draft", 0), ("approval", 50)])]
    # inserted out of time order (a history import's past): an approval between draft and production
    late = orders[0]
    session.add(OrderEvent(order_id=late.id, type="history", at=T + timedelta(hours=1), before={"stage": "draft"},
                           after={"stage": "approval"}))
    session.flush()
    # many orders' events in one statement (the set-based bulk paths), two at the same moment, a stage
    # that is no string and an event without `after`
    bulk = [make_order(session, owner=teams["rep2"], stage="draft", at=T) for _ in range(3)]
    rows = []
    for j, order in enumerate(bulk):
        at = T + timedelta(hours=3 * j)
        rows += [{"order_id": order.id, "type": "created", "at": at, "before": None, "after": {"stage": "draft"}},
                 {"order_id": order.id, "type": "stage_entered", "at": at + timedelta(hours=5),
                  "before": {"stage": "draft"}, "after": {"stage": "approval"}},
                 {"order_id": order.id, "type": "stage_entered", "at": at + timedelta(hours=5),
                  "before": {"stage": "approval"}, "after": {"stage": "production"}},
                 {"order_id": order.id, "type": "odd", "at": at + timedelta(hours=6), "before": None,
                  "after": {"stage": 5}},
                 {"order_id": order.id, "type": "note", "at": at + timedelta(hours=7), "before": None, "after": None}]
    session.execute(sa.insert(OrderEvent.__table__), rows)
    session.flush()
    return orders + bulk


def _visits_by_log(session, order_ids):
    """Each stage event's (order, stage, entered, left) worked out in Python from the log."""
    events = session.execute(sa.select(OrderEvent.id, OrderEvent.order_id, OrderEvent.at, OrderEvent.after)
                             .where(OrderEvent.order_id.in_(order_ids))).all()
    staged = sorted(((o, as_utc(at), i) for i, o, at, after in events
                     if isinstance((after or {}).get("stage"), str)), key=lambda r: (r[0], r[1], r[2]))
    out = {}
    for k, (order_id, at, event_id) in enumerate(staged):
        later = staged[k + 1] if k + 1 < len(staged) and staged[k + 1][0] == order_id else None
        out[event_id] = (order_id, at, later[1] if later else None)
    return out


def test_the_database_writes_a_visit_per_stage_event_left_when_the_next_is_entered(session, teams):
    orders = _seed(session, teams)
    ids = [o.id for o in orders]
    stored = {v.event_id: (v.order_id, as_utc(v.entered_at), as_utc(v.left_at) if v.left_at else None)
              for v in session.execute(sa.select(OrderStageVisit).where(OrderStageVisit.order_id.in_(ids))).scalars()}
    assert stored == _visits_by_log(session, ids)
    assert len(stored) == 4 * 4 + 2 + 1 + 3 * 3  # travel's stages, the late one, the bulk's three each
    # stagetime_0001: each left visit's whole seconds, floor to floor, as the reports count them
    seconds = dict(session.execute(sa.select(OrderStageVisit.event_id, OrderStageVisit.seconds)
                                   .where(OrderStageVisit.order_id.in_(ids))).all())
    assert seconds == {e: (int(left.timestamp() // 1) - int(at.timestamp() // 1) if left else None)
                       for e, (_o, at, left) in stored.items()}
    assert any(v and v > 0 for v in seconds.values()) and None in seconds.values()


REPORTS = {
    "time in stage (day one)": {k: TIME_IN_STAGE[k] for k in ("dataset", "dimensions", "measures", "filter")},
    "per stage and owner, count, avg, max": {
        "dataset": "order_events", "dimensions": [{"field": "stage_to"}, {"field": "order.owner_id"}],
        "measures": [{"op": "count"}, {"op": "avg", "field": "duration_hours"}, {"op": "max", "field": "duration_hours"}]},
    "per type and stage left, with events that enter none": {
        "dataset": "order_events", "dimensions": [{"field": "type"}, {"field": "stage_from"}],
        "measures": [{"op": "count"}, {"op": "sum", "field": "duration_hours"}]},
    "two days of events, p90 per stage entered": {
        "dataset": "order_events", "dimensions": [{"field": "stage_to"}],
        "measures": [{"op": "p90", "field": "duration_hours"}],
        "filter": {"<=": [{"now": [-21, "days"]}, {"var": "at"}, {"now": [-19, "days"]}]}},
    "orders: per owner, count, median and p90 hours in approval": {
        "dimensions": [{"field": "owner_id"}],
        "measures": [{"op": "count"}, {"op": "median", "field": "stage_hours.approval"},
                     {"op": "p90", "field": "stage_hours.approval"}, {"op": "max", "field": "stage_hours.draft"}]},
}


@pytest.mark.parametrize("name", list(REPORTS))
def test_durations_from_the_visits_equal_the_window_over_the_log(session, teams, monkeypatch, name):
    _seed(session, teams)
    definition = {**REPORTS[name], "limit": 1000}
    for who in ("admin", "head1", "rep2"):
        actor = load_actor(session, teams[who].id)
        cache.CACHE.clear()
        visits = service.run(session, actor=actor, definition=definition, now=NOW).rows
        with monkeypatch.context() as m:
            m.setattr(datasets, "TABLES", {k: v for k, v in datasets.TABLES.items() if k != "visit"})
            cache.CACHE.clear()
            window = service.run(session, actor=actor, definition=definition, now=NOW).rows
        assert visits, (name, who)
        assert len(visits) == len(window), (name, who)
        for new, old in zip(visits, window, strict=True):
            assert new == [pytest.approx(v) if isinstance(v, float) else v for v in old], (name, who)
