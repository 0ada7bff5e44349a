"""Admin → Calendar as a plain form, the JSON API, and the pages that read the calendar (import
wizard, notification preferences, displayed times), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from backend.notify import service as notify_service
from tests.conftest import bearer, login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

EN = {"Accept-Language": "en"}
FORM = {"timezone": "Asia/Hong_Kong", "weekday": ["0", "1", "2", "3", "4"], "periods": "09:00-12:00\n13:00-18:00",
        "holidays": "2027-10-01~2027-10-03", "extra_working_days": "2027-09-25", "default_currency": "HKD"}


def _admin(client, session):
    admin = make_user(session, roles=["admin"])
    session.commit()
    login(client, admin.username)
    return admin


class TestCalendarPage:
    def test_admin_saves_and_sees_the_days_listed(self, client, session):
        _admin(client, session)
        page = client.get("/admin/calendar", headers=EN)
        assert page.status_code == 200 and 'href="/admin/calendar"' in page.text
        assert re.search(r'<option value="Asia/Shanghai" selected', page.text)
        assert "No holidays." in page.text
        saved = client.post("/admin/calendar", data=FORM, headers=EN, follow_redirects=False)
        assert saved.status_code == 303, saved.text
        page = client.get("/admin/calendar", headers=EN).text
        assert "The calendar was saved." in page
        assert re.search(r'<option value="Asia/Hong_Kong" selected', page)
        holidays = re.search(r'<ul id="calendar-holidays".*?</ul>', page, re.S).group(0)
        assert holidays.count("<li>") == 3 and 'datetime="2027-10-02"' in holidays and "Saturday" in holidays
        extra = re.search(r'<ul id="calendar-extra-days".*?</ul>', page, re.S).group(0)
        assert 'datetime="2027-09-25"' in extra and "Saturday" in extra
        assert 'value="HKD"' in page

    def test_errors_in_chinese_and_nothing_typed_is_lost(self, client, session):
        _admin(client, session)
        bad = {**FORM, "periods": "09:00-12:00\n11:00-14:00", "holidays": "2027-10-01\n2027-13-01",
               "default_currency": "yuan", "timezone": "Mars/Olympus"}
        resp = client.post("/admin/calendar", data=bad)
        assert resp.status_code == 422
        assert "2027-13-01 不是日期" in resp.text and "币种请写作三个大写字母" in resp.text
        assert "2027-10-01\n2027-13-01</textarea>" in resp.text and "11:00-14:00</textarea>" in resp.text
        assert '<option value="Mars/Olympus" selected' in resp.text
        # dates and currency right: the service's checks (zone, overlap) are shown too
        resp = client.post("/admin/calendar", data={**bad, "holidays": "2027-10-01", "default_currency": "CNY"})
        assert resp.status_code == 422
        assert "未知时区 Mars/Olympus" in resp.text and "重叠" in resp.text
        none = client.post("/admin/calendar", data={**FORM, "weekday": [], "extra_working_days": ""})
        assert none.status_code == 422 and "请至少选择一个工作日" in none.text
        assert "没有节假日" in client.get("/admin/calendar").text  # nothing was saved

    def test_hostile_input_is_refused_not_crashed(self, client, session):
        _admin(client, session)
        huge = {**FORM, "holidays": "2027-01-01 " * 5000, "weekday": ["9", "x"], "periods": "9" * 100}
        resp = client.post("/admin/calendar", data=huge)
        assert resp.status_code == 422

    def test_non_admins_get_403(self, client, session):
        rep = make_user(session, roles=["sales"])
        session.commit()
        login(client, rep.username)
        assert client.get("/admin/calendar").status_code == 403
        assert client.post("/admin/calendar", data=FORM).status_code == 403


class TestCalendarApi:
    def test_read_by_anyone_saved_by_admins(self, client, session):
        admin = make_user(session, roles=["admin"])
        rep = make_user(session, roles=["sales"])
        session.commit()
        as_rep, as_admin = bearer(client, rep.username), bearer(client, admin.username)
        got = client.get("/api/v1/calendar", headers=as_rep)
        assert got.status_code == 200 and got.json()["timezone"] == "Asia/Shanghai" and got.json()["version"] == 0
        body = {"timezone": "Europe/Berlin", "working_weekdays": [0, 1, 2, 3, 4, 5], "periods": ["08:00-16:00"],
                "holidays": ["2027-12-25"], "extra_working_days": [], "default_currency": "EUR"}
        assert client.put("/api/v1/calendar", json=body, headers=as_rep).status_code == 403
        saved = client.put("/api/v1/calendar", json=body, headers=as_admin)
        assert saved.status_code == 200 and saved.json()["version"] == 1
        bad = client.put("/api/v1/calendar", json={**body, "periods": ["16:00-08:00"]}, headers={**as_admin, **EN})
        assert bad.status_code == 422
        assert bad.json()["error"]["fields"]["periods"]["code"] == "calendar.period_invalid"
        assert "09:00-12:00" in bad.json()["error"]["fields"]["periods"]["message"]
        assert client.get("/api/v1/calendar", headers=as_rep).json()["working_weekdays"] == [0, 1, 2, 3, 4, 5]


class TestPagesReadTheCalendar:
    def test_import_wizard_prefills_zone_and_currency(self, client, session):
        _admin(client, session)
        client.post("/admin/calendar", data=FORM)
        customer = make_customer(session, name="港客")
        session.commit()
        resp = client.post("/admin/imports", files={"file": ("a.csv", f"单号,客户,金额\nH-1,{customer.name},5\n".encode(),
                                                            "text/csv")}, follow_redirects=False)
        mapping = client.get(resp.headers["location"]).text
        assert 'name="timezone" value="Asia/Hong_Kong"' in mapping
        assert re.search(r'name="default_currency"[^>]*value="HKD"', mapping)

    def test_times_are_shown_in_the_installations_zone(self, client, session):
        admin = _admin(client, session)
        order = make_order(session, owner=admin, at=datetime(2026, 11, 24, 2, 30, tzinfo=UTC))
        session.commit()
        shanghai = client.get(f"/orders/{order.id}", headers=EN).text
        assert "10:30" in shanghai
        client.post("/admin/calendar", data={**FORM, "timezone": "Europe/London"})
        london = client.get(f"/orders/{order.id}", headers=EN).text
        assert "2:30" in london and "10:30" not in london

    def test_notification_zone_follows_the_installation_unless_chosen(self, client, session):
        admin = _admin(client, session)
        client.post("/admin/calendar", data={**FORM, "timezone": "Europe/Berlin"})
        page = client.get("/notifications/preferences", headers=EN).text
        assert re.search(r'<option value="" selected>The company\'s time zone \(Europe/Berlin\)', page)
        client.post("/notifications/preferences", data={"timezone": "", "digest_hour": "18"})
        assert notify_service.get_preference(session, admin.id).timezone == ""
        client.post("/notifications/preferences", data={"timezone": "Asia/Tokyo", "digest_hour": "18"})
        session.expire_all()
        assert notify_service.get_preference(session, admin.id).timezone == "Asia/Tokyo"
