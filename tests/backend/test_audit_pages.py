"""The audit pages as plain forms on SQLite and PostgreSQL: the admin's log with filters and paging,
the customer page's edit form and History, the user page's History; non-admins see no history."""

from __future__ import annotations

from datetime import timedelta

from backend.audit import service as audit
from backend.auth.service import load_actor
from tests.conftest import login
from tests.factories.orders import make_customer
from tests.factories.people import make_user

EN = {"Accept-Language": "en"}


class TestCustomerPage:
    def test_admin_edits_the_email_and_finds_it_in_history_and_the_log(self, client, session):
        admin = make_user(session, roles=["admin"], display_name="Ada Admin")
        customer = make_customer(session, name="Suzhou Mould", email="old@szmold.cn")
        session.commit()
        login(client, admin.username)
        page = client.get(f"/customers/{customer.id}", headers=EN)
        assert 'value="old@szmold.cn"' in page.text and "No recorded changes yet." in page.text
        # the e-mail is the primary contact's (several contacts per customer), saved by the contacts form
        form = {"contacts.0.name": customer.contact_name or "Li", "contacts.0.email": "new@szmold.cn",
                "contacts.0.locale": "zh_CN", "primary": "0"}
        saved = client.post(f"/customers/{customer.id}/contacts", data=form, headers=EN, follow_redirects=False)
        assert saved.status_code == 303, saved.text
        page = client.get(f"/customers/{customer.id}", headers=EN).text
        assert "<del>old@szmold.cn</del> → <ins>new@szmold.cn</ins>" in page and "Ada Admin" in page
        log = client.get("/admin/audit", params={"entity_type": "customer"}, headers=EN).text
        assert "<del>old@szmold.cn</del> → <ins>new@szmold.cn</ins>" in log
        assert f'<a href="/customers/{customer.id}">Suzhou Mould</a>' in log
        one = client.get("/admin/audit", params={"entity_type": "customer", "entity_key": customer.id}, headers=EN)
        assert "Only the changes of Suzhou Mould." in one.text and "new@szmold.cn" in one.text

    def test_bad_input_shows_the_field_and_records_nothing(self, client, session):
        admin = make_user(session, roles=["admin"])
        customer = make_customer(session, email="kept@example.com")
        session.commit()
        login(client, admin.username)
        resp = client.post(f"/customers/{customer.id}/contacts", headers=EN, data={
            "contacts.0.name": "Li", "contacts.0.email": "", "contacts.0.phone": "13800000000", "primary": "0"})
        assert resp.status_code == 422
        assert "The preferred channel email needs email." in resp.text
        assert "No recorded changes yet." in resp.text

    def test_sales_see_no_history(self, client, session):
        rep = make_user(session, roles=["sales"])
        customer = make_customer(session)
        session.commit()
        login(client, rep.username)
        page = client.get(f"/customers/{customer.id}", headers=EN).text
        assert 'name="contacts.0.email"' in page and "Change history" not in page
        assert client.get("/admin/audit", headers=EN).status_code == 403


class TestAuditLog:
    def test_user_page_history_and_the_chinese_log(self, client, session, now):
        admin = make_user(session, roles=["admin"], display_name="管理员")
        rep = make_user(session, roles=["sales"], display_name="小王")
        audit.record(session, load_actor(session, admin.id), "user", rep.id, "update",
                     {"roles": ["sales"], "password_hash": "x"}, {"roles": ["sales", "approver"], "password_hash": "y"},
                     now)
        session.commit()
        login(client, admin.username)
        user_page = client.get(f"/admin/users/{rep.id}", headers={"Accept-Language": "zh-CN"}).text
        assert "变更历史" in user_page and "<del>（已隐藏）</del> → <ins>（已隐藏）</ins>" in user_page
        log = client.get("/admin/audit", headers={"Accept-Language": "zh-CN"}).text
        assert "审计日志" in log and "角色" in log and "管理员" in log

    def test_filters_and_the_next_page_link(self, client, session, now):
        admin = make_user(session, roles=["admin"], display_name="Ada Admin")
        actor = load_actor(session, admin.id)
        for n in range(55):
            audit.record(session, actor, "department", 1000 + n, "update", {"name": f"D{n}"}, {"name": f"E{n}"},
                         now - timedelta(minutes=n))
        audit.record(session, actor, "channel", 7, "update", {"is_enabled": True}, {"is_enabled": False},
                     now - timedelta(days=3))
        session.commit()
        login(client, admin.username)
        first = client.get("/admin/audit", params={"entity_type": "department"}, headers=EN).text
        assert first.count("<tr>") == 50 + 1  # the header row too
        assert "<ins>E0</ins>" in first and "<ins>E50</ins>" not in first
        next_url = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
        second = client.get(next_url, headers=EN).text
        assert second.count("<tr>") == 5 + 1 and "<ins>E54</ins>" in second and 'rel="next"' not in second
        day = (now - timedelta(days=3)).date().isoformat()
        only_channel = client.get("/admin/audit", params={"since": day, "until": day}, headers=EN).text
        assert only_channel.count("<tr>") == 1 + 1 and "Notification channel" in only_channel
