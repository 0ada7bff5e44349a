"""Shell, orders, dashboard and admin pages without a browser: real app, real database, real forms."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from backend.auth.models import ApiKey
from backend.orders import service as orders_service
from backend.orders.schemas import OrderUpdate
from backend.people.models import Department, User
from tests.conftest import login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user


def _csrf(client) -> str:
    return client.headers["X-CSRF-Token"]


class TestShell:
    def test_signed_out_pages_redirect_to_sign_in(self, client):
        resp = client.get("/dashboard", follow_redirects=False)
        assert resp.status_code == 303
        assert resp.headers["location"] == "/login?next=%2Fdashboard"

    def test_nav_has_every_area_and_the_inbox_badge(self, client, session):
        make_user(session, username="nav.admin", roles=["admin"], locale="en")
        session.commit()
        login(client, "nav.admin")
        html = client.get("/orders").text
        for label in ("Orders", "Inbox", "Designer", "Dashboard", "Admin"):
            assert f">{label}" in html
        assert 'hx-get="/inbox/badge"' in html and client.get("/inbox/badge").status_code == 200

    def test_language_defaults_to_the_browser_and_switch_is_kept_per_user(self, client, session):
        user = make_user(session, username="lang.user", roles=["sales"])
        session.commit()
        assert "登录" in client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
        assert "Sign in" in client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).text
        login(client, "lang.user")
        resp = client.post("/lang", data={"lang": "en", "next": "/orders", "csrf_token": _csrf(client)},
                           follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == "/orders"
        assert ">Orders</h1>" in client.get("/orders").text
        session.refresh(user)
        assert user.locale == "en"
        client.post("/lang", data={"lang": "zh_CN", "next": "/orders", "csrf_token": _csrf(client)})
        assert ">订单</h1>" in client.get("/orders").text

    def test_language_switch_refuses_a_foreign_redirect(self, client, session):
        make_user(session, username="lang.redirect", roles=["sales"])
        session.commit()
        login(client, "lang.redirect")
        resp = client.post("/lang", data={"lang": "en", "next": "https://evil.example/", "csrf_token": _csrf(client)},
                           follow_redirects=False)
        assert resp.headers["location"] == "/orders"


class TestOrderPages:
    def test_list_filters_and_htmx_returns_only_the_table(self, client, session):
        rep = make_user(session, username="list.rep", roles=["sales"], locale="en")
        make_order(session, owner=rep, number="LST-A", stage="production", customer=make_customer(session, name="Acme"))
        make_order(session, owner=rep, number="LST-B", stage="draft")
        session.commit()
        login(client, "list.rep")
        full = client.get("/orders?stage=production")
        assert "LST-A" in full.text and "LST-B" not in full.text and "<html" in full.text
        part = client.get("/orders?q=acme", headers={"HX-Request": "true", "HX-Target": "orders-table"})
        assert part.status_code == 200
        assert "<html" not in part.text and 'id="orders-table"' in part.text
        assert "LST-A" in part.text and "LST-B" not in part.text

    def test_bad_filters_show_an_error_state_naming_the_filter(self, client, session):
        make_user(session, username="list.bad", roles=["sales"], locale="en")
        session.commit()
        login(client, "list.bad")
        resp = client.get("/orders?amount_min=lots&created_from=2026-02-31")
        assert resp.status_code == 200
        assert 'id="orders-error"' in resp.text
        assert "Min. amount" in resp.text and "Created from" in resp.text

    def test_a_bad_filter_keeps_what_else_was_typed(self, client, session):
        make_user(session, username="list.keep", roles=["sales"], locale="en")
        session.commit()
        login(client, "list.keep")
        html = client.get("/orders?q=Wuxi&status=open&amount_min=lots").text
        assert 'id="orders-error"' in html and "Min. amount" in html
        assert 'name="q" value="Wuxi"' in html
        assert '<option value="open" selected>' in html

    def test_a_bad_cursor_is_an_error_state_not_a_crash(self, client, session):
        make_user(session, username="list.cursor", roles=["sales"], locale="en")
        session.commit()
        login(client, "list.cursor")
        resp = client.get("/orders?cursor=not-a-cursor")
        assert resp.status_code == 200 and 'id="orders-error"' in resp.text

    def test_owner_filter_offers_only_the_team_to_sales(self, client, session):
        head = make_user(session, username="own.head", roles=["sales"], locale="en", display_name="Hedda Head")
        dep = make_department(session, head=head)
        make_user(session, username="own.member", roles=["sales"], department=dep, display_name="Mia Member")
        make_user(session, username="own.stranger", roles=["sales"], display_name="Stan Stranger")
        make_user(session, username="own.admin", roles=["admin"], locale="en")
        session.commit()
        login(client, "own.head")
        html = client.get("/orders").text
        assert "Mia Member" in html and "Hedda Head" in html and "Stan Stranger" not in html
        client.cookies.clear()
        client.headers.pop("X-CSRF-Token")
        login(client, "own.admin")
        assert "Stan Stranger" in client.get("/orders").text

    def test_empty_state(self, client, session):
        make_user(session, username="list.empty", roles=["sales"], locale="en")
        session.commit()
        login(client, "list.empty")
        assert "No orders match these filters." in client.get("/orders").text

    def test_detail_shows_customer_contact_and_readable_timeline(self, client, session, now):
        rep = make_user(session, username="det.rep", roles=["sales"], locale="en", display_name="Det Rep")
        other = make_user(session, username="det.other", roles=["sales"], display_name="Olga Other")
        customer = make_customer(session, name="Contact Co", contact_name="Ms. Li", phone="+86 21 5555 0101",
                                 wecom_id="li-wecom")
        order = make_order(session, owner=rep, customer=customer, number="DET-1")
        boss = make_user(session, username="det.boss", roles=["admin"], display_name="Boss Admin", locale="en")
        session.commit()
        actor = _actor(session, boss)
        orders_service.update_order(session, actor=actor, order_id=order.id, now=now,
                                    payload=OrderUpdate(version=1, stage="production", owner_id=other.id,
                                                        amount="2500.00"))
        session.commit()
        login(client, "det.boss")
        html = client.get(f"/orders/{order.id}").text
        assert "Ms. Li" in html and "+86 21 5555 0101" in html and "li-wecom" in html
        assert "Stage changed" in html and "Boss Admin" in html
        assert "<del>Draft</del> → <ins>Production</ins>" in html
        assert "<del>Det Rep</del> → <ins>Olga Other</ins>" in html
        assert "CN¥2,500.00" in html or "¥2,500.00" in html

    def test_sales_cannot_open_another_teams_order(self, client, session):
        mine = make_user(session, username="team.a", roles=["sales"], locale="en")
        theirs = make_user(session, username="team.b", roles=["sales"])
        order = make_order(session, owner=theirs, number="FOREIGN-1")
        make_order(session, owner=mine, number="MINE-1")
        session.commit()
        login(client, "team.a")
        resp = client.get(f"/orders/{order.id}", headers={"Accept": "text/html"})
        assert resp.status_code == 404
        assert "Not found" in resp.text and "FOREIGN-1" not in resp.text
        assert "FOREIGN-1" not in client.get("/orders").text


class TestDashboardPage:
    def test_counts_and_lists(self, client, session, now):
        rep = make_user(session, username="dash.page", roles=["sales"], locale="en")
        late = make_order(session, owner=rep, number="DASH-LATE", stage="production",
                          planned_delivery=now.date() - timedelta(days=3), at=now - timedelta(days=10))
        make_order(session, owner=rep, number="DASH-RISK", stage="approval", risk_flags=["credit_hold"], at=now)
        session.commit()
        login(client, "dash.page")
        html = client.get("/dashboard").text
        assert "DASH-LATE" in html and "DASH-RISK" in html and "credit_hold" in html
        assert f'href="/orders/{late.id}"' in html
        assert 'id="dashboard-weeks"' in html


class TestNewOrderOnlyForThoseWhoCreate:
    def test_approver_gets_no_new_order_button_and_no_form(self, client, session):
        make_user(session, username="new.approver", roles=["approver"], locale="en")
        session.commit()
        login(client, "new.approver")
        assert 'href="/orders/new"' not in client.get("/orders").text
        refused = client.get("/orders/new", headers={"Accept": "text/html"})
        assert refused.status_code == 403 and "Not allowed" in refused.text

    def test_sales_gets_both(self, client, session):
        make_user(session, username="new.sales", roles=["sales"], locale="en")
        session.commit()
        login(client, "new.sales")
        assert 'href="/orders/new"' in client.get("/orders").text
        assert client.get("/orders/new").status_code == 200


class TestCodesShownAsWords:
    """Risk flags and tags that the system itself sets (the classic rules, the demo) are codes; pages
    show them as words of the reader's language, and a flag somebody typed stays as typed."""

    def test_known_flags_and_tags_are_translated_everywhere(self, client, session, now):
        rep = make_user(session, username="codes.zh", roles=["sales"], locale="zh_CN")
        order = make_order(session, owner=rep, number="CODES-1", stage="production",
                           planned_delivery=now.date() - timedelta(days=2),
                           risk_flags=["late-delivery", "delay_risk", "信用冻结"], tags=["key-account"])
        session.commit()
        login(client, "codes.zh")
        for url in ("/orders", f"/orders/{order.id}", "/dashboard"):
            html = client.get(url).text
            assert "交期延误" in html and "延期风险" in html and "信用冻结" in html, url
            assert "late-delivery" not in html and "delay_risk" not in html, url
        detail = client.get(f"/orders/{order.id}").text
        assert "重点客户" in detail and "key-account" not in detail
        orders_service.update_order(session, actor=_actor(session, rep), order_id=order.id, now=now,
                                    payload=OrderUpdate(version=1, tags=["key-account", "vip"]))
        session.commit()
        timeline = client.get(f"/orders/{order.id}").text.split('id="orders-timeline"')[1]
        assert "<ins>重点客户, vip</ins>" in timeline and "key-account" not in timeline

    def test_english_words_for_english_readers(self, client, session, now):
        rep = make_user(session, username="codes.en", roles=["sales"], locale="en")
        order = make_order(session, owner=rep, number="CODES-2", risk_flags=["delay_risk"], tags=["key-account"])
        session.commit()
        login(client, "codes.en")
        html = client.get(f"/orders/{order.id}").text
        assert "Delay risk" in html and "Key account" in html and "delay_risk" not in html


class TestDesignedFieldsOnTheOrderPage:
    def _publish(self, session, now):
        from backend.forms import service as forms_service

        designer = make_user(session, roles=["designer"])
        actor = _actor(session, designer)
        forms_service.save_draft(session, actor=actor, key="order", now=now, definition={"key": "order", "fields": [
            {"key": "ship_on", "type": "date", "label": {"en": "Ship on", "zh-CN": "发货日"}},
            {"key": "qty", "type": "number", "label": {"en": "Quantity", "zh-CN": "数量"}},
        ]})
        forms_service.publish_form(session, actor=actor, key="order", now=now)

    def test_dates_and_numbers_read_in_the_readers_language(self, client, session, now):
        self._publish(session, now)
        make_user(session, username="designed.zh", roles=["sales"], locale="zh_CN")
        session.commit()
        login(client, "designed.zh")
        customer = make_customer(session)
        session.commit()
        created = client.post("/api/v1/orders", json={"customer_id": customer.id, "amount": "10.00",
                                                       "data": {"ship_on": "2026-12-24", "qty": 12000}})
        assert created.status_code == 201, created.text
        fields = client.get(f"/orders/{created.json()['id']}").text.split('id="orders-form-fields"')[1]
        assert "2026年12月24日" in fields and "2026-12-24" not in fields
        assert "12,000" in fields

    def test_an_order_without_a_form_borrows_the_published_labels(self, client, session, now):
        self._publish(session, now)
        rep = make_user(session, username="loose.zh", roles=["sales"], locale="zh_CN")
        order = make_order(session, owner=rep, data={"ship_on": "2026-12-24", "customer_po": "PO-7"})
        session.commit()
        login(client, "loose.zh")
        fields = client.get(f"/orders/{order.id}").text.split('id="orders-data"')[1].split("</dl>")[0]
        assert "<dt>发货日</dt><dd>2026年12月24日</dd>" in fields
        assert "<dt>customer_po</dt><dd>PO-7</dd>" in fields  # no label anywhere: as stored


class TestAdminPages:
    def test_non_admin_gets_forbidden(self, client, session):
        make_user(session, username="adm.no", roles=["sales"], locale="en")
        session.commit()
        login(client, "adm.no")
        resp = client.get("/admin/users", headers={"Accept": "text/html"})
        assert resp.status_code == 403 and "Not allowed" in resp.text

    def test_create_edit_and_deactivate_a_user(self, client, session):
        make_user(session, username="adm.root", roles=["admin"], locale="en")
        dep = make_department(session, name="Adm Sales East")
        session.commit()
        login(client, "adm.root")
        resp = client.post("/admin/users", data={
            "csrf_token": _csrf(client), "username": "new.person", "display_name": "New Person",
            "password": "longenough1", "roles": ["sales", "approver"], "department_id": str(dep.id), "email": "",
            "locale": "en"}, follow_redirects=False)
        assert resp.status_code == 303, resp.text
        user = session.exec(select(User).where(User.username == "new.person")).scalars().one()
        assert user.department_id == dep.id
        assert "New Person" in client.get("/admin/users").text
        resp = client.post(f"/admin/users/{user.id}", data={
            "csrf_token": _csrf(client), "display_name": "Renamed Person", "roles": ["finance"], "department_id": ""},
            follow_redirects=False)
        assert resp.status_code == 303, resp.text
        edited = client.get(f"/admin/users/{user.id}").text
        assert "Renamed Person" in edited and 'value="finance" checked' in edited
        session.refresh(user)
        assert user.department_id is None
        resp = client.post(f"/admin/users/{user.id}/active", data={"csrf_token": _csrf(client), "is_active": "false"},
                           follow_redirects=False)
        assert resp.status_code == 303
        session.refresh(user)
        assert user.is_active is False

    def test_bad_user_input_is_shown_per_field(self, client, session):
        make_user(session, username="adm.bad", roles=["admin"], locale="en")
        make_user(session, username="taken.name", roles=["sales"])
        session.commit()
        login(client, "adm.bad")
        resp = client.post("/admin/users", data={"csrf_token": _csrf(client), "username": "bad name!",
                                                 "display_name": "", "password": "short", "roles": ["wizard"],
                                                 "email": "not-an-email"})
        assert resp.status_code == 422
        for field in ("username", "display_name", "password", "roles", "email"):
            assert f'id="err-{field}"' in resp.text, field
        resp = client.post("/admin/users", data={"csrf_token": _csrf(client), "username": "taken.name",
                                                 "display_name": "Dup", "password": "longenough1"})
        assert resp.status_code == 422 and "already taken" in resp.text and 'id="err-username"' in resp.text

    def test_admin_cannot_deactivate_self_or_drop_own_admin(self, client, session):
        me = make_user(session, username="adm.self", roles=["admin"], locale="en")
        session.commit()
        login(client, "adm.self")
        resp = client.post(f"/admin/users/{me.id}/active", data={"csrf_token": _csrf(client), "is_active": "false"},
                           headers={"Accept": "text/html"})
        assert resp.status_code == 422 and "your own account" in resp.text
        resp = client.post(f"/admin/users/{me.id}", data={"csrf_token": _csrf(client), "display_name": "Me",
                                                          "roles": ["sales"]})
        assert resp.status_code == 422 and "administrator role" in resp.text
        session.refresh(me)
        assert me.is_active

    def test_build_a_department_tree_and_refuse_a_cycle(self, client, session):
        head = make_user(session, username="adm.tree", roles=["admin"], locale="en", display_name="Tree Head")
        session.commit()
        login(client, "adm.tree")

        def create(name, parent=None):
            resp = client.post("/admin/departments", data={"csrf_token": _csrf(client), "name": name,
                                                           "parent_id": str(parent.id) if parent else "",
                                                           "head_id": str(head.id)}, follow_redirects=False)
            assert resp.status_code == 303, resp.text
            return session.exec(select(Department).where(Department.name == name)).scalars().one()

        root = create("Tree HQ")
        child = create("Tree Sales", root)
        grandchild = create("Tree Sales North", child)
        html = client.get("/admin/departments").text
        tree = html.split('id="admin-orgchart"')[1].split("</section>")[0]
        hq = tree.split('data-department="Tree HQ"')[1]
        # nested: HQ's item contains Sales's item, which contains North's
        assert hq.index('data-department="Tree Sales"') < hq.index('data-department="Tree Sales North"')
        assert tree.count("<ul>") >= 2 and "Head: Tree Head" in tree
        resp = client.post(f"/admin/departments/{root.id}", data={"csrf_token": _csrf(client), "name": "Tree HQ",
                                                                  "parent_id": str(grandchild.id)})
        assert resp.status_code == 422 and "under itself" in resp.text
        session.expire_all()
        assert session.get(Department, root.id).parent_id is None
        resp = client.post("/admin/departments", data={"csrf_token": _csrf(client), "name": ""})
        assert resp.status_code == 422 and 'id="err-name"' in resp.text

    def test_api_key_is_shown_once_and_can_be_revoked(self, client, session):
        make_user(session, username="adm.keys", roles=["admin"], locale="en")
        session.commit()
        login(client, "adm.keys")
        resp = client.post("/admin/api-keys", data={"csrf_token": _csrf(client), "name": "ERP sync",
                                                    "scope": "write"}, follow_redirects=False)
        assert resp.status_code == 303
        resp = client.get(resp.headers["location"])
        key = session.exec(select(ApiKey).where(ApiKey.name == "ERP sync")).scalars().one()
        clear = resp.text.split('class="secret" readonly value="')[1].split('"')[0]
        assert clear.startswith(key.prefix) and clear not in client.get("/admin/api-keys").text
        assert client.get("/api/v1/orders", headers={"X-API-Key": clear}).status_code == 200
        resp = client.post(f"/admin/api-keys/{key.id}/revoke", data={"csrf_token": _csrf(client)},
                           follow_redirects=False)
        assert resp.status_code == 303
        assert client.get("/api/v1/orders", headers={"X-API-Key": clear}).status_code == 401
        assert "Revoked" in client.get("/admin/api-keys").text

    def test_api_key_needs_a_name(self, client, session):
        make_user(session, username="adm.keyname", roles=["admin"], locale="en")
        session.commit()
        login(client, "adm.keyname")
        resp = client.post("/admin/api-keys", data={"csrf_token": _csrf(client), "name": " ", "scope": "admin"})
        assert resp.status_code == 422 and 'id="err-name"' in resp.text and 'id="err-scope"' in resp.text


def _actor(session, user):
    from backend.auth.service import load_actor

    return load_actor(session, user.id)


def test_today_is_frozen(now):
    assert now.date() == date(2026, 11, 24)
