"""The report API and pages: save, publish, run, drill to the orders, export to Excel (formulas
neutralised), errors in the user's language, designer rights."""

from __future__ import annotations

from io import BytesIO

from openpyxl import load_workbook

from tests.conftest import bearer, login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def definition(key: str, owner_ids: list[int]) -> dict:
    return {"key": key, "name": {"zh": "按负责人", "en": "By owner"},
            "dimensions": [{"field": "owner_id"}, {"field": "created_at", "bucket": "month"}],
            "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
            "filter": {"in": [{"var": "owner_id"}, owner_ids]}, "view": {"type": "bar"}}


def test_save_publish_run_drill_export(client, session):
    admin = make_user(session, roles=["admin"])
    rep = make_user(session, display_name="=HYPERLINK(\"http://x\")")
    for _ in range(3):
        make_order(session, owner=rep, amount="10.50", customer=make_customer(session))
    session.commit()
    auth = {**bearer(client, admin.username), **EN}
    saved = client.post("/api/v1/reports", json=definition("rp_api_owner", [rep.id]), headers=auth)
    assert saved.status_code == 201 and saved.json()["status"] == "draft"
    assert client.post("/api/v1/reports/rp_api_owner/publish", headers=auth).json()["status"] == "published"
    assert client.get("/api/v1/reports/rp_api_owner", headers=auth).json()["definition"]["dimensions"][0] == {
        "field": "owner_id", "bucket": None}
    ran = client.get("/api/v1/reports/rp_api_owner/run", headers=auth).json()
    assert ran["rows"] == [[rep.id, "2026-11-01", 3, 31.5]] or ran["rows"][0][2:] == [3, 31.5]
    cell = ran["rows"][0][:2]
    # a report filter: the orders behind the cell are listed by the report itself
    drill = client.post("/api/v1/reports/drill", json={"definition": definition("", [rep.id]), "cell": cell,
                                                       "key": "rp_api_owner"}, headers=auth).json()
    assert drill["url"].startswith("/reports/rp_api_owner/orders?")
    # no filter: the order list's own filters say the same
    plain = {**definition("", [rep.id]), "filter": None}
    drill = client.post("/api/v1/reports/drill", json={"definition": plain, "cell": cell}, headers=auth).json()
    assert drill["url"].startswith(f"/orders?owner_id={rep.id}&created_from=")

    login(client, admin.username)
    page = client.get(client.post("/api/v1/reports/drill", json={"definition": definition("", [rep.id]), "cell": cell,
                                                                 "key": "rp_api_owner"}, headers=auth).json()["url"],
                      headers=EN)
    assert page.status_code == 200 and "3 orders." in page.text
    xlsx = client.get("/reports/rp_api_owner/export.xlsx", headers=EN)
    assert xlsx.status_code == 200
    sheet = load_workbook(BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Owner" and rows[0][2] == "Orders"
    assert rows[1][0] == "'=HYPERLINK(\"http://x\")"  # a formula in a name is text in the file
    assert rows[1][2] == 3 and rows[1][3] == 31.5


def test_errors_are_422_in_the_users_language_and_designers_only(client, session):
    admin = make_user(session, roles=["admin"])
    rep = make_user(session)
    session.commit()
    auth = bearer(client, admin.username)
    bad = client.post("/api/v1/reports/run", json={"definition": {"dimensions": [{"field": "nope"}]}},
                      headers={**auth, **EN})
    assert bad.status_code == 422 and bad.json()["error"]["message"] == "Unknown field: nope."
    zh = client.post("/api/v1/reports/run", json={"definition": {"measures": [{"op": "rate"}]}}, headers={**auth, **ZH})
    assert zh.status_code == 422 and "条件" in zh.json()["error"]["message"]
    assert client.get("/api/v1/reports/nothing_here", headers=auth).status_code == 404
    rep_auth = bearer(client, rep.username)
    assert client.post("/api/v1/reports", json=definition("rp_api_rep", [rep.id]), headers=rep_auth).status_code == 403
    # a rep may run a report: it counts only their orders
    assert client.post("/api/v1/reports/run", json={"definition": {"measures": [{"op": "count"}]}},
                       headers=rep_auth).json()["rows"] == [[0]]


def test_pages_in_chinese_and_english(client, session):
    admin = make_user(session, roles=["admin"])
    session.commit()
    login(client, admin.username)
    zh = client.get("/designer/reports/new", headers=ZH).text
    assert "报表设计器" in zh and "维度" in zh and "筛选" in zh
    assert "Report designer" in client.get("/designer/reports/new", headers=EN).text
    boards = client.get("/dashboards", headers=ZH).text
    assert "销售总监看板" in boards
    assert "Sales director" in client.get("/dashboards", headers=EN).text
    board = client.get("/dashboards/day1_sales_director", headers=ZH).text
    assert "应用到所有图块" in board and "客户等级" in board
    assert client.get("/dashboards/nope", headers=EN).status_code == 404


def test_odd_paths_are_4xx_never_500(client, session):
    admin = make_user(session, roles=["admin"])
    session.commit()
    auth = bearer(client, admin.username)
    for url in ("/api/v1/reports/a%00b", "/api/v1/reports/a%00b/run", "/api/v1/dashboards/a%00b/tiles/0",
                "/api/v1/dashboards/day1_sales_director/tiles/99999999999999999999",
                "/api/v1/dashboards/day1_sales_director/tiles/-1"):
        assert 400 <= client.get(url, headers=auth).status_code < 500, url
    assert client.post("/api/v1/reports/a%00b/publish", headers=auth).status_code < 500
