"""Issue 17, imports: designed fields by type, re-imports that update, customers by code then name,
one upload cap, every failing date reported. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.app import create_app
from backend.audit.models import AuditEvent
from backend.auth.service import load_actor
from backend.clock import utcnow
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.forms import service as forms_service
from backend.ingest import service
from backend.ingest.inbound import sign
from backend.ingest.models import ImportJob, ImportRowResult
from backend.ingest.schemas import ImportMapping
from backend.orders import service as orders_service
from backend.orders.models import Order, OrderEvent
from backend.orders.schemas import OrderCreate
from tests.conftest import login
from tests.factories.orders import make_customer
from tests.factories.people import make_user

FORM = {"key": "order", "fields": [
    {"key": "shipped_at", "type": "datetime", "label": {"zh-CN": "发货时间", "en": "Shipped at"}},
    {"key": "signed_on", "type": "date", "label": {"zh-CN": "签收日期", "en": "Signed on"}},
    {"key": "pieces", "type": "number", "label": {"zh-CN": "件数", "en": "Pieces"}},
    {"key": "incoterm", "type": "single_select", "label": {"zh-CN": "贸易条款", "en": "Incoterm"},
     "options": [{"value": "FOB", "label": {"zh-CN": "离岸价", "en": "Free on board"}},
                 {"value": "CIF", "label": {"zh-CN": "到岸价", "en": "Cost, insurance, freight"}}]},
    {"key": "is_urgent", "type": "checkbox", "label": {"zh-CN": "加急", "en": "Urgent"}},
    {"key": "remark", "type": "text", "label": {"zh-CN": "备注", "en": "Remark"}},
]}
COLUMNS = {"external_id": "订单号", "customer": "客户", "amount": "金额", "stage": "状态",
           "data.shipped_at": "发货时间", "data.signed_on": "签收日期", "data.pieces": "件数",
           "data.incoterm": "贸易条款", "data.is_urgent": "加急", "data.remark": "备注"}
MAPPING = ImportMapping(columns=COLUMNS, status_map={"已取消": "cancelled"}, stage_map={"生产中": "production"},
                        source="impx", timezone="Asia/Shanghai")
HEADER = "订单号,客户,金额,状态,发货时间,签收日期,件数,贸易条款,加急,备注\n"


@pytest.fixture
def admin(session):
    user = make_user(session, roles=["admin"])
    session.commit()
    return load_actor(session, user.id)


def _publish_form(session, now, definition=FORM):
    designer = load_actor(session, make_user(session, roles=["designer"]).id)
    forms_service.save_draft(session, actor=designer, key="order", definition=definition, now=now)
    forms_service.publish_form(session, actor=designer, key="order", now=now)


def _import(session, connection, admin, now, text: str, mapping: ImportMapping = MAPPING) -> ImportJob:
    preview = service.upload_import(session, actor=admin, filename="orders.csv", content=text.encode(), now=now)
    service.start_import(session, actor=admin, job_id=preview.job.id, mapping=mapping, now=now)
    service.run_to_end(connection, preview.job.id, now, batch_size=2)
    session.expire_all()
    return session.get(ImportJob, preview.job.id)


def _orders(session, source="impx") -> dict[str, Order]:
    return {o.external_id: o for o in session.exec(select(Order).where(Order.source == source)).scalars()}


class TestDesignedFields:
    def test_cells_are_converted_by_the_fields_types(self, session, connection, admin, now):
        _publish_form(session, now)
        make_customer(session, name="形态客户")
        session.commit()
        job = _import(session, connection, admin, now, HEADER +
                      "D-1,形态客户,100,生产中,2026-11-20 09:30,2026/11/25,\"1,200\",离岸价,是,加急件\n"
                      "D-2,形态客户,100,生产中,2026-11-20T09:30:00Z,,,CIF,no,\n")
        assert (job.created_count, job.failed_count) == (2, 0)
        orders = _orders(session)
        assert orders["D-1"].data == {"shipped_at": "2026-11-20T01:30:00Z", "signed_on": "2026-11-25", "pieces": 1200,
                                      "incoterm": "FOB", "is_urgent": True, "remark": "加急件"}
        # an explicit offset (Z) is kept; empty cells are unknown
        assert orders["D-2"].data["shipped_at"] == "2026-11-20T09:30:00Z"
        assert orders["D-2"].data.get("signed_on") is None and orders["D-2"].data["is_urgent"] is False

    def test_a_datetime_is_stored_as_the_order_page_stores_it(self, session, connection, admin, now):
        """The form engine stores date-times in UTC `...Z`, as the import stores `created` in UTC."""
        _publish_form(session, now)
        customer = make_customer(session, name="同一客户")
        session.commit()
        _import(session, connection, admin, now, HEADER + "S-1,同一客户,1,生产中,2026-11-20 09:30,,,,,\n")
        typed, _ = orders_service.create_order(session, actor=admin, payload=OrderCreate(
            customer_id=customer.id, amount=Decimal("1"), data={"shipped_at": "2026-11-20T09:30+08:00"}), now=now)
        assert _orders(session)["S-1"].data["shipped_at"] == typed.data["shipped_at"] == "2026-11-20T01:30:00Z"

    def test_every_bad_cell_of_a_row_is_reported(self, session, connection, admin, now):
        _publish_form(session, now)
        make_customer(session, name="坏格客户")
        session.commit()
        job = _import(session, connection, admin, now, HEADER + "B-1,坏格客户,1,生产中,明天,2026-02-30,许多,EXW,也许,\n")
        assert (job.created_count, job.failed_count) == (0, 1)
        [row] = service.list_row_errors(session, actor=admin, job_id=job.id)
        assert sorted((e["column"], e["code"]) for e in row.errors) == sorted([
            ("发货时间", "import.date_invalid"), ("签收日期", "import.date_invalid"), ("件数", "import.number_invalid"),
            ("贸易条款", "import.option_unknown"), ("加急", "import.checkbox_invalid")])

    def test_without_a_form_data_types_say_how_to_read_a_column(self, session, connection, admin, now):
        make_customer(session, name="无表单客户")
        session.commit()
        mapping = ImportMapping(columns={"external_id": "no", "customer": "c", "amount": "a", "data.paid_at": "t",
                                         "data.note": "n"}, data_types={"paid_at": "datetime"}, source="impx",
                                timezone="America/Sao_Paulo")
        _import(session, connection, admin, now, "no,c,a,t,n\nN-1,无表单客户,1,2017-10-02 10:56:33,2017-10-02\n",
                mapping)
        assert _orders(session)["N-1"].data == {"paid_at": "2017-10-02T13:56:33Z", "note": "2017-10-02"}

    def test_the_mapping_page_offers_every_designed_field_with_its_label_and_type(self, client, session, now):
        _publish_form(session, now)
        admin = make_user(session, roles=["admin"], locale="zh_CN")
        session.commit()
        login(client, admin.username)
        resp = client.post("/admin/imports", files={"file": ("f.csv", (HEADER + "X,c,1,,,,,,,\n").encode(), "text/csv")},
                           follow_redirects=False)
        page = client.get(resp.headers["location"]).text
        for key, label, kind in (("shipped_at", "发货时间", "日期时间"), ("signed_on", "签收日期", "日期"),
                                 ("pieces", "件数", "数字"), ("incoterm", "贸易条款", "单选"), ("is_urgent", "加急", "勾选框")):
            assert re.search(rf'{label} <span class="muted">\({kind}\)</span>\s*<select name="col_data\.{key}"', page), key
            # the file's header with the field's label is chosen already
            assert re.search(rf'name="col_data\.{key}".*?<option value="{label}" selected', page, re.S), key
        form = {"col_external_id": "订单号", "col_customer": "客户", "col_amount": "金额",
                "col_data.shipped_at": "发货时间", "source": "impx", "timezone": "Asia/Shanghai"}
        started = client.post(f"{resp.headers['location']}/start", data=form, follow_redirects=False)
        assert started.status_code == 303
        job = session.get(ImportJob, int(resp.headers["location"].rsplit("/", 1)[1]))
        session.refresh(job)
        assert job.mapping["columns"]["data.shipped_at"] == "发货时间"


class TestReimport:
    FIRST = HEADER + ("R-1,重导客户,100,生产中,2026-11-20 09:30,,5,FOB,否,\n"
                      "R-2,重导客户,200,生产中,,,,,,\n"
                      "R-3,重导客户,300,生产中,,,,,,\n")
    SECOND = HEADER + ("R-1,重导客户,150,生产中,2026-11-21 10:00,,5,FOB,否,改过\n"  # amount and two fields
                       "R-2,重导客户,200,生产中,,,,,,\n"  # the same
                       "R-3,重导客户,300,已取消,,,,,,\n"  # cancelled since
                       "R-4,重导客户,400,生产中,,,,,,\n")  # new

    def test_changed_rows_update_their_orders_and_the_rest_are_unchanged(self, session, connection, admin, now):
        _publish_form(session, now)
        make_customer(session, name="重导客户")
        session.commit()
        _import(session, connection, admin, now, self.FIRST)
        before = _orders(session)
        versions = {k: o.version for k, o in before.items()}
        job = _import(session, connection, admin, now, self.SECOND)
        assert (job.created_count, job.updated_count, job.unchanged_count, job.failed_count, job.existing_count) == (
            1, 2, 1, 0, 3)
        after = _orders(session)
        assert after["R-1"].amount == Decimal("150") and after["R-1"].version == versions["R-1"] + 1
        assert after["R-1"].data["shipped_at"] == "2026-11-21T02:00:00Z" and after["R-1"].data["remark"] == "改过"
        assert after["R-2"].version == versions["R-2"]
        assert (after["R-3"].status, after["R-3"].closed_at is not None) == ("cancelled", True)
        event = session.exec(select(OrderEvent).where(OrderEvent.order_id == after["R-1"].id, OrderEvent.type == "updated")
                             ).scalars().one()
        assert Decimal(event.before["amount"]) == Decimal("100") and Decimal(event.after["amount"]) == Decimal("150")
        results = session.exec(select(ImportRowResult.line, ImportRowResult.outcome, ImportRowResult.changed)
                               .where(ImportRowResult.import_job_id == job.id).order_by(ImportRowResult.line)).all()
        assert [tuple(r) for r in results] == [
            (2, "updated", ["amount", "data.remark", "data.shipped_at"]), (3, "unchanged", []),
            (4, "updated", ["status"]), (5, "created", [])]
        rows = list(csv.reader(io.StringIO(service.row_results_csv(session, actor=admin, job_id=job.id).lstrip("\ufeff"))))
        assert [r[0] for r in rows[1:]] == ["2", "3", "4", "5"]
        assert rows[1][3] == "R-1" and rows[1][2] == after["R-1"].number and "data.remark" in rows[1][4]
        assert rows[4][2] == after["R-4"].number  # a created row finds its order

    def test_a_row_naming_an_existing_order_number_updates_it(self, session, connection, admin, now):
        customer = make_customer(session, name="编号客户")
        session.commit()
        existing, _ = orders_service.create_order(session, actor=admin, payload=OrderCreate(
            number="IMPX-NUM-1", customer_id=customer.id, amount=Decimal("10")), now=now)
        mapping = ImportMapping(columns={"number": "单号", "customer": "客户", "amount": "金额"}, source="impx")
        job = _import(session, connection, admin, now, "单号,客户,金额\nIMPX-NUM-1,编号客户,12\nIMPX-NUM-1,编号客户,12\n",
                      mapping)
        assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 1, 1)
        assert session.get(Order, existing.id).amount == Decimal("12")

    def test_a_failed_row_is_in_the_results_too(self, session, connection, admin, now):
        make_customer(session, name="失败客户")
        session.commit()
        mapping = ImportMapping(columns={"external_id": "no", "customer": "c", "amount": "a"}, source="impx")
        job = _import(session, connection, admin, now, "no,c,a\nF-1,失败客户,-1\nF-2,失败客户,1\n", mapping)
        rows = list(csv.reader(io.StringIO(service.row_results_csv(session, actor=admin, job_id=job.id).lstrip("\ufeff"))))
        assert [(r[0], r[3]) for r in rows[1:]] == [("2", "F-1"), ("3", "F-2")]
        assert "-1" in rows[1][5]  # the problem, in words


class TestCustomers:
    def test_matched_by_code_first_then_by_exact_name(self, session, connection, admin, now):
        coded = make_customer(session, name="同名公司", code="IMPX-C1")
        named = make_customer(session, name="只有名字", code=None)
        session.commit()
        mapping = ImportMapping(columns={"external_id": "no", "customer": "name", "customer_code": "code",
                                         "amount": "a"}, source="impx")
        job = _import(session, connection, admin, now,
                      "no,name,code,a\n"
                      "C-1,别的名字,IMPX-C1,1\n"  # the code wins over the name
                      "C-2,只有名字,IMPX-NEW,1\n"  # unknown code: the exact name of a customer without a code
                      "C-3,同名公司,IMPX-NEW2,1\n"  # the name belongs to another code's customer: unknown
                      "C-4,陌生人,,1\n", mapping)
        orders = _orders(session)
        assert orders["C-1"].customer_id == coded.id and orders["C-2"].customer_id == named.id
        assert (job.created_count, job.failed_count) == (2, 2)
        codes = [(r.line, [e["code"] for e in r.errors]) for r in service.list_row_errors(session, actor=admin,
                                                                                           job_id=job.id)]
        assert codes == [(4, ["import.customer_unknown"]), (5, ["import.customer_unknown"])]

    def test_unknown_codes_are_created_with_the_rows_name_when_asked(self, session, connection, admin, now):
        mapping = ImportMapping(columns={"external_id": "no", "customer": "name", "customer_code": "code",
                                         "amount": "a"}, create_customers=True, source="impx")
        job = _import(session, connection, admin, now, "no,name,code,a\nK-1,新客户甲,IMPX-K1,1\nK-2,新客户甲,IMPX-K1,2\n",
                      mapping)
        assert job.created_count == 2
        made = session.exec(select(Customer).where(Customer.code == "IMPX-K1")).scalars().all()
        assert [(c.name, c.code) for c in made] == [("新客户甲", "IMPX-K1")]


class TestWebhookCustomers:
    def _post(self, client, secret, payload):
        body = json.dumps(payload).encode()
        ts = int(utcnow().timestamp())
        return client.post("/api/v1/inbound/impx-shop", content=body, headers={
            "X-Gendan-Timestamp": str(ts), "X-Gendan-Signature": sign(secret, ts, body),
            "Content-Type": "application/json"})

    def test_a_source_may_create_unknown_customers_by_code(self, client, session):
        admin = make_user(session, roles=["admin"])
        session.commit()
        login(client, admin.username)
        created = client.post("/api/v1/inbound-sources", json={"key": "impx-shop", "name": "Shop"}).json()
        assert created["creates_customers"] is False
        order = {"external_id": "W-1", "customer_code": "IMPX-W1", "customer_name": "网店新客", "amount": "5"}
        refused = self._post(client, created["secret"], order)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "inbound.customer_unknown")
        assert client.patch(f"/api/v1/inbound-sources/{created['id']}",
                            json={"creates_customers": True}).json()["creates_customers"] is True
        accepted = self._post(client, created["secret"], {**order, "amount": "6"})
        assert accepted.status_code == 201, accepted.text
        customer = session.exec(select(Customer).where(Customer.code == "IMPX-W1")).scalars().one()
        assert customer.name == "网店新客"
        assert session.get(Order, accepted.json()["order_id"]).customer_id == customer.id
        again = self._post(client, created["secret"], {**order, "amount": "7", "customer_name": "别名"})
        assert again.json()["outcome"] == "updated"  # the same customer, found by code
        assert session.exec(select(func.count()).select_from(Customer).where(Customer.code == "IMPX-W1")
                            ).scalar_one() == 1
        # one audit "create" for it, by the user the source acts as
        made = session.exec(select(AuditEvent.actor_id).where(
            AuditEvent.entity_type == "customer", AuditEvent.entity_key == str(customer.id),
            AuditEvent.action == "create")).scalars().all()
        assert made == [created["acts_as_id"]] and made[0] is not None
        # and by which channel: the source's name, as a connector run or an import file names itself
        after = session.exec(select(AuditEvent.after).where(
            AuditEvent.entity_type == "customer", AuditEvent.entity_key == str(customer.id),
            AuditEvent.action == "create")).scalars().one()
        assert after["via"] == "webhook: Shop"
        page = client.get("/admin/audit?entity_type=customer", headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 200 and "Webhook 推送 Shop" in page.text  # in the reader's language


class TestOrderDates:
    def test_every_date_before_the_order_was_created_is_reported(self, session, admin, now):
        customer = make_customer(session)
        session.commit()
        early = (now.date().replace(year=now.year - 1))
        with pytest.raises(GendanError) as caught:
            orders_service.create_order(session, actor=admin, payload=OrderCreate(
                customer_id=customer.id, amount=Decimal("1"), planned_delivery=early, payment_due=early), now=now)
        assert set(caught.value.fields) == {"planned_delivery", "payment_due"}
        assert caught.value.params == {"count": 2}


class TestUploadCap:
    def test_one_setting_caps_uploads_at_the_door_and_in_the_service(self, settings, connection, session):
        small = settings.model_copy(update={"max_upload_bytes": 2_000})
        admin = make_user(session, roles=["admin"])
        session.commit()
        app = create_app(small, engine=connection, start_worker=False)
        with TestClient(app, base_url="http://testserver") as client:
            login(client, admin.username)
            body = "订单号,客户,金额\n" + "".join(f"IMPX-{i},客户,1\n" for i in range(200))
            resp = client.post("/api/v1/imports", files={"file": ("big.csv", body.encode(), "text/csv")})
            assert resp.status_code == 413
            fits = client.post("/api/v1/imports", files={"file": ("ok.csv", body[:500].encode(), "text/csv")})
            assert fits.status_code == 201, fits.text
        actor = load_actor(session, admin.id)
        with pytest.raises(GendanError) as caught:
            service.upload_import(session, actor=actor, filename="x.csv", content=body.encode(), now=utcnow(),
                                  max_bytes=2_000)
        assert caught.value.code == "import.file_too_large"

    def test_the_inbound_page_sets_and_toggles_the_option(self, client, session):
        from backend.ingest.models import InboundSource

        admin = make_user(session, roles=["admin"], locale="zh_CN")
        session.commit()
        login(client, admin.username)
        resp = client.post("/admin/inbound", data={"key": "impx-page", "name": "页面来源", "creates_customers": "on"},
                           follow_redirects=False)
        assert resp.status_code == 303
        source = session.exec(select(InboundSource).where(InboundSource.key == "impx-page")).scalars().one()
        assert source.creates_customers is True
        assert "按编号自动创建未知客户" in client.get("/admin/inbound").text
        client.post(f"/admin/inbound/{source.id}/customers", data={"creates_customers": "off"}, follow_redirects=False)
        session.refresh(source)
        assert source.creates_customers is False
        assert "拒绝未知的客户编号" in client.get("/admin/inbound").text


class TestResultsApi:
    def test_the_per_row_outcomes_download_over_the_api(self, client, session, connection, now):
        admin = make_user(session, roles=["admin"], locale="en")
        make_customer(session, name="API Co")
        session.commit()
        login(client, admin.username)
        up = client.post("/api/v1/imports", files={"file": ("a.csv", b"no,c,a\nIMPX-A1,API Co,1\nIMPX-A2,API Co,x\n",
                                                             "text/csv")})
        job_id = up.json()["job"]["id"]
        started = client.post(f"/api/v1/imports/{job_id}/start", json={
            "columns": {"external_id": "no", "customer": "c", "amount": "a"}, "source": "impx"})
        assert started.status_code == 200, started.text
        service.run_to_end(connection, job_id, now)
        read = client.get(f"/api/v1/imports/{job_id}").json()
        assert (read["created_count"], read["updated_count"], read["unchanged_count"], read["failed_count"]) == (
            1, 0, 0, 1)
        resp = client.get(f"/api/v1/imports/{job_id}/results.csv")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(resp.text.lstrip("\ufeff"))))
        assert rows[0][:2] == ["Line", "Outcome"]
        assert [(r[0], r[1], r[3]) for r in rows[1:]] == [("2", "Created", "IMPX-A1"), ("3", "Failed", "IMPX-A2")]
        assert client.get("/api/v1/imports/999999/results.csv").status_code == 404
