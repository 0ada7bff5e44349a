"""The process map cache over a real database (SQLite and PostgreSQL): a repeated view is not
recomputed, a new stage change or order invalidates it, scopes and filters never share an entry."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import select

from backend.auth.service import load_actor
from backend.insight import process_map as service
from backend.insight.map_cache import LruCache
from backend.orders.models import OrderEvent
from tests.conftest import login
from tests.factories.order_events import travel
from tests.factories.people import make_user

EN = {"Accept-Language": "en"}


def test_second_view_is_served_from_the_cache_and_a_new_event_invalidates(session):
    admin = make_user(session, roles=["admin"])
    actor = load_actor(session, admin.id)
    travel(session, owner=admin, stages_hours=[("draft", 0), ("approval", 1)])
    first = service.build(session, actor=actor, filters=service.MapFilter())
    assert (service.CACHE.misses, service.CACHE.hits) == (1, 0)
    again = service.build(session, actor=actor, filters=service.MapFilter())
    assert again is first and (service.CACHE.misses, service.CACHE.hits) == (1, 1)

    # one more stage change on a new order: the data version moves, the map is rebuilt
    travel(session, owner=admin, stages_hours=[("draft", 0), ("approval", 2), ("production", 1)])
    fresh = service.build(session, actor=actor, filters=service.MapFilter())
    assert service.CACHE.misses == 2
    assert {(e.source, e.target): e.count for e in fresh.map.edges} == {("draft", "approval"): 2,
                                                                        ("approval", "production"): 1}


def test_a_stage_change_on_an_existing_order_invalidates(client, session):
    admin = make_user(session, roles=["admin"])
    order = travel(session, owner=admin, stages_hours=[("draft", 0), ("approval", 1)])
    session.commit()
    login(client, admin.username)
    assert 'data-edge="approval-production"' not in client.get("/dashboard/process-map", headers=EN).text
    client.get("/dashboard/process-map", headers=EN)
    assert service.CACHE.hits == 1
    # the same order moves on: no new order, only a new event
    last = max(session.exec(select(OrderEvent.at).where(OrderEvent.order_id == order.id)).all())
    session.add(OrderEvent(order_id=order.id, type="stage_entered", at=last + timedelta(hours=3),
                           before={"stage": "approval"}, after={"stage": "production"}))
    session.commit()
    page = client.get("/dashboard/process-map", headers=EN).text
    assert 'data-edge="approval-production"' in page and service.CACHE.misses == 2


def test_reps_with_different_scopes_never_share_a_cached_map(client, session):
    rep1 = make_user(session, roles=["sales"])
    rep2 = make_user(session, roles=["sales"])
    for _ in range(3):
        travel(session, owner=rep1, stages_hours=[("draft", 0), ("approval", 1)])
    travel(session, owner=rep2, stages_hours=[("draft", 0), ("approval", 1)])
    session.commit()
    login(client, rep1.username)
    assert "3 orders" in client.get("/dashboard/process-map", headers=EN).text
    assert "3 orders" in client.get("/dashboard/process-map", headers=EN).text  # cached for rep1
    login(client, rep2.username)
    theirs = client.get("/dashboard/process-map", headers=EN).text
    assert "1 order" in theirs and "3 orders" not in theirs
    assert (service.CACHE.misses, service.CACHE.hits) == (2, 1)
    login(client, rep1.username)
    assert "3 orders" in client.get("/dashboard/process-map", headers=EN).text
    assert service.CACHE.hits == 2


def test_different_filters_are_different_entries(session):
    admin = make_user(session, roles=["admin"])
    rep = make_user(session, roles=["sales"])
    actor = load_actor(session, admin.id)
    travel(session, owner=rep, stages_hours=[("draft", 0), ("approval", 1)])
    travel(session, owner=admin, stages_hours=[("draft", 0), ("production", 1)])
    everyone = service.build(session, actor=actor, filters=service.MapFilter())
    reps = service.build(session, actor=actor, filters=service.MapFilter(owner_id=rep.id))
    assert service.CACHE.misses == 2 and len(service.CACHE) == 2
    assert everyone.map.orders == 2 and reps.map.orders == 1
    assert service.build(session, actor=actor, filters=service.MapFilter(owner_id=rep.id)) is reps


def test_the_lru_is_bounded_and_thread_safe():
    cache: LruCache[int] = LruCache(4)
    for i in range(10):
        cache.get_or_compute(i, lambda i=i: i * i)
    assert len(cache) == 4 and cache.get_or_compute(9, lambda: -1) == 81 and cache.get_or_compute(0, lambda: -1) == -1
    cache.clear()

    def hammer(n: int) -> None:
        for i in range(500):
            assert cache.get_or_compute((n + i) % 7, lambda i=i: (n + i) % 7) == (n + i) % 7

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(cache) == 4 and cache.hits + cache.misses == 2000
