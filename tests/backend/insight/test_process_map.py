"""The process map over a real database (SQLite and PostgreSQL): counts and waits from the event
log, row-level access (each rep counts only their orders), filters, bad input, the truncation note."""

from __future__ import annotations

from datetime import timedelta

from backend.auth.service import load_actor
from backend.insight import process_map as service
from tests.conftest import login
from tests.factories.order_events import travel
from tests.factories.orders import T0, make_customer
from tests.factories.people import make_user

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def row(page: str, edge: str) -> str:
    start = page.index(f'<tr data-edge="{edge}">')
    return page[start:page.index("</tr>", start)]


def test_counts_waits_loops_and_access(client, session):
    manager = make_user(session, roles=["admin"], display_name="PM Manager")
    rep1 = make_user(session, roles=["sales"], display_name="PM Rep One")
    rep2 = make_user(session, roles=["sales"], display_name="PM Rep Two")
    for hours in (24, 48, 72):  # rep1: draft → approval after 1, 2, 3 days, then production 3 h later
        travel(session, owner=rep1, stages_hours=[("draft", 0), ("approval", hours), ("production", 3)])
    # rep2: sent back once (approval → draft, a rework loop), and a replayed history event counts the same
    travel(session, owner=rep2, stages_hours=[("draft", 0), ("approval", 12), ("draft", 2), ("approval", 5)])
    travel(session, owner=rep2, stages_hours=[("draft", 0), ("production", 6)], event_type="history")
    session.commit()

    login(client, manager.username)
    page = client.get("/dashboard/process-map", headers=EN).text
    assert "5 orders" in page
    assert "<td data-label=\"Orders\" class=\"num pm-count\">5</td>" in row(page, "draft-approval")
    # waits 5, 12, 24, 48, 72 h: median 24 h, p90 48 + 0.6 × 24 = 62.4 h
    assert 'class="num pm-median">1 d</td>' in row(page, "draft-approval")
    assert 'class="num pm-p90">2.6 d</td>' in row(page, "draft-approval")
    assert "Rework loop, not in the flow" in row(page, "approval-draft")
    assert "Skips a step, not in the flow" in row(page, "draft-production")
    assert 'class="pm-edge loop' in page

    # each rep sees only their own orders' transitions
    login(client, rep1.username)
    mine = client.get("/dashboard/process-map", headers=EN).text
    assert "3 orders" in mine and 'data-edge="approval-draft"' not in mine
    assert "3 h" in row(mine, "approval-production")
    login(client, rep2.username)
    theirs = client.get("/dashboard/process-map", headers=EN).text
    assert "2 orders" in theirs and 'data-edge="approval-production"' not in theirs
    assert ">2</td>" in row(theirs, "draft-approval")


def test_filters_by_owner_customer_and_dates(client, session):
    manager = make_user(session, roles=["admin"])
    rep = make_user(session, roles=["sales"])
    other = make_user(session, roles=["sales"])
    acme = make_customer(session, name="PM Acme")
    travel(session, owner=rep, customer=acme, stages_hours=[("draft", 0), ("approval", 1)])
    travel(session, owner=other, stages_hours=[("draft", 0), ("approval", 1)], created=T0 + timedelta(days=40))
    session.commit()
    login(client, manager.username)
    get = lambda **p: client.get("/dashboard/process-map", params=p, headers=EN).text  # noqa: E731
    assert "2 orders" in get()
    assert "1 order<" in get(owner=rep.id) or "1 order " in get(owner=rep.id)
    assert "1 order" in get(customer=acme.id) and "2 orders" not in get(customer=acme.id)
    later = get(created_from=(T0 + timedelta(days=30)).date().isoformat())
    assert "1 order" in later and "2 orders" not in later
    assert "0 orders" in get(created_to=(T0 - timedelta(days=1)).date().isoformat())
    bad = client.get("/dashboard/process-map", params={"created_from": "nope", "owner": "x"}, headers=EN)
    assert bad.status_code == 200 and "Not a date: nope" in bad.text and "2 orders" in bad.text


def test_chinese_durations_and_labels(client, session):
    manager = make_user(session, roles=["admin"])
    travel(session, owner=manager, stages_hours=[("draft", 0), ("approval", 60)])
    session.commit()
    login(client, manager.username)
    page = client.get("/dashboard/process-map", headers=ZH).text
    assert "实际流程图" in page
    assert "2.5 天" in row(page, "draft-approval")


def test_cap_says_when_it_cut_the_orders(session, monkeypatch):
    manager = make_user(session, roles=["admin"])
    travel(session, owner=manager, stages_hours=[("draft", 0), ("production", 1)])  # the oldest: cut
    for _ in range(2):
        travel(session, owner=manager, stages_hours=[("draft", 0), ("approval", 1)])
    monkeypatch.setattr(service, "MAX_ORDERS", 2)
    result = service.build(session, actor=load_actor(session, manager.id), filters=service.MapFilter())
    assert result.truncated and result.map.orders == 2
    assert [(e.source, e.target, e.count) for e in result.map.edges] == [("draft", "approval", 2)]


def test_the_published_flow_is_the_drawing(session, now):
    from backend.flows import service as flows

    admin = make_user(session, roles=["admin"])
    actor = load_actor(session, admin.id)
    flows.install_template(session, actor=actor, key="pm_b2b", template="b2b_fulfilment", now=now)
    flows.publish_flow(session, actor=actor, key="pm_b2b", now=now)
    travel(session, owner=admin, stages_hours=[("draft", 0), ("approval", 1), ("production", 2)])
    result = service.build(session, actor=actor, filters=service.MapFilter())
    assert ("pm_b2b", 1) in result.drawn_from
    assert result.drawn.order[:3] == ("draft", "approval", "tech_confirm")
    kinds = {(e.source, e.target): e.kind for e in result.map.edges}
    assert kinds == {("draft", "approval"): "drawn", ("approval", "production"): "skip"}
