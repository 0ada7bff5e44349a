"""Issue 16's gaps in the data sets, on SQLite and PostgreSQL: the order's designed and core fields in
line items, to-dos, order events and firings (row-level access with two teams still applied); to-dos
without an order; a to-dos / firings report fresh right after a to-do is closed or a firing written
(the cache's data version); a conversion funnel's stages in the flow's order."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from backend.auth.service import load_actor
from backend.forms.models import FormDefinitionRow
from backend.inbox.models import InboxItem
from backend.reports import dashboards, service
from backend.rules.models import RuleFiring
from tests.factories.order_events import travel
from tests.factories.orders import make_order
from tests.factories.people import make_user

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
T = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
_seq = itertools.count(1)


def run(session, user, definition, **kw):
    return service.run(session, actor=load_actor(session, user.id), definition=definition, now=NOW, **kw)


def todo(session, order, assignee, *, state="open", closed=None):
    item = InboxItem(dedupe_key=f"rui-todo-{next(_seq)}", order_id=order.id if order else None,
                     assignee_id=assignee.id, kind="task", title="Call back", state=state, created_at=T,
                     closed_at=closed)
    session.add(item)
    session.flush()
    return item


def region_form(session):
    """A published form with a designed select field `region` and a line-items field."""
    session.add(FormDefinitionRow(key="rui_form", version=1, status="published", created_at=T, updated_at=T,
                                  definition={"key": "rui_form", "fields": [
                                      {"key": "region", "type": "single_select", "label": {"en": "Region", "zh-CN": "区域"},
                                       "options": [{"value": "north"}, {"value": "south"}]},
                                      {"key": "lines", "type": "line_items", "columns": [
                                          {"key": "product", "type": "text"}, {"key": "quantity", "type": "number"}]}]}))
    session.flush()


class TestOrderFieldsInOtherDataSets:
    def test_designed_field_groups_and_filters_every_data_set_two_teams(self, session, teams):
        region_form(session)
        approver = make_user(session, roles=["approver"])
        orders = []
        for rep, region in (("rep1", "north"), ("rep1", "south"), ("rep2", "north")):
            order = travel(session, owner=teams[rep], created=T, stages_hours=[("draft", 0), ("approval", 2)],
                           data={"region": region, "lines": [{"product": "RUI-P", "quantity": 2}]})
            todo(session, order, approver)
            session.add(RuleFiring(rule_key="rui_rule", rule_version=1, order_id=order.id, episode=1, trigger="scan",
                                   fired_at=T))
            orders.append(order)
        session.flush()
        mine = {"in": [{"var": "order.number"}, [o.number for o in orders]]}
        for dataset in ("todos", "order_events", "firings", "line_items"):
            extra = {"==": [{"var": "stage_to"}, "approval"]} if dataset == "order_events" else None
            definition = {"dataset": dataset, "dimensions": [{"field": "order.data.region"}],
                          "measures": [{"op": "count"}], "filter": {"and": [mine] + ([extra] if extra else [])}}
            assert run(session, teams["admin"], definition).rows == [["north", 2], ["south", 1]], dataset
            assert run(session, teams["rep1"], definition).rows == [["north", 1], ["south", 1]], dataset
            assert run(session, teams["head2"], definition).rows == [["north", 1]], dataset
            # a filter on the designed field narrows (and still only the reader's orders)
            north = {**definition, "dimensions": [], "filter": {"and": definition["filter"]["and"] + [
                {"==": [{"var": "order.data.region"}, "north"]}]}}
            assert run(session, teams["rep1"], north).rows == [[1]], dataset
            assert run(session, teams["admin"], north).rows == [[2]], dataset

    def test_core_order_fields_ride_along(self, session, teams):
        due = T.date() + timedelta(days=30)
        order = travel(session, owner=teams["rep1"], created=T, stages_hours=[("draft", 0), ("approval", 2)],
                       payment_due=due, source="import", external_id="RUI-EXT-1")
        other = travel(session, owner=teams["rep1"], created=T, stages_hours=[("draft", 0)], source="manual")
        definition = {"dataset": "order_events", "dimensions": [{"field": "order.source"},
                                                               {"field": "order.payment_due", "bucket": "month"}],
                      "measures": [{"op": "count_distinct", "field": "order.external_id"}, {"op": "count"}],
                      "filter": {"in": [{"var": "order.number"}, [order.number, other.number]]}}
        rows = run(session, teams["rep1"], definition).rows
        assert rows == [["import", due.replace(day=1).isoformat(), 1, 3], ["manual", None, 0, 1]]
        assert run(session, teams["rep2"], definition).rows == []

    def test_the_designer_lists_the_orders_designed_fields(self, client, session):
        from tests.conftest import login

        region_form(session)
        admin = make_user(session, roles=["admin"])
        session.commit()
        login(client, admin.username)
        page = client.get("/designer/reports/new?dataset=todos", headers={"Accept-Language": "en"})
        assert page.status_code == 200
        assert '"name": "order.data.region"' in page.text and "Order: Region" in page.text
        assert "s share of the stage before" in page.text and "Distinct count" in page.text
        zh = client.get("/designer/reports/new?dataset=todos", headers={"Accept-Language": "zh-CN"})
        assert "转化：各阶段占上一阶段的比例" in zh.text
        for word in ("订单·区域", "去重计数"):  # in the page's JSON (escaped) for the script
            assert word in zh.text or json.dumps(word)[1:-1] in zh.text, word


class TestTodosWithoutAnOrder:
    def test_counted_for_whom_they_belong_to_with_empty_order_fields(self, session, teams):
        order = make_order(session, owner=teams["rep1"])
        todo(session, order, teams["rep1"])
        todo(session, None, teams["rep1"])  # no order: rep1's own to-do
        theirs = todo(session, None, teams["rep2"])
        done = todo(session, None, teams["rep2"], state="done", closed=T + timedelta(hours=5))
        ids = [teams["rep1"].id, teams["rep2"].id]
        definition = {"dataset": "todos", "dimensions": [{"field": "assignee_id"}, {"field": "order.number"}],
                      "measures": [{"op": "count"}], "filter": {"in": [{"var": "assignee_id"}, ids]}}
        by_admin = run(session, teams["admin"], definition).rows
        assert sorted(by_admin, key=repr) == sorted([[teams["rep1"].id, None, 1], [teams["rep1"].id, order.number, 1],
                                                     [teams["rep2"].id, None, 2]], key=repr)
        assert sorted(run(session, teams["rep1"], definition).rows, key=repr) == sorted(
            [[teams["rep1"].id, None, 1], [teams["rep1"].id, order.number, 1]], key=repr)
        assert run(session, teams["rep2"], definition).rows == [[teams["rep2"].id, None, 2]]
        assert run(session, teams["head2"], definition).rows == [[teams["rep2"].id, None, 2]]  # their team's
        # a filter on the order's fields leaves them out (they have no order)
        on_orders = {**definition, "filter": {"and": [definition["filter"], {"!!": [{"var": "order.number"}]}]}}
        assert run(session, teams["admin"], on_orders).rows == [[teams["rep1"].id, order.number, 1]]
        # a dashboard's filters choose orders: these have none
        extra = dashboards.filters_clause(session, dashboards.parse_filters({"from": "2000-01-01"}))
        narrowed = run(session, teams["admin"], definition, extra=extra, extra_key=("from",))
        assert narrowed.rows == [[teams["rep1"].id, order.number, 1]]
        # the drill lists them, the reader's only
        listed = service.drill_todos(session, actor=load_actor(session, teams["rep2"].id), definition=definition,
                                     cell=[teams["rep2"].id, None], now=NOW)
        assert sorted(item.id for item, _number in listed) == sorted([done.id, theirs.id])
        assert all(number is None and item.assignee_id == teams["rep2"].id for item, number in listed)
        assert service.drill_todos(session, actor=load_actor(session, teams["rep1"].id), definition=definition,
                                   cell=[teams["rep2"].id, None], now=NOW) == []

    def test_drill_page_says_no_order(self, client, session):
        from tests.conftest import login

        admin = make_user(session, roles=["admin"])
        todo(session, None, admin)
        session.commit()
        login(client, admin.username)

        definition = {"dataset": "todos", "dimensions": [{"field": "assignee_id"}],
                      "filter": {"==": [{"var": "assignee_id"}, admin.id]}}
        url = f"/reports/todos?definition={quote(json.dumps(definition))}&cell={quote(json.dumps([admin.id]))}"
        page = client.get(url, headers={"Accept-Language": "en"})
        assert page.status_code == 200 and "1 to-do." in page.text and "No order" in page.text
        zh = client.get(url, headers={"Accept-Language": "zh-CN"})
        assert "无订单" in zh.text


class TestFreshAfterAChange:
    def test_closing_a_todo_and_writing_a_firing_move_the_data_version(self, session, teams):
        order = make_order(session, owner=teams["rep1"])
        item = todo(session, order, teams["rep1"])
        open_todos = {"dataset": "todos", "measures": [{"op": "count"}],
                      "filter": {"and": [{"==": [{"var": "assignee_id"}, teams["rep1"].id]},
                                         {"==": [{"var": "is_open"}, True]}]}}
        assert run(session, teams["rep1"], open_todos).rows == [[1]]
        item.state, item.closed_at = "done", NOW  # closed without any order event, within the same minute
        session.flush()
        assert run(session, teams["rep1"], open_todos).rows == [[0]]
        firings = {"dataset": "firings", "measures": [{"op": "count"}],
                   "filter": {"==": [{"var": "rule_key"}, "rui_fresh"]}}
        assert run(session, teams["rep1"], firings).rows == [[0]]
        session.add(RuleFiring(rule_key="rui_fresh", rule_version=1, order_id=order.id, episode=1, trigger="scan",
                               fired_at=NOW))
        session.flush()
        assert run(session, teams["rep1"], firings).rows == [[1]]

    def test_an_unchanged_report_is_served_from_the_cache(self, session, teams):
        order = make_order(session, owner=teams["rep1"])
        todo(session, order, teams["rep1"])
        definition = {"dataset": "todos", "measures": [{"op": "count"}],
                      "filter": {"==": [{"var": "assignee_id"}, teams["rep1"].id]}}
        first = run(session, teams["rep1"], definition)
        assert run(session, teams["rep1"], definition) is first


class TestConversionFunnelOrder:
    FUNNEL = {"dataset": "order_events", "dimensions": [{"field": "stage_to"}],
              "measures": [{"op": "count_distinct", "field": "order.number"}],
              "sort": [{"by": "m0", "dir": "desc"}], "view": {"type": "funnel", "conversion": True}}

    def _orders(self, session, owner):
        # 4 drafts; 2 go through approval; 3 reach production (one skips approval); one is rejected
        paths = [[("draft", 0), ("approval", 1), ("production", 1)], [("draft", 0), ("approval", 1), ("production", 1)],
                 [("draft", 0), ("production", 1)], [("draft", 0), ("rejected", 1)]]
        return [travel(session, owner=owner, created=T, stages_hours=p) for p in paths]

    def test_stages_in_the_flows_order_not_by_count(self, session, teams):
        orders = self._orders(session, teams["rep1"])
        funnel = {**self.FUNNEL, "filter": {"and": [{"!!": [{"var": "stage_to"}]},
                                                    {"in": [{"var": "order.number"}, [o.number for o in orders]]}]}}
        result = run(session, teams["rep1"], funnel)
        assert result.rows == [["draft", 4], ["approval", 2], ["production", 3], ["rejected", 1]]
        assert result.flow_order is True and result.as_json()["flow_order"] is True
        assert run(session, teams["rep2"], funnel).rows == []  # another team's orders stay out
        # without the conversion option the report's own sort holds
        plain = run(session, teams["rep1"], {**funnel, "view": {"type": "funnel"}})
        assert plain.rows == [["draft", 4], ["production", 3], ["approval", 2], ["rejected", 1]]
        assert plain.flow_order is False

    def test_a_published_flow_sets_the_order(self, session, teams, now):
        from backend.flows import service as flows

        actor = load_actor(session, teams["admin"].id)
        flows.install_template(session, actor=actor, key="rui_b2b", template="b2b_fulfilment", now=now)
        flows.publish_flow(session, actor=actor, key="rui_b2b", now=now)
        orders = [travel(session, owner=teams["rep1"], created=T, stages_hours=p)
                  for p in ([("draft", 0), ("tech_confirm", 1)], [("draft", 0), ("approval", 1), ("tech_confirm", 1)])]
        funnel = {**self.FUNNEL, "filter": {"and": [{"!!": [{"var": "stage_to"}]},
                                                    {"in": [{"var": "order.number"}, [o.number for o in orders]]}]}}
        rows = run(session, teams["admin"], funnel).rows
        assert rows == [["draft", 2], ["approval", 1], ["tech_confirm", 2]]
