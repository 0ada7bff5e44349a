"""Dashboards: the shipped day-one definitions run on both databases, sharing by role and
department, the reader's filters (date range, team, customer tier) on every tile, and a sales rep's
dashboard never counting another team's orders."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import bearer
from tests.factories.order_events import travel
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user

EN = {"Accept-Language": "en"}


def tile(client, auth, key, index, **params):
    answer = client.get(f"/api/v1/dashboards/{key}/tiles/{index}", params=params, headers={**auth, **EN})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_builtin_dashboard_tiles_all_run(client, session):
    admin = make_user(session, roles=["admin"])
    rep = make_user(session)
    travel(session, owner=rep, stages_hours=[("draft", 0), ("approval", 1)],
           planned_delivery=datetime(2026, 1, 5).date(), payment_due=datetime(2026, 1, 5).date())
    session.commit()
    auth = bearer(client, admin.username)
    listed = client.get("/api/v1/dashboards", headers=auth).json()
    board = next(d for d in listed if d["key"] == "day1_sales_director")
    assert len(board["definition"]["tiles"]) == 7
    for i in range(7):
        answer = tile(client, auth, "day1_sales_director", i)
        assert answer["result"]["rows"] is not None
    funnel = tile(client, auth, "day1_sales_director", 0)["result"]  # distinct orders that reached each stage
    assert ["approval", 1] in funnel["rows"] and ["draft", 1] in funnel["rows"]
    ageing = tile(client, auth, "day1_sales_director", 4)["result"]  # due 2026-01-05: over 90 days by now
    assert ageing["dimensions"][0]["field"] == "payment_overdue_bucket"
    assert ageing["labels"][0]["90_plus"] == "Over 90 days"


def test_sharing_filters_and_two_teams(client, session):
    designer = make_user(session, roles=["designer", "admin"])
    head_a, head_b = make_user(session), make_user(session)
    team_a, team_b = make_department(session, head=head_a), make_department(session, head=head_b)
    rep_a, rep_b = make_user(session, department=team_a), make_user(session, department=team_b)
    finance = make_user(session, roles=["finance"])
    key_customer = make_customer(session, tier="key")
    small = make_customer(session, tier="small")
    make_order(session, owner=rep_a, customer=key_customer, at=datetime(2026, 3, 5, tzinfo=UTC))
    make_order(session, owner=rep_a, customer=small, at=datetime(2026, 4, 5, tzinfo=UTC))
    for _ in range(4):
        make_order(session, owner=rep_b, customer=small, at=datetime(2026, 4, 6, tzinfo=UTC))
    session.commit()
    auth = bearer(client, designer.username)
    report = {"key": "db_by_owner", "dimensions": [{"field": "owner_id"}], "measures": [{"op": "count"}]}
    assert client.post("/api/v1/reports", json=report, headers=auth).status_code == 201
    assert client.post("/api/v1/reports/db_by_owner/publish", headers=auth).status_code == 200
    board = {"key": "db_team_board", "name": {"en": "Teams"}, "tiles": [{"report": "db_by_owner", "w": 6, "h": 4}],
             "shared_with": {"roles": ["sales"], "departments": []}}
    assert client.post("/api/v1/dashboards", json=board, headers=auth).status_code == 201

    counts = lambda answer: {r[0]: r[1] for r in answer["result"]["rows"]}  # noqa: E731
    everyone = counts(tile(client, auth, "db_team_board", 0))
    assert everyone[rep_a.id] == 2 and everyone[rep_b.id] == 4
    assert counts(tile(client, auth, "db_team_board", 0, team=team_a.id)) == {rep_a.id: 2}
    assert counts(tile(client, auth, "db_team_board", 0, tier="key")) == {rep_a.id: 1}
    assert counts(tile(client, auth, "db_team_board", 0, **{"from": "2026-04-01", "to": "2026-04-05"})) == {rep_a.id: 1}
    # a rep sees the shared dashboard, counting only what they may see
    rep_auth = bearer(client, rep_a.username)
    assert counts(tile(client, rep_auth, "db_team_board", 0)) == {rep_a.id: 2}
    assert counts(tile(client, rep_auth, "db_team_board", 0, team=team_b.id)) == {}
    assert counts(tile(client, bearer(client, head_b.username), "db_team_board", 0)) == {rep_b.id: 4}
    # not shared with finance: 404, no figures
    assert client.get("/api/v1/dashboards/db_team_board/tiles/0", headers=bearer(client, finance.username)).status_code == 404
    bad = client.get("/api/v1/dashboards/db_team_board/tiles/0", params={"tier": "gold"}, headers={**auth, **EN})
    assert bad.status_code == 422 and "tier" in bad.json()["error"]["message"]
    # only designers arrange dashboards
    assert client.post("/api/v1/dashboards", json=board, headers=rep_auth).status_code == 403


def test_the_orders_behind_a_tile_keep_the_dashboard_filters(client, session):
    from tests.conftest import login

    admin = make_user(session, roles=["admin"])
    head_a, head_b = make_user(session), make_user(session)
    team_a = make_department(session, head=head_a)
    make_department(session, head=head_b)
    mine = make_order(session, owner=head_a, at=datetime(2026, 4, 5, tzinfo=UTC))
    make_order(session, owner=head_b, at=datetime(2026, 4, 5, tzinfo=UTC))
    session.commit()
    auth = bearer(client, admin.username)
    plain = {"dimensions": [{"field": "created_at", "bucket": "month"}], "measures": [{"op": "count"}]}
    assert client.post("/api/v1/reports/drill", json={"definition": plain, "cell": ["2026-04-01"]},
                       headers=auth).json()["url"].startswith("/orders?created_from=2026-04-01")
    url = client.post("/api/v1/reports/drill", json={"definition": plain, "cell": ["2026-04-01"],
                                                      "filters": {"team": str(team_a.id)}}, headers=auth).json()["url"]
    assert url.startswith("/reports/orders?") and f"team={team_a.id}" in url
    login(client, admin.username)
    page = client.get(url, headers=EN).text
    assert "1 order." in page and mine.number in page
