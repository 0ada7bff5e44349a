"""The stage funnel counted from the orders' stage bits (engine/reports/funnel.py) says exactly what
the order events data set says — per stage, the distinct orders that entered it — for two teams,
with order conditions and dashboard filters, and falls back to the events when an order entered a
stage without a bit; a click on a bar lists the orders that entered that stage."""

from __future__ import annotations

from datetime import date

import pytest

from backend.auth.service import load_actor
from backend.orders.models import Order
from backend.reports import service
from backend.rules.context import catalogue_for
from engine.reports.builtin import BUILTIN_REPORTS
from engine.reports.funnel import is_funnel
from tests.backend.reports.test_datasets import NOW, T
from tests.factories.order_events import travel

FUNNEL = next(r for r in BUILTIN_REPORTS if r["key"] == "day1_stage_funnel")
BY_EVENTS = "by the events"


def _both(session, user, definition, monkeypatch, extra=None):
    """(the funnel's rows, the same report's rows through the order events data set)."""
    actor = load_actor(session, user.id)
    fast = service.run(session, actor=actor, definition=definition, now=NOW, extra=extra).rows
    with monkeypatch.context() as patched:
        patched.setattr(service, "compile_funnel", lambda *a, **k: None)
        slow = service.run(session, actor=actor, definition=definition, now=NOW, extra=extra,
                           extra_key=BY_EVENTS).rows
    return fast, slow


@pytest.fixture
def orders(session, teams):  # noqa: F811
    rep1, rep2 = teams["rep1"], teams["rep2"]
    travel(session, owner=rep1, created=T, planned_delivery=date(2026, 12, 24),
           stages_hours=[("draft", 0), ("approval", 1), ("draft", 1), ("approval", 1), ("production", 2)])  # rework
    travel(session, owner=rep1, created=T, stages_hours=[("draft", 0), ("approval", 1), ("delivered", 3)])
    travel(session, owner=rep1, created=T, stages_hours=[("production", 0), ("shipping", 5)])  # created later on
    travel(session, owner=rep1, created=T, stages_hours=[("draft", 0)], status="cancelled")
    travel(session, owner=rep2, created=T, stages_hours=[("draft", 0), ("approval", 1), ("production", 1)])
    return teams


def test_the_funnel_counts_what_the_events_count_for_each_reader(session, orders, monkeypatch):
    definition = service.parse(FUNNEL, catalogue_for(session))
    assert is_funnel(definition)
    fast, slow = _both(session, orders["rep1"], FUNNEL, monkeypatch)
    # a conversion funnel reads in the flow's stage order (engine/reports/funnel_order.py)
    assert fast == slow == [["draft", 3], ["approval", 2], ["production", 2], ["shipping", 1], ["delivered", 1]]
    assert _both(session, orders["rep2"], FUNNEL, monkeypatch) == ([["draft", 1], ["approval", 1], ["production", 1]],) * 2
    fast, slow = _both(session, orders["admin"], FUNNEL, monkeypatch)
    assert fast == slow and fast[0] == ["draft", 4]


def test_order_conditions_and_dashboard_filters_narrow_the_orders(session, orders, monkeypatch):
    narrowed = {**FUNNEL, "filter": {"and": [{"!!": [{"var": "stage_to"}]},
                                             {"!=": [{"var": "order.status"}, "cancelled"]}]},
                "sort": [{"by": "d0", "dir": "asc"}]}
    assert is_funnel(service.parse(narrowed, catalogue_for(session)))
    fast, slow = _both(session, orders["rep1"], narrowed, monkeypatch)
    # the conversion funnel keeps the flow's stage order whatever the sort says
    assert fast == slow == [["draft", 2], ["approval", 2], ["production", 2], ["shipping", 1], ["delivered", 1]]
    planned = Order.planned_delivery.is_not(None)  # as a dashboard filter narrows the orders
    fast, slow = _both(session, orders["rep1"], FUNNEL, monkeypatch, extra=planned)
    assert fast == slow == [["draft", 1], ["approval", 1], ["production", 1]]


def test_a_stage_without_a_bit_is_counted_from_the_events(session, orders, monkeypatch):
    travel(session, owner=orders["rep1"], created=T, stages_hours=[("draft", 0), ("qa_hold", 2)])
    fast, slow = _both(session, orders["rep1"], FUNNEL, monkeypatch)
    assert fast == slow and ["qa_hold", 1] in fast and fast[0] == ["draft", 4]


def test_a_bar_opens_the_orders_that_entered_its_stage(session, orders):
    actor = load_actor(session, orders["rep1"].id)
    behind = service.drill_orders(session, actor=actor, definition=FUNNEL, cell=["approval"], now=NOW)
    assert sorted(o.stage for o in behind) == ["delivered", "production"]
    shipping = service.drill_orders(session, actor=actor, definition=FUNNEL, cell=["shipping"], now=NOW)
    assert [o.stage for o in shipping] == ["shipping"]
    other = service.drill_orders(session, actor=load_actor(session, orders["rep2"].id), definition=FUNNEL,
                                 cell=["shipping"], now=NOW)
    assert other == []  # rep2's team never shipped


def test_a_designed_order_field_narrows_the_funnel_as_it_narrows_the_events(session, teams, monkeypatch):  # noqa: F811
    from tests.backend.reports.test_dataset_joins import region_form

    region_form(session)
    for region, path in (("north", [("draft", 0), ("approval", 1)]), ("south", [("draft", 0)]),
                         ("north", [("draft", 0), ("approval", 1), ("production", 2)])):
        travel(session, owner=teams["rep1"], created=T, stages_hours=path, data={"region": region})
    north = {**FUNNEL, "filter": {"and": [{"!!": [{"var": "stage_to"}]},
                                          {"==": [{"var": "order.data.region"}, "north"]}]}}
    assert is_funnel(service.parse(north, catalogue_for(session)))
    fast, slow = _both(session, teams["rep1"], north, monkeypatch)
    assert fast == slow == [["draft", 2], ["approval", 2], ["production", 1]]


def _two_stage_flow(first: str, then: str) -> dict:
    return {"key": "rfo_order", "nodes": [{"type": "start", "key": "start", "stage": first},
                                          {"type": "end", "key": "end", "stage": then}],
            "edges": [{"key": "e1", "source": "start", "target": "end"}]}


def test_the_flow_order_is_read_from_the_cache_until_a_new_version_is_published(session, orders, monkeypatch):
    from backend.flows import service as flows
    from backend.insight import process_map

    designer = load_actor(session, orders["admin"].id)  # an admin designs too
    parsed = []
    real = process_map.load_definition
    monkeypatch.setattr(process_map, "load_definition", lambda d: parsed.append(d) or real(d))

    def publish(first, then):
        flows.save_draft(session, actor=designer, key="rfo_order", definition=_two_stage_flow(first, then), now=NOW)
        flows.publish_flow(session, actor=designer, key="rfo_order", now=NOW)

    def stages():
        rows = service.run(session, actor=designer, definition=FUNNEL, now=NOW).rows
        return [r[0] for r in rows if r[0] in ("draft", "production")]

    publish("production", "draft")
    assert stages() == ["production", "draft"]
    assert len(parsed) == 1
    assert stages() == ["production", "draft"]
    assert len(parsed) == 1  # the second run reads the published versions, not the flows
    publish("draft", "production")  # version 2: the order changes
    assert stages() == ["draft", "production"]
    assert len(parsed) == 2
