"""A new dashboard kept up by its designer: renamed (a blank or too long name refused in the
reader's language), a tile exported to Excel with the dashboard's filters and the reader's access,
and deleted (gone for every reader, its schedules with it, its key never handed out again)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import select

from backend.reports.models import DashboardDefinitionRow, ReportSchedule
from tests.conftest import bearer, login
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user

EN, ZH = {"Accept-Language": "en"}, {"Accept-Language": "zh-CN"}


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _board(client, session):
    """A designer, two teams with orders, a published report by owner, and a dashboard of it shared
    with sales."""
    designer = make_user(session, roles=["designer", "viewer"], locale="en")
    head_a, head_b = make_user(session, display_name="Head A"), make_user(session, display_name="Head B")
    team_a, team_b = make_department(session, head=head_a), make_department(session, head=head_b)
    rep_a = make_user(session, department=team_a, display_name="Rep A", locale="en")
    rep_b = make_user(session, department=team_b, display_name="Rep B", locale="zh_CN")
    for owner, n in ((rep_a, 2), (head_a, 1), (rep_b, 3)):
        for _ in range(n):
            make_order(session, owner=owner, at=datetime(2026, 4, 5, tzinfo=UTC))
    session.commit()
    auth = bearer(client, designer.username)
    report = {"key": "dm_by_owner", "name": {"en": "By owner", "zh": "按负责人"},
              "dimensions": [{"field": "owner_id"}], "measures": [{"op": "count"}]}
    assert client.post("/api/v1/reports", json=report, headers=auth).status_code == 201
    assert client.post("/api/v1/reports/dm_by_owner/publish", headers=auth).status_code == 200
    board = {"key": "dashboard_71", "name": {"en": "East", "zh": "East"},
             "tiles": [{"report": "dm_by_owner", "w": 6, "h": 4}], "shared_with": {"roles": ["sales"]}}
    assert client.post("/api/v1/dashboards", json=board, headers=auth).status_code == 201
    return {"designer": designer, "auth": auth, "board": board, "team_a": team_a, "rep_a": rep_a, "rep_b": rep_b}


def _sheet(answer) -> list[list]:
    assert answer.status_code == 200, answer.text
    return [[c.value for c in row] for row in load_workbook(BytesIO(answer.content)).active.iter_rows()]


def test_rename_refuses_a_blank_or_long_name_in_the_readers_language(client, session):
    made = _board(client, session)
    blank = {**made["board"], "name": {"en": "  ", "zh": " "}}
    answer = client.post("/api/v1/dashboards", json=blank, headers={**made["auth"], **ZH})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "dashboard.name_invalid"
    assert answer.json()["error"]["message"] == "请为看板填写名称（最多 80 个字符）。"
    long = {**made["board"], "name": {"en": "x" * 81, "zh": "x" * 81}}
    assert client.post("/api/v1/dashboards", json=long, headers={**made["auth"], **EN}).status_code == 422
    renamed = {**made["board"], "name": {"en": "  West   weekly ", "zh": "West weekly"}}
    assert client.post("/api/v1/dashboards", json=renamed, headers=made["auth"]).status_code == 201
    login(client, made["designer"].username)
    assert "<h1>West weekly</h1>" in client.get("/dashboards/dashboard_71", headers=EN).text


def test_a_tile_in_excel_keeps_the_filters_and_the_readers_access(client, session):
    made = _board(client, session)
    login(client, made["designer"].username)
    everyone = _sheet(client.get("/dashboards/dashboard_71/tiles/0/export.xlsx", headers=EN))
    assert everyone[0] == ["Owner", "Orders"]
    assert sorted(everyone[1:]) == [["Head A", 1], ["Rep A", 2], ["Rep B", 3]]
    team_a = _sheet(client.get(f"/dashboards/dashboard_71/tiles/0/export.xlsx?team={made['team_a'].id}", headers=EN))
    assert sorted(team_a[1:]) == [["Head A", 1], ["Rep A", 2]]
    # a sales rep of team B: only what they may see, whatever the filters ask
    login(client, made["rep_b"].username)
    assert _sheet(client.get("/dashboards/dashboard_71/tiles/0/export.xlsx", headers=EN))[1:] == [["Rep B", 3]]
    assert _sheet(client.get(f"/dashboards/dashboard_71/tiles/0/export.xlsx?team={made['team_a'].id}",
                             headers=EN))[1:] == []
    # hostile input: a bad filter or a tile that is not there is a 4xx in words, never 500
    assert client.get("/dashboards/dashboard_71/tiles/0/export.xlsx?tier=gold", headers=EN).status_code == 422
    assert client.get("/dashboards/dashboard_71/tiles/9/export.xlsx", headers=EN).status_code == 404
    # not shared with: 404
    login(client, make_user(session, roles=["finance"]).username)
    session.commit()
    assert client.get("/dashboards/dashboard_71/tiles/0/export.xlsx", headers=EN).status_code == 404


def test_delete_retires_every_version_and_its_schedules(client, session):
    made = _board(client, session)
    session.add(ReportSchedule(owner_id=made["designer"].id, report_key="dm_by_owner", dashboard_key="dashboard_71",
                               kind="daily", at="08:00", locale="en", created_at=datetime(2026, 4, 1, tzinfo=UTC)))
    session.commit()
    # a sales rep may open it but not delete it
    login(client, made["rep_a"].username)
    token = _token(client.get("/dashboards", headers=EN).text)
    refused = client.post("/dashboards/dashboard_71/delete", data={"csrf_token": token}, headers=EN,
                          follow_redirects=False)
    assert refused.status_code == 403
    login(client, made["designer"].username)
    token = _token(client.get("/dashboards", headers=EN).text)
    done = client.post("/dashboards/dashboard_71/delete", data={"csrf_token": token}, headers=EN,
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/dashboards"
    session.expire_all()
    statuses = session.exec(select(DashboardDefinitionRow.status).where(DashboardDefinitionRow.key == "dashboard_71")).scalars().all()
    assert statuses and set(statuses) == {"retired"}
    assert session.exec(select(ReportSchedule).where(ReportSchedule.dashboard_key == "dashboard_71")).first() is None
    assert "dashboard_71" not in client.get("/dashboards", headers=EN).text
    gone = client.get("/dashboards/dashboard_71", headers={"Accept": "text/html", **EN})
    assert gone.status_code == 404 and "Dashboard dashboard_71 was not found." in gone.text
    again = client.post("/dashboards/dashboard_71/delete", data={"csrf_token": token}, headers=EN,
                        follow_redirects=False)
    assert again.status_code == 404
    # the next new dashboard does not take the deleted one's key
    made_next = client.post("/dashboards", data={"csrf_token": token, "name": "Next"}, headers=EN,
                            follow_redirects=False)
    assert made_next.headers["location"] == "/dashboards/dashboard_72"
