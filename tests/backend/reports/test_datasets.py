"""The data sets besides orders (line items, to-dos, order events, firings, customers) on SQLite and
PostgreSQL: their figures checked by hand, their filters through the rule compiler, drill-downs, and
row-level access with two teams for each (a sales rep counts only what belongs to orders they may see)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy
import pytest

from backend.auth.service import load_actor
from backend.errors import GendanError
from backend.forms.models import FormDefinitionRow
from backend.inbox.models import InboxItem
from backend.reports import service
from backend.rules.models import RuleFiring
from tests.factories.order_events import travel
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
T = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def run(session, user, definition):
    return service.run(session, actor=load_actor(session, user.id), definition=definition, now=NOW)


_todo_seq = itertools.count(1)


def todo(session, order, assignee, *, created, state="open", closed=None, due=None, node="approve"):
    item = InboxItem(dedupe_key=f"ds-todo-{next(_todo_seq)}-{order.id}", order_id=order.id, assignee_id=assignee.id,
                     kind="approval", title="Approve", state=state, created_at=created, closed_at=closed,
                     due_at=due, node_key=node)
    session.add(item)
    session.flush()
    return item


class TestTodos:
    def test_open_todos_by_role_age_overdue_and_time_to_done(self, session, teams):
        approver = make_user(session, roles=["approver", "admin"], display_name="DS Approver")
        clerk = make_user(session, roles=["warehouse"], display_name="DS Clerk")
        order = make_order(session, owner=teams["rep1"])
        todo(session, order, approver, created=NOW - timedelta(hours=10), due=NOW - timedelta(hours=1))
        todo(session, order, approver, created=NOW - timedelta(hours=30))
        todo(session, order, clerk, created=NOW - timedelta(hours=4), node="pack")
        todo(session, order, clerk, created=NOW - timedelta(hours=50), state="done", closed=NOW - timedelta(hours=20),
             node="pack")
        ids = [approver.id, clerk.id]
        result = run(session, teams["admin"], {
            "dataset": "todos", "dimensions": [{"field": "role"}],
            "measures": [{"op": "count"}, {"op": "max", "field": "open_age_hours"},
                         {"op": "rate", "where": {"==": [{"var": "is_overdue"}, True]}},
                         {"op": "avg", "field": "hours_to_done"}],
            "filter": {"and": [{"in": [{"var": "assignee_id"}, ids]}, {"==": [{"var": "state"}, "open"]}]}})
        assert [r[:2] for r in result.rows] == [["approver", 2], ["warehouse", 1]]
        assert result.rows[0][2] == pytest.approx(30) and result.rows[1][2] == pytest.approx(4)
        assert result.rows[0][3] == pytest.approx(0.5) and result.rows[1][3] == pytest.approx(0.0)
        assert result.labels[0] == {"approver": "审批人", "warehouse": "仓库"}  # the default language
        done = run(session, teams["admin"], {
            "dataset": "todos", "dimensions": [{"field": "node_key"}],
            "measures": [{"op": "count"}, {"op": "median", "field": "hours_to_done"}],
            "filter": {"in": [{"var": "assignee_id"}, ids]}})
        assert done.rows == [["approve", 2, None], ["pack", 2, pytest.approx(30)]]

    def test_two_teams_and_the_drill_lists_the_todos(self, session, teams):
        approver = make_user(session, roles=["approver"])
        mine, theirs = make_order(session, owner=teams["rep1"]), make_order(session, owner=teams["rep2"])
        a = todo(session, mine, approver, created=T)
        todo(session, theirs, approver, created=T)
        todo(session, theirs, approver, created=T)
        definition = {"dataset": "todos", "dimensions": [{"field": "order.owner_id"}],
                      "filter": {"==": [{"var": "assignee_id"}, approver.id]}}
        assert run(session, teams["rep1"], definition).rows == [[teams["rep1"].id, 1]]
        assert run(session, teams["head2"], definition).rows == [[teams["rep2"].id, 2]]
        assert len(run(session, teams["admin"], definition).rows) == 2
        listed = service.drill_todos(session, actor=load_actor(session, teams["rep1"].id), definition=definition,
                                     cell=[teams["rep2"].id], now=NOW)
        assert listed == []  # another team's to-dos stay out of the list too
        listed = service.drill_todos(session, actor=load_actor(session, teams["rep1"].id), definition=definition,
                                     cell=[teams["rep1"].id], now=NOW)
        assert [item.id for item, _number in listed] == [a.id]


class TestOrderEvents:
    def test_stage_durations_by_stage_entered(self, session, teams):
        waits = [3, 5, 8, 20]
        for w in waits:
            travel(session, owner=teams["rep1"], created=T, stages_hours=[("draft", 0), ("approval", 2), ("production", w)])
        result = run(session, teams["admin"], {
            "dataset": "order_events", "dimensions": [{"field": "stage_to"}],
            "measures": [{"op": "count"}, {"op": "median", "field": "duration_hours"},
                         {"op": "p90", "field": "duration_hours"}],
            "filter": {"and": [{"==": [{"var": "order.owner_id"}, teams["rep1"].id]},
                               {"in": [{"var": "stage_to"}, ["draft", "approval"]]}]}})
        assert [r[:2] for r in result.rows] == [["approval", 4], ["draft", 4]]
        assert result.rows[0][2] == pytest.approx(numpy.median(waits))
        assert result.rows[0][3] == pytest.approx(numpy.percentile(waits, 90))
        assert result.rows[1][2] == pytest.approx(2)
        kinds = run(session, teams["admin"], {
            "dataset": "order_events", "dimensions": [{"field": "type"}],
            "filter": {"==": [{"var": "order.owner_id"}, teams["rep1"].id]}})
        assert kinds.rows == [["created", 4], ["stage_entered", 8], ["urged", 8]]

    def test_two_teams(self, session, teams):
        travel(session, owner=teams["rep1"], created=T, stages_hours=[("draft", 0), ("approval", 2)])
        for _ in range(2):
            travel(session, owner=teams["rep2"], created=T, stages_hours=[("draft", 0), ("approval", 2)])
        definition = {"dataset": "order_events", "measures": [{"op": "count"}],
                      "filter": {"==": [{"var": "type"}, "stage_entered"]}}
        assert run(session, teams["rep1"], definition).rows == [[1]]
        assert run(session, teams["rep2"], definition).rows == [[2]]
        orders = service.drill_orders(session, actor=load_actor(session, teams["rep1"].id), definition=definition,
                                      cell=[], now=NOW)
        assert {o.owner_id for o in orders} == {teams["rep1"].id}


def line_form(session):
    session.add(FormDefinitionRow(key="ds_lines", version=1, status="published", created_at=T, updated_at=T,
                                  definition={"key": "ds_lines", "fields": [
                                      {"key": "lines", "type": "line_items", "columns": [
                                          {"key": "product", "type": "text"}, {"key": "quantity", "type": "number"},
                                          {"key": "unit_price", "type": "money"}]}]}))
    session.flush()


class TestLineItems:
    def test_products_quantity_and_line_amount_two_teams(self, session, teams):
        line_form(session)
        make_order(session, owner=teams["rep1"], data={"lines": [
            {"product": "DS-Valve", "quantity": 2, "unit_price": 10.5}, {"product": "DS-Pump", "quantity": 1, "unit_price": 100}]})
        make_order(session, owner=teams["rep1"], data={"lines": [{"product": "DS-Valve", "quantity": 4, "unit_price": 10}]})
        make_order(session, owner=teams["rep2"], data={"lines": [{"product": "DS-Valve", "quantity": 100, "unit_price": 1}]})
        make_order(session, owner=teams["rep2"], data={"lines": "not a list"})
        definition = {"dataset": "line_items", "dimensions": [{"field": "product"}],
                      "measures": [{"op": "count"}, {"op": "sum", "field": "quantity"}, {"op": "sum", "field": "line_amount"}],
                      "filter": {"in": ["DS-", {"var": "product"}]}}
        assert run(session, teams["rep1"], definition).rows == [["DS-Pump", 1, 1, 100], ["DS-Valve", 2, 6, 61]]
        assert run(session, teams["rep2"], definition).rows == [["DS-Valve", 1, 100, 100]]
        admin = run(session, teams["admin"], definition).rows
        assert admin == [["DS-Pump", 1, 1, 100], ["DS-Valve", 3, 106, 161]]
        orders = service.drill_orders(session, actor=load_actor(session, teams["rep1"].id), definition=definition,
                                      cell=["DS-Valve"], now=NOW)
        assert len(orders) == 2 and {o.owner_id for o in orders} == {teams["rep1"].id}

    def test_no_line_items_field_designed_is_no_rows(self, session, teams):
        make_order(session, owner=teams["rep1"], data={"lines": [{"product": "x"}]})
        result = run(session, teams["rep1"], {"dataset": "line_items", "measures": [{"op": "count"}]})
        assert result.rows == [[0]]


class TestFirings:
    def test_firings_by_rule_and_week_two_teams(self, session, teams):
        mine, theirs = make_order(session, owner=teams["rep1"]), make_order(session, owner=teams["rep2"])
        for i, (order, rule) in enumerate([(mine, "ds_late"), (mine, "ds_late"), (mine, "ds_pay"), (theirs, "ds_late")]):
            session.add(RuleFiring(rule_key=rule, rule_version=1, order_id=order.id, episode=i, trigger="scan",
                                   fired_at=T + timedelta(days=i)))
        session.flush()
        definition = {"dataset": "firings", "dimensions": [{"field": "rule_key"}],
                      "filter": {"in": [{"var": "rule_key"}, ["ds_late", "ds_pay"]]}}
        assert run(session, teams["rep1"], definition).rows == [["ds_late", 2], ["ds_pay", 1]]
        assert run(session, teams["rep2"], definition).rows == [["ds_late", 1]]
        weeks = run(session, teams["admin"], {**definition, "dimensions": [{"field": "fired_at", "bucket": "week"}]})
        assert weeks.rows == [["2026-11-16", 3], ["2026-11-23", 1]]


class TestCustomers:
    def test_open_value_order_count_on_time_rate_two_teams(self, session, teams):
        big = make_customer(session, name="DS Big", tier="key", region="East")
        small = make_customer(session, name="DS Small", tier="small", region="West")
        day = datetime(2026, 11, 10).date()
        make_order(session, owner=teams["rep1"], customer=big, amount=500)
        make_order(session, owner=teams["rep1"], customer=big, amount=300, status="completed",
                   planned_delivery=day, signed_at=datetime(2026, 11, 10, 15, 0, tzinfo=UTC))
        make_order(session, owner=teams["rep1"], customer=big, amount=300, status="completed",
                   planned_delivery=day, signed_at=datetime(2026, 11, 12, 1, 0, tzinfo=UTC))
        make_order(session, owner=teams["rep2"], customer=big, amount=9000)
        make_order(session, owner=teams["rep2"], customer=small, amount=70)
        definition = {"dataset": "customers", "dimensions": [{"field": "customer_id"}],
                      "measures": [{"op": "sum", "field": "open_value"}, {"op": "sum", "field": "order_count"},
                                   {"op": "avg", "field": "on_time_rate"}],
                      "filter": {"in": [{"var": "customer_id"}, [big.id, small.id]]}, "sort": [{"by": "m0", "dir": "desc"}]}
        assert run(session, teams["rep1"], definition).rows == [[big.id, 500, 3, 0.5]]
        assert run(session, teams["rep2"], definition).rows == [[big.id, 9000, 1, None], [small.id, 70, 1, None]]
        admin = run(session, teams["admin"], definition)
        assert admin.rows == [[big.id, 9500, 4, 0.5], [small.id, 70, 1, None]]
        assert admin.labels[0] == {str(big.id): "DS Big", str(small.id): "DS Small"}
        tiers = run(session, teams["admin"], {"dataset": "customers", "dimensions": [{"field": "tier"}],
                                              "filter": definition["filter"]})
        assert tiers.rows == [["key", 1], ["small", 1]]
        orders = service.drill_orders(session, actor=load_actor(session, teams["rep1"].id), definition=definition,
                                      cell=[big.id], now=NOW)
        assert len(orders) == 3 and {o.owner_id for o in orders} == {teams["rep1"].id}


class TestDefinitions:
    def test_a_definition_without_a_data_set_reads_orders(self, session, teams):
        make_order(session, owner=teams["rep1"])
        assert run(session, teams["rep1"], {"measures": [{"op": "count"}]}).rows == [[1]]
        report = service.parse({"measures": [{"op": "count"}]}, service.catalogue_for(session))
        assert report.dataset == "orders"

    @pytest.mark.parametrize(("definition", "code"), [
        ({"dataset": "todos", "dimensions": [{"field": "stage"}]}, "report.unknown_field"),
        ({"dataset": "todos", "measures": [{"op": "p90", "field": "stage_hours.approval"}]}, "report.measure_needs_number"),
        ({"dataset": "customers", "dimensions": [{"field": "order.owner_id"}]}, "report.unknown_field"),
        ({"dataset": "firings", "filter": {"==": [{"var": "amount"}, 1]}}, "report.condition_not_compilable"),
        ({"dataset": "nope"}, "report.definition_invalid"),
    ])
    def test_fields_of_another_data_set_are_refused(self, session, teams, definition, code):
        with pytest.raises(GendanError) as caught:
            run(session, teams["admin"], definition)
        assert caught.value.code == code and caught.value.status == 422

    def test_the_drill_url_of_a_todos_report_is_the_todos_list(self, session, teams):
        report = service.parse({"dataset": "todos", "dimensions": [{"field": "role"}]}, service.catalogue_for(session))
        assert service.order_list_query(report, ["approver"]) is None


class TestDayOne:
    def test_time_in_stage_and_urges_read_the_event_log(self, session, teams):
        from backend.reports.dashboards import ensure_builtin
        from engine.reports.builtin import BUILTIN_REPORTS

        order = travel(session, owner=teams["rep1"], created=T, stages_hours=[("draft", 0), ("approval", 5)])
        ensure_builtin(session, NOW)
        by_key = {r["key"]: r for r in BUILTIN_REPORTS}
        stages = run(session, teams["rep1"], by_key["day1_time_in_stage"])
        assert [r[0] for r in stages.rows] == ["approval", "draft"]
        assert stages.rows[1][1] == pytest.approx(5)  # draft lasted until approval was entered
        urges = run(session, teams["rep1"], by_key["day1_urges_per_week"])
        assert urges.rows == [["2026-11-16", "urged", 1]]
        assert run(session, teams["rep2"], by_key["day1_urges_per_week"]).rows == []
        del order

    def test_an_unchanged_shipped_report_moves_to_the_new_definition_a_changed_one_stays(self, session):
        from backend.reports.dashboards import ensure_builtin
        from backend.reports.models import ReportDefinitionRow
        from backend.reports.service import LIFECYCLE
        from engine.reports.builtin import SUPERSEDED

        ensure_builtin(session, NOW)
        for key in ("day1_time_in_stage", "day1_urges_per_week"):
            for row in LIFECYCLE.versions(session, key):
                session.delete(row)
        session.flush()
        old = SUPERSEDED["day1_time_in_stage"][0]
        changed = {**SUPERSEDED["day1_urges_per_week"][0], "limit": 7}
        for key, definition in (("day1_time_in_stage", old), ("day1_urges_per_week", changed)):
            session.add(ReportDefinitionRow(key=key, version=1, status="published", definition=definition,
                                            created_at=T, updated_at=T, published_at=T))
        session.flush()
        ensure_builtin(session, NOW)
        moved = sorted(LIFECYCLE.versions(session, "day1_time_in_stage"), key=lambda r: r.version)
        assert [(r.version, r.status) for r in moved] == [(1, "retired"), (2, "published")]
        assert moved[1].definition["dataset"] == "order_events" and moved[0].definition == old
        kept = LIFECYCLE.versions(session, "day1_urges_per_week")
        assert [(r.version, r.status, r.definition["limit"]) for r in kept] == [(1, "published", 7)]


def test_a_dashboards_team_filter_narrows_every_data_set(session, teams):
    from backend.reports import dashboards

    approver = make_user(session, roles=["approver"])
    customer = make_customer(session, tier="key")
    for rep in ("rep1", "rep2"):
        order = make_order(session, owner=teams[rep], customer=customer)
        todo(session, order, approver, created=T)
        session.add(RuleFiring(rule_key="ds_team", rule_version=1, order_id=order.id, episode=1, trigger="scan",
                               fired_at=T))
    session.flush()
    team1 = session.get(type(teams["rep1"]), teams["rep1"].id).department_id
    extra = dashboards.filters_clause(session, dashboards.parse_filters({"team": str(team1)}))
    actor = load_actor(session, teams["admin"].id)
    for dataset, where in (("todos", {"==": [{"var": "assignee_id"}, approver.id]}),
                           ("firings", {"==": [{"var": "rule_key"}, "ds_team"]}),
                           ("customers", {"==": [{"var": "customer_id"}, customer.id]})):
        definition = {"dataset": dataset, "measures": [{"op": "count"}], "filter": where}
        assert service.run(session, actor=actor, definition=definition, now=NOW).rows == [[2 if dataset != "customers" else 1]]
        narrowed = service.run(session, actor=actor, definition=definition, now=NOW, extra=extra, extra_key=("team", team1))
        assert narrowed.rows == [[1]], dataset
    figures = service.run(session, actor=actor, now=NOW, extra=extra, extra_key=("team", team1), definition={
        "dataset": "customers", "measures": [{"op": "sum", "field": "order_count"}],
        "filter": {"==": [{"var": "customer_id"}, customer.id]}})
    assert figures.rows == [[1]]  # the customer's figures count team 1's order only


def test_api_pages_and_excel_of_a_todos_report(client, session):
    from io import BytesIO

    from openpyxl import load_workbook

    from tests.conftest import bearer, login

    admin = make_user(session, roles=["admin"])
    approver = make_user(session, roles=["approver"], display_name="=cmd|' /C calc'!A0")
    order = make_order(session, owner=admin)
    todo(session, order, approver, created=T)
    todo(session, order, approver, created=T, state="done", closed=T + timedelta(hours=3))
    session.commit()
    auth = {**bearer(client, admin.username), "Accept-Language": "en"}
    report = {"key": "ds_api_todos", "dataset": "todos", "dimensions": [{"field": "assignee_id"}],
              "measures": [{"op": "count"}, {"op": "avg", "field": "hours_to_done"}],
              "filter": {"==": [{"var": "assignee_id"}, approver.id]}}
    assert client.post("/api/v1/reports", json=report, headers=auth).status_code == 201
    assert client.post("/api/v1/reports/ds_api_todos/publish", headers=auth).status_code == 200
    ran = client.get("/api/v1/reports/ds_api_todos/run", headers=auth).json()
    assert ran["dataset"] == "todos" and ran["rows"] == [[approver.id, 2, 3.0]]
    drill = client.post("/api/v1/reports/drill", json={"definition": report, "cell": [approver.id], "key": "ds_api_todos"},
                        headers=auth).json()
    assert drill["url"].startswith("/reports/ds_api_todos/todos?")
    login(client, admin.username)
    page = client.get(drill["url"], headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "2 to-dos." in page.text and order.number in page.text
    zh = client.get(drill["url"], headers={"Accept-Language": "zh-CN"})
    assert "2 条待办。" in zh.text and "已完成" in zh.text
    designer = client.get("/designer/reports/ds_api_todos", headers={"Accept-Language": "en"})
    assert designer.status_code == 200 and '<option value="todos" selected>To-dos</option>' in designer.text
    xlsx = client.get("/reports/ds_api_todos/export.xlsx", headers={"Accept-Language": "en"})
    rows = list(load_workbook(BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert rows[0] == ("Assignee", "To-dos", "Average · Time to done (hours)")
    assert rows[1] == ("'=cmd|' /C calc'!A0", 2, 3)


class TestConversion:
    def test_distinct_orders_reaching_each_stage_two_teams(self, session, teams):
        """Rework (approval entered twice) counts the order once; rep2's orders never reach rep1's figures."""
        travel(session, owner=teams["rep1"], created=T,
               stages_hours=[("draft", 0), ("approval", 1), ("draft", 1), ("approval", 1), ("production", 2)])
        travel(session, owner=teams["rep1"], created=T, stages_hours=[("draft", 0), ("approval", 1)])
        travel(session, owner=teams["rep1"], created=T, stages_hours=[("draft", 0)])
        travel(session, owner=teams["rep2"], created=T, stages_hours=[("draft", 0), ("approval", 1), ("production", 1)])
        definition = {"dataset": "order_events", "dimensions": [{"field": "stage_to"}],
                      "measures": [{"op": "count_distinct", "field": "order.number"}, {"op": "count"}],
                      "filter": {"!!": [{"var": "stage_to"}]}, "sort": [{"by": "m0", "dir": "desc"}]}
        assert run(session, teams["rep1"], definition).rows == [["draft", 3, 4], ["approval", 2, 3],
                                                                 ["production", 1, 1]]
        assert run(session, teams["rep2"], definition).rows == [["approval", 1, 1], ["draft", 1, 1],
                                                                 ["production", 1, 1]]
        owners = run(session, teams["admin"], {"dimensions": [{"field": "stage"}],
                                               "measures": [{"op": "count_distinct", "field": "owner_id"}],
                                               "filter": {"in": [{"var": "owner_id"},
                                                                 [teams["rep1"].id, teams["rep2"].id]]}})
        assert owners.rows == [["approval", 1], ["draft", 1], ["production", 2]]

    @pytest.mark.parametrize("measure", [{"op": "count_distinct"}, {"op": "count_distinct", "field": "nope"},
                                         {"op": "count_distinct", "field": "stage_hours.approval"}])
    def test_a_distinct_count_needs_a_known_field(self, session, teams, measure):
        with pytest.raises(GendanError) as caught:
            run(session, teams["admin"], {"measures": [measure]})
        assert caught.value.code == "report.unknown_field"

    def test_the_day_one_funnel_counts_distinct_orders_and_replaces_the_shipped_one(self, session, teams):
        from backend.reports.dashboards import ensure_builtin
        from backend.reports.models import ReportDefinitionRow
        from backend.reports.service import LIFECYCLE
        from engine.reports.builtin import BUILTIN_REPORTS, SUPERSEDED

        travel(session, owner=teams["rep1"], created=T, stages_hours=[("draft", 0), ("approval", 1), ("draft", 1)])
        travel(session, owner=teams["rep1"], created=T, stages_hours=[("draft", 0)])
        funnel = next(r for r in BUILTIN_REPORTS if r["key"] == "day1_stage_funnel")
        assert funnel["view"] == {"type": "funnel", "conversion": True}
        assert run(session, teams["rep1"], funnel).rows == [["draft", 2], ["approval", 1]]
        ensure_builtin(session, NOW)
        for row in LIFECYCLE.versions(session, "day1_stage_funnel"):
            session.delete(row)
        session.flush()
        old = SUPERSEDED["day1_stage_funnel"][0]
        session.add(ReportDefinitionRow(key="day1_stage_funnel", version=1, status="published", definition=old,
                                        created_at=T, updated_at=T, published_at=T))
        session.flush()
        ensure_builtin(session, NOW)
        moved = sorted(LIFECYCLE.versions(session, "day1_stage_funnel"), key=lambda r: r.version)
        assert [(r.version, r.status) for r in moved] == [(1, "retired"), (2, "published")]
        assert moved[1].definition == funnel


class TestDeliveryAndAgeing:
    """The report-only order fields (engine/reports/order_fields.py): delivered at / on time, payment ageing."""

    def test_on_time_delivery_by_month_delivered_in_the_installations_zone_two_teams(self, session, teams):
        from datetime import date

        rep1, rep2 = teams["rep1"], teams["rep2"]
        # signed 16:30 UTC on Oct 31 is Nov 1, 00:30 in Shanghai: a day late for Oct 31, and a November delivery
        make_order(session, owner=rep1, signed_at=datetime(2026, 10, 31, 16, 30, tzinfo=UTC),
                   planned_delivery=date(2026, 10, 31))
        # 17:00 UTC on Nov 5 is Nov 6 in Shanghai: a day late
        make_order(session, owner=rep1, signed_at=datetime(2026, 11, 5, 17, 0, tzinfo=UTC), planned_delivery=date(2026, 11, 5))
        # not signed for: delivered when it first entered delivered (then completed later), on its planned day
        travel(session, owner=rep1, created=T, stages_hours=[("draft", 0), ("delivered", 24), ("completed", 24)],
               planned_delivery=date(2026, 11, 21))
        make_order(session, owner=rep1, signed_at=datetime(2026, 10, 10, 2, 0, tzinfo=UTC), planned_delivery=date(2026, 10, 9))
        travel(session, owner=rep1, created=T, stages_hours=[("draft", 0), ("production", 5)],
               planned_delivery=date(2026, 11, 1))  # not delivered: not counted
        make_order(session, owner=rep1, signed_at=datetime(2026, 11, 3, tzinfo=UTC))  # no plan: not judged
        make_order(session, owner=rep2, signed_at=datetime(2026, 11, 3, tzinfo=UTC), planned_delivery=date(2026, 11, 9))
        from engine.reports.builtin import BUILTIN_REPORTS

        trend = next(r for r in BUILTIN_REPORTS if r["key"] == "day1_on_time_trend")
        assert run(session, rep1, trend).rows == [["2026-10-01", 0.0, 1], ["2026-11-01", pytest.approx(1 / 3), 3]]
        assert run(session, rep2, trend).rows == [["2026-11-01", 1.0, 1]]
        late = run(session, rep1, {"dimensions": [{"field": "delivered_on_time"}],
                                   "filter": {"==": [{"var": "owner_id"}, rep1.id]}})
        assert {r[0]: r[1] for r in late.rows} == {None: 2, False: 3, True: 1}  # SQLite answers 0 / 1
        behind = service.drill_orders(session, actor=load_actor(session, rep1.id), definition=trend,
                                      cell=["2026-10-01"], now=NOW)
        assert [o.planned_delivery for o in behind] == [date(2026, 10, 9)]

    def test_payment_ageing_buckets_with_labels_in_both_languages(self, session, teams):
        from datetime import date

        from backend import i18n
        from engine.reports.builtin import BUILTIN_REPORTS

        rep1 = teams["rep1"]
        # NOW is Dec 1 in Shanghai: 1, 30, 31, 60, 61, 90, 91 days overdue; due today, later, or closed: not overdue
        for days, amount in ((1, 10), (30, 20), (31, 40), (60, 80), (61, 160), (90, 320), (91, 640), (0, 1), (-4, 1)):
            make_order(session, owner=rep1, amount=amount, status="open", payment_due=date(2026, 12, 1) - timedelta(days=days))
        make_order(session, owner=rep1, amount=1, status="completed", payment_due=date(2026, 1, 1))
        make_order(session, owner=teams["rep2"], amount=5, status="open", payment_due=date(2026, 1, 1))
        ageing = next(r for r in BUILTIN_REPORTS if r["key"] == "day1_payment_overdue")
        result = run(session, rep1, ageing)
        assert result.rows == [["0_30", 2, 30], ["31_60", 2, 120], ["61_90", 2, 480], ["90_plus", 1, 640]]
        assert result.labels[0] == {"0_30": "0–30 天", "31_60": "31–60 天", "61_90": "61–90 天", "90_plus": "90 天以上"}
        token = i18n.set_locale("en")
        try:
            english = service.value_labels(session, "payment_overdue_bucket", ["0_30", "90_plus"])
        finally:
            i18n.reset_locale(token)
        assert english == {"0_30": "0–30 days", "90_plus": "Over 90 days"}
        assert run(session, teams["rep2"], ageing).rows == [["90_plus", 1, 5]]

    def test_the_shipped_on_time_and_ageing_reports_replace_unchanged_old_ones(self, session):
        from backend.reports.dashboards import ensure_builtin
        from backend.reports.models import ReportDefinitionRow
        from backend.reports.service import LIFECYCLE
        from engine.reports.builtin import BUILTIN_REPORTS, SUPERSEDED

        ensure_builtin(session, NOW)
        for key in ("day1_on_time_trend", "day1_payment_overdue"):
            for row in LIFECYCLE.versions(session, key):
                session.delete(row)
            session.flush()
            session.add(ReportDefinitionRow(key=key, version=1, status="published", definition=SUPERSEDED[key][0],
                                            created_at=T, updated_at=T, published_at=T))
        session.flush()
        ensure_builtin(session, NOW)
        for key in ("day1_on_time_trend", "day1_payment_overdue"):
            moved = sorted(LIFECYCLE.versions(session, key), key=lambda r: r.version)
            assert [(r.version, r.status) for r in moved] == [(1, "retired"), (2, "published")]
            assert moved[1].definition == next(r for r in BUILTIN_REPORTS if r["key"] == key)
