"""Reports compiled to SQL on SQLite and PostgreSQL, checked against figures computed by hand:
groups, date buckets in the installation's zone, count/sum/avg/median/p90/rate, stage hours from
the event log, filters, sort and limit, and row-level access (two teams)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import numpy
import pytest

from backend.auth.service import load_actor
from backend.errors import GendanError
from backend.reports import service
from tests.factories.order_events import travel
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def run(session, user, definition):
    return service.run(session, actor=load_actor(session, user.id), definition=definition, now=NOW)


def test_count_sum_avg_median_p90_by_owner(session):
    admin = make_user(session, roles=["admin"])
    rep1, rep2 = make_user(session, display_name="RC One"), make_user(session, display_name="RC Two")
    amounts1 = [100, 200, 300, 400, 1000, 50, 75]
    amounts2 = [10, 20]
    for a in amounts1:
        make_order(session, owner=rep1, amount=a)
    for a in amounts2:
        make_order(session, owner=rep2, amount=a, status="completed")
    result = run(session, admin, {
        "dimensions": [{"field": "owner_id"}],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}, {"op": "avg", "field": "amount"},
                     {"op": "median", "field": "amount"}, {"op": "p90", "field": "amount"},
                     {"op": "rate", "where": {"==": [{"var": "status"}, "completed"]}}],
        "filter": {"in": [{"var": "owner_id"}, [rep1.id, rep2.id]]},
        "sort": [{"by": "m0", "dir": "desc"}],
    })
    assert [r[0] for r in result.rows] == [rep1.id, rep2.id]
    one, two = result.rows
    assert one[1] == 7 and one[2] == pytest.approx(sum(amounts1)) and one[3] == pytest.approx(sum(amounts1) / 7)
    assert one[4] == pytest.approx(statistics.median(amounts1))
    assert one[5] == pytest.approx(numpy.percentile(amounts1, 90))
    assert one[6] == pytest.approx(0.0) and two[6] == pytest.approx(1.0)
    assert two[5] == pytest.approx(numpy.percentile(amounts2, 90))  # 18.0: between the two values
    assert result.labels[0] == {str(rep1.id): "RC One", str(rep2.id): "RC Two"}


def test_month_buckets_in_the_installation_zone_and_stage_hours(session):
    admin = make_user(session, roles=["admin"])
    rep = make_user(session)
    # 2026-10-31 20:00 UTC is 2026-11-01 04:00 in Shanghai (the default zone): a November order
    late_october_utc = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)
    waits = [5, 12, 24, 48, 72]
    for hours in waits:
        travel(session, owner=rep, created=late_october_utc,
               stages_hours=[("draft", 0), ("approval", 1), ("production", hours)])
    travel(session, owner=rep, created=datetime(2026, 10, 10, tzinfo=UTC),
           stages_hours=[("draft", 0), ("approval", 2), ("draft", 3), ("approval", 4), ("production", 10)])
    result = run(session, admin, {
        "dimensions": [{"field": "owner_id"}, {"field": "created_at", "bucket": "month"}],
        "measures": [{"op": "count"}, {"op": "p90", "field": "stage_hours.approval"},
                     {"op": "median", "field": "stage_hours.approval"}],
        "filter": {"==": [{"var": "owner_id"}, rep.id]},
    })
    assert [r[:3] for r in result.rows] == [[rep.id, "2026-10-01", 1], [rep.id, "2026-11-01", 5]]
    assert result.rows[0][3] == pytest.approx(3 + 10)  # two visits of approval: 3 h and 10 h
    assert result.rows[1][3] == pytest.approx(numpy.percentile(waits, 90))
    assert result.rows[1][4] == pytest.approx(24)
    weeks = run(session, admin, {"dimensions": [{"field": "created_at", "bucket": "week"}],
                                 "filter": {"==": [{"var": "owner_id"}, rep.id]}})
    assert [r[0] for r in weeks.rows] == ["2026-10-05", "2026-10-26"]  # Mondays
    quarters = run(session, admin, {"dimensions": [{"field": "created_at", "bucket": "quarter"}],
                                    "filter": {"==": [{"var": "owner_id"}, rep.id]}})
    assert quarters.rows == [["2026-10-01", 6]]


def test_a_sales_rep_never_counts_another_teams_orders(session):
    head1, head2 = make_user(session, display_name="Head A"), make_user(session, display_name="Head B")
    team1, team2 = make_department(session, head=head1), make_department(session, head=head2)
    rep1 = make_user(session, department=team1)
    rep2 = make_user(session, department=team2)
    for _ in range(3):
        make_order(session, owner=rep1)
    for _ in range(5):
        make_order(session, owner=rep2)
    make_order(session, owner=head2)
    definition = {"dimensions": [{"field": "owner_id"}], "measures": [{"op": "count"}]}
    assert run(session, rep1, definition).rows == [[rep1.id, 3]]
    assert run(session, head1, definition).rows == [[rep1.id, 3]]
    assert sorted(run(session, head2, definition).rows) == sorted([[rep2.id, 5], [head2.id, 1]])
    total = {"measures": [{"op": "count"}]}
    assert run(session, rep2, total).rows == [[5]]


def test_limit_says_more_and_bad_definitions_are_422(session):
    admin = make_user(session, roles=["admin"])
    for i in range(4):
        make_order(session, owner=admin, amount=i + 1)
    result = run(session, admin, {"dimensions": [{"field": "amount"}], "limit": 3,
                                  "filter": {"==": [{"var": "owner_id"}, admin.id]}})
    assert len(result.rows) == 3 and result.more
    for bad, code in [({"dimensions": [{"field": "nope"}]}, "report.unknown_field"),
                      ({"dimensions": [{"field": "created_at"}]}, "report.bucket_needs_date"),
                      ({"measures": [{"op": "sum", "field": "stage"}]}, "report.measure_needs_number"),
                      ({"measures": [{"op": "rate"}]}, "report.rate_needs_condition"),
                      ({"limit": 5000}, "report.definition_invalid"),
                      ({"sort": [{"by": "d1"}]}, "report.bad_sort")]:
        with pytest.raises(GendanError) as caught:
            run(session, admin, bad)
        assert caught.value.code == code


def test_cell_lists_the_orders_behind_it(session):
    admin = make_user(session, roles=["admin"])
    rep = make_user(session)
    mine = [make_order(session, owner=rep, at=datetime(2026, 11, 3, tzinfo=UTC) + timedelta(hours=i)) for i in range(2)]
    make_order(session, owner=rep, at=datetime(2026, 9, 3, tzinfo=UTC))
    definition = {"dimensions": [{"field": "owner_id"}, {"field": "created_at", "bucket": "month"}]}
    orders = service.drill_orders(session, actor=load_actor(session, admin.id), definition=definition,
                                  cell=[rep.id, "2026-11-01"], now=NOW)
    assert sorted(o.id for o in orders) == sorted(o.id for o in mine)
    report = service.parse(definition, service.catalogue_for(session))
    assert service.order_list_query(report, [rep.id, "2026-11-01"]) == [
        ("owner_id", str(rep.id)), ("created_from", "2026-11-01"), ("created_to", "2026-11-30")]


def test_a_hostile_filter_is_refused_not_crashed(session):
    admin = make_user(session, roles=["admin"])
    deep: object = {"==": [{"var": "amount"}, 1]}
    for _ in range(5000):
        deep = {"!": [deep]}
    for definition in ({"filter": deep}, {"measures": [{"op": "rate", "where": deep}]}):
        with pytest.raises(GendanError) as caught:
            run(session, admin, definition)
        assert caught.value.code in ("report.filter_too_large", "report.definition_invalid")


def test_a_cell_the_databases_cannot_compare_is_refused(session):
    admin = make_user(session, roles=["admin"])
    definition = {"dimensions": [{"field": "owner_id"}]}
    for cell in ([2**70], ["a\x00b"], [float("nan")], [{"x": 1}], [1, 2]):
        with pytest.raises(GendanError) as caught:
            service.drill_orders(session, actor=load_actor(session, admin.id), definition=definition, cell=cell, now=NOW)
        assert caught.value.code == "report.bad_cell"
