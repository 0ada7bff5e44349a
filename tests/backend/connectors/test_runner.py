"""Issue 13: HTTP JSON pull connectors against a real local HTTP server, on SQLite and PostgreSQL.

Paging by next link and by cursor, retries on 500, OAuth2 client credentials, the cursor moving
only with the records it covers, secrets encrypted at rest and never returned, pausing after N
failures with a notification, hostile answers as errors that stop nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from backend import i18n
from backend.connectors import runner, service
from backend.connectors.models import Connector, ConnectorRecordError
from backend.connectors.schemas import ConnectorCreate
from backend.customers.models import Customer
from backend.notify.models import Notification
from backend.orders.models import Order
from backend.pipeline import NamedStage, Pipeline, attach
from backend.pipeline_assembly import build_pipeline
from tests.backend.connectors.conftest import records
from tests.factories.connector_source import CLIENT_ID, CLIENT_SECRET

COLUMNS = {"external_id": "id", "number": "no", "customer_code": "buyer.code", "customer": "buyer.name",
           "amount": "total", "stage": "status", "created": "updated"}


def payload(url: str, *, name: str = "shop", paging: str = "next_link", records_path: str = "data.items",
            **settings) -> ConnectorCreate:
    secrets = settings.pop("secrets", {})
    return ConnectorCreate.model_validate({
        "name": name, "settings": {"url_template": url, "paging": paging, "records_path": records_path,
                                   "next_link_path": "links.next", "next_cursor_path": "next_cursor",
                                   "rate_limit_per_second": 100, **settings},
        "secrets": secrets,
        "mapping": {"columns": COLUMNS, "stage_map": {"已签约": "approval"}, "create_customers": True,
                    "source": "shop", "timezone": "Asia/Shanghai"},
        "schedule_minutes": 5})


def _orders(session, source="shop") -> dict[str, Order]:
    session.expire_all()
    return {o.external_id: o for o in session.exec(select(Order).where(Order.source == source)).scalars()}


def _run(connection, connector_id, now, **kw):
    kw.setdefault("sleep", lambda s: None)
    return runner.run_connector(connection, connector_id, now, trigger="manual", **kw)


class TestPaging:
    def test_next_link_pages_make_orders_with_mapped_values(self, session, connection, admin, now, source):
        c = service.create_connector(session, actor=admin, payload=payload(source.url + "/orders/link?page=1"), now=now)
        run = _run(connection, c.id, now)
        assert (run.status, run.read_count, run.created_count, run.failed_count) == ("ok", 5, 5, 0)
        orders = _orders(session)
        assert sorted(orders) == [f"CON-B{i}" for i in range(1, 6)]
        o = orders["CON-B3"]
        assert (o.number, str(o.amount), o.stage) == ("CON-B3", "1003.50", "approval")
        customer = session.get(Customer, o.customer_id)
        assert (customer.code, customer.name) == ("K1", "买家1")
        assert [p for p in source.requests if p.startswith("/orders")] == [
            "/orders/link?page=1", "/orders/link?page=2", "/orders/link?page=3"]

    def test_a_second_run_changes_only_what_changed(self, session, connection, admin, now, source):
        c = service.create_connector(session, actor=admin, payload=payload(source.url + "/orders/link?page=1"), now=now)
        _run(connection, c.id, now)
        source.records[1]["total"] = "9999.00"
        run = _run(connection, c.id, now + timedelta(minutes=5))
        assert (run.created_count, run.updated_count, run.unchanged_count) == (0, 1, 4)
        assert str(_orders(session)["CON-B2"].amount) == "9999.00"

    def test_cursor_paging_resumes_from_the_stored_token(self, session, connection, admin, now, source):
        c = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/orders/cursor?cursor={cursor}", paging="cursor", records_path="items"), now=now)
        run = _run(connection, c.id, now)
        assert run.created_count == 5
        session.expire_all()
        cursor = session.get(Connector, c.id).cursor
        assert cursor["token"] == "4"  # the last page's token
        # and the place in it: that page's one record is written (backend/connectors/page_position.py)
        assert {k: cursor["at"][k] for k in ("token", "done", "id")} == {"token": "4", "done": 1, "id": "CON-B5"}
        source.records.append(records(6)[5])
        source.requests.clear()
        run = _run(connection, c.id, now + timedelta(minutes=5))
        assert source.requests == ["/orders/cursor?cursor=4"]
        # the last page asked again: B5 is skipped (not read again), B6 is new
        assert (run.read_count, run.created_count, run.unchanged_count) == (1, 1, 0)


class TestRetriesAndAuth:
    def test_two_500s_then_success(self, session, connection, admin, now, source):
        source.fail_times = 2
        sleeps = []
        c = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/flaky", paging="none", records_path="items"), now=now)
        run = _run(connection, c.id, now, sleep=sleeps.append)
        assert (run.status, run.created_count) == ("ok", 5)
        assert source.requests == ["/flaky"] * 3
        backoffs = [s for s in sleeps if s >= 0.5]
        assert backoffs == [0.5, 1.0]  # exponential

    def test_timeouts_are_retried_then_reported(self, session, connection, admin, now, source):
        c = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/slow?seconds=2", paging="none", records_path="items", timeout_seconds=0.2,
            max_retries=1), now=now)
        run = _run(connection, c.id, now)
        assert (run.status, run.error["code"]) == ("failed", "connector.http_timeout")
        assert source.requests == ["/slow?seconds=2"] * 2

    def test_rate_limit_spaces_the_requests(self, source):
        from backend.connectors.http_pull import HttpPull
        from backend.connectors.schemas import HttpJsonSettings

        sleeps = []
        config = HttpJsonSettings(url_template=source.url + "/orders/link?page=1", paging="next_link",
                                  next_link_path="links.next", records_path="data.items", rate_limit_per_second=2)
        with HttpPull(config, {}, sleep=sleeps.append, monotonic=lambda: 100.0) as pull:  # a clock that stands still
            assert sum(len(p.records) for p in pull.pages()) == 5
        assert sleeps == [0.5, 0.5]  # three pages, a wait before each after the first

    def test_oauth2_client_credentials_token_fetched_once_and_cached(self, session, connection, admin, now, source):
        source.require_oauth = True
        c = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/orders/link?page=1", auth="oauth2_client_credentials", token_url=source.url + "/token",
            client_id=CLIENT_ID, secrets={"client_secret": CLIENT_SECRET}), now=now)
        run = _run(connection, c.id, now)
        assert (run.status, run.created_count) == ("ok", 5)
        assert source.token_requests == 1  # three pages, one token

    def test_wrong_client_secret_fails_the_run_with_a_clear_error(self, session, connection, admin, now, source):
        source.require_oauth = True
        c = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/orders/link?page=1", auth="oauth2_client_credentials", token_url=source.url + "/token",
            client_id=CLIENT_ID, secrets={"client_secret": "wrong"}), now=now)
        run = _run(connection, c.id, now)
        assert run.status == "failed" and run.error["code"] == "connector.oauth_failed"
        read = service.get_connector(session, actor=admin, connector_id=c.id, now=now)
        assert "401" in read.last_error_message
        assert _orders(session) == {}


class TestSecrets:
    def test_secrets_are_encrypted_in_the_database_and_never_returned(self, session, connection, admin, now,
                                                                       source, client):
        c = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/orders/link?page=1", secret_header_name="X-Api-Key",
            secrets={"secret_header_value": "very-secret-value-42"}), now=now)
        raw = session.execute(text("SELECT secrets FROM connector WHERE id = :id"), {"id": c.id}).scalar_one()
        assert raw and "very-secret-value-42" not in raw
        assert c.saved_secrets == ["secret_header_value"]
        assert "very-secret-value-42" not in c.model_dump_json()

    def test_api_never_answers_a_secret_and_blank_keeps_it(self, session, client, admin, now, source):
        from tests.conftest import login

        user = session.get(__import__("backend.people.models", fromlist=["User"]).User, admin.user_id)
        login(client, user.username)
        body = payload(source.url + "/orders/link?page=1", secret_header_name="X-Api-Key",
                       secrets={"secret_header_value": "very-secret-value-42"}).model_dump(mode="json")
        created = client.post("/api/v1/connectors", json=body)
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        for resp in (created, client.get(f"/api/v1/connectors/{cid}"), client.get("/api/v1/connectors"),
                     client.patch(f"/api/v1/connectors/{cid}", json={"secrets": {"secret_header_value": ""}})):
            assert resp.status_code in (200, 201), resp.text
            assert "very-secret-value-42" not in resp.text
        assert client.get(f"/api/v1/connectors/{cid}").json()["saved_secrets"] == ["secret_header_value"]

    def test_settings_of_another_kind_are_refused(self, session, admin, now, source):
        from pydantic import ValidationError

        from backend.errors import GendanError

        body = payload(source.url + "/orders/link?page=1").model_dump(mode="json")
        for kind in ("sql", "folder"):  # HTTP settings under another kind's name: the API's schema says no
            with pytest.raises(ValidationError, match=f"not those of kind {kind}"):
                ConnectorCreate.model_validate({**body, "kind": kind})
        # and the service's one check says it too (an update names no kind: the connector's is used)
        with pytest.raises(GendanError) as err:
            service.check(ConnectorCreate.model_validate(body).settings, ConnectorCreate.model_validate(body).mapping,
                          5, None, "folder")
        assert (err.value.code, err.value.params) == ("connector.settings_kind", {"kind": "folder"})


class TestCursorAndTransactions:
    def test_cursor_not_advanced_past_a_record_whose_transaction_failed(self, session, connection, admin, now,
                                                                         source):
        c = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/orders/cursor?cursor={cursor}", paging="cursor", records_path="items",
            since_path="updated"), now=now)
        seen = []

        def explode(s, change):
            seen.append(change.order.external_id)
            if change.order.external_id == "CON-B3":
                raise RuntimeError("stage broke")

        broken = build_pipeline()
        broken = Pipeline(checks=broken.checks, stages=(*broken.stages, NamedStage("boom", explode)),
                          appliers=broken.appliers)
        attach(connection, broken)
        try:
            run = _run(connection, c.id, now)
        finally:
            attach(connection, build_pipeline())
        assert run.status == "failed" and run.error["code"] == "connector.run_internal"
        assert sorted(_orders(session)) == ["CON-B1", "CON-B2"]
        session.expire_all()
        cursor = session.get(Connector, c.id).cursor
        # B2 closed its page: the token asks B3's page (not B2's again), the time is B2's, not B3's
        at = cursor.pop("at")
        assert cursor == {"token": "2", "since": "2026-11-22 10:00"}
        assert {k: at[k] for k in ("token", "done")} == {"token": "2", "done": 0}
        run = _run(connection, c.id, now + timedelta(minutes=1))  # fixed: reads on, doubles nothing
        assert run.status == "ok"
        assert sorted(_orders(session)) == [f"CON-B{i}" for i in range(1, 6)]


class TestPause:
    def test_paused_after_n_failures_in_a_row_and_owner_notified(self, session, connection, admin, now, source):
        body = payload(source.url + "/down", paging="none", max_retries=0)
        body.max_failures = 3
        c = service.create_connector(session, actor=admin, payload=body, now=now)
        for i in range(3):
            run = _run(connection, c.id, now + timedelta(minutes=i))
            assert run.status == "failed"
        session.expire_all()
        row = session.get(Connector, c.id)
        assert (row.is_enabled, row.paused_reason, row.failures_in_row) == (False, "failures", 3)
        notes = session.exec(select(Notification).where(Notification.user_id == admin.user_id)).scalars().all()
        assert len(notes) == 1 and "shop" in notes[0].title and "500" in notes[0].body
        assert runner.run_due_connectors(connection, now + timedelta(days=1)) == 0  # paused: not due

    def test_a_success_resets_the_count(self, session, connection, admin, now, source):
        source.fail_times = 1
        body = payload(source.url + "/flaky", paging="none", records_path="items", max_retries=0)
        c = service.create_connector(session, actor=admin, payload=body, now=now)
        assert _run(connection, c.id, now).status == "failed"
        assert _run(connection, c.id, now).status == "ok"
        session.expire_all()
        assert session.get(Connector, c.id).failures_in_row == 0


class TestHostile:
    @pytest.mark.parametrize(("path", "code"), [("/huge", "connector.response_too_large"),
                                                ("/deep", "connector.response_too_deep"),
                                                ("/html", "connector.response_not_json")])
    def test_bad_answers_fail_the_run_not_the_worker(self, session, connection, admin, now, source, path, code):
        bad = service.create_connector(session, actor=admin, payload=payload(
            source.url + path, name="bad", paging="none", records_path="items", max_response_bytes=1_000_000,
            max_retries=0), now=now)
        good = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/orders/link?page=1", name="good"), now=now)
        assert runner.run_due_connectors(connection, now) == 5
        session.expire_all()
        assert session.get(Connector, bad.id).last_error["code"] == code
        assert session.get(Connector, good.id).last_status == "ok"

    def test_bad_dates_and_missing_ids_are_row_errors_kept_with_the_record(self, session, connection, admin,
                                                                          now, source):
        source.records[0]["updated"] = "31/31/2026"
        del source.records[1]["id"]
        source.records[2]["total"] = "lots"
        c = service.create_connector(session, actor=admin, payload=payload(source.url + "/orders/link?page=1"),
                                     now=now)
        run = _run(connection, c.id, now)
        assert (run.status, run.created_count, run.failed_count) == ("ok", 2, 3)
        errors = service.list_record_errors(session, actor=admin, connector_id=c.id)
        by_pos = {e.position: e for e in errors}
        assert by_pos[1].errors[0]["code"] == "import.date_invalid" and by_pos[1].record["id"] == "CON-B1"
        assert by_pos[2].errors[0]["code"] == "connector.record_id_missing"
        token = i18n.set_locale("en")
        try:
            messages = service.list_record_errors(session, actor=admin, connector_id=c.id)[0].messages
        finally:
            i18n.reset_locale(token)
        assert messages == ["total: lots is not an amount."]
        stored = session.exec(select(ConnectorRecordError)).scalars().all()
        assert len(stored) == 3
        read = service.get_connector(session, actor=admin, connector_id=c.id, now=now)
        assert read.last_error_record["position"] == 3

    def test_record_count_per_run_is_bounded(self, session, connection, admin, now, source):
        c = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/orders/link?page=1", max_records_per_run=3), now=now)
        run = _run(connection, c.id, now)
        assert run.read_count == 3


class TestAccess:
    def test_non_admins_get_403(self, session, client, now):
        from tests.conftest import login
        from tests.factories.people import make_user

        sales = make_user(session, roles=["sales"])
        session.commit()
        login(client, sales.username)
        assert client.get("/api/v1/connectors").status_code == 403
        assert client.post("/api/v1/connectors/sample", json={"settings": {"url_template": "http://x.example/"}}
                           ).status_code == 403


class TestScheduleLeaseAndReread:
    def test_cron_schedule_sets_the_next_run_in_the_installation_zone(self, session, connection, admin, now, source):
        body = payload(source.url + "/orders/link?page=1")
        body.schedule_minutes, body.schedule_cron = None, "0 8 * * *"
        c = service.create_connector(session, actor=admin, payload=body, now=now)
        assert runner.run_due_connectors(connection, now) == 5
        session.expire_all()
        nxt = session.get(Connector, c.id).next_run_at
        assert nxt.hour == 0 and nxt.minute == 0 and nxt > now  # 08:00 in Shanghai (the default zone)
        assert runner.run_due_connectors(connection, now + timedelta(minutes=10)) == 0  # not due yet

    def test_a_connector_held_by_another_worker_is_not_run(self, session, connection, admin, now, source):
        from backend.worker import lease

        c = service.create_connector(session, actor=admin, payload=payload(source.url + "/orders/link?page=1"), now=now)
        held = lease.acquire(connection, f"connector:{c.id}", timedelta(minutes=5), holder="other-worker")
        assert held is not None
        assert _run(connection, c.id, now) is None
        assert _orders(session) == {}
        lease.release(connection, held)
        assert _run(connection, c.id, now).created_count == 5

    def test_reread_from_a_date_sends_it_as_since_and_forgets_the_token(self, session, connection, admin, now,
                                                                      source, client):
        c = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/orders/cursor?cursor={cursor}&since={since}", paging="cursor", records_path="items",
            since_path="updated"), now=now)
        _run(connection, c.id, now)
        session.expire_all()
        assert session.get(Connector, c.id).cursor["since"] == "2026-11-25 10:00"
        from datetime import date

        service.reread_from(session, actor=admin, connector_id=c.id, since=date(2026, 11, 1), now=now)
        source.requests.clear()
        _run(connection, c.id, now)
        assert source.requests[0] == "/orders/cursor?cursor=&since=2026-11-01"

    def test_sample_previews_orders_and_errors_without_writing(self, session, admin, now, source):
        source.records[0]["total"] = "n/a"
        body = payload(source.url + "/orders/link?page=1")
        body.mapping.create_customers = False
        sample = service.fetch_sample(session, actor=admin, settings=body.settings, secrets=body.secrets,
                                      mapping=body.mapping)
        assert [r["id"] for r in sample.records] == ["CON-B1", "CON-B2"]
        assert "buyer.code" in sample.paths
        first, second = sample.previews
        assert first.errors and "n/a" in first.errors[0]
        assert second.values["stage"] == "approval" and second.errors  # customer K0 unknown, not created
        assert _orders(session) == {}


class TestApi:
    def test_run_reread_runs_and_errors_over_the_api(self, session, client, admin, now, source):
        from backend.people.models import User
        from tests.conftest import login

        login(client, session.get(User, admin.user_id).username)
        source.records[0]["total"] = "free"
        body = payload(source.url + "/orders/link?page=1").model_dump(mode="json")
        cid = client.post("/api/v1/connectors", json=body).json()["id"]
        run = client.post(f"/api/v1/connectors/{cid}/run")
        assert run.status_code == 200, run.text
        assert (run.json()["created_count"], run.json()["failed_count"]) == (4, 1)
        assert [r["trigger"] for r in client.get(f"/api/v1/connectors/{cid}/runs").json()] == ["manual"]
        errors = client.get(f"/api/v1/connectors/{cid}/errors").json()  # in the user's language (en)
        assert errors[0]["record"]["total"] == "free" and errors[0]["messages"] == ["total: free is not an amount."]
        reread = client.post(f"/api/v1/connectors/{cid}/reread", json={"since": "2026-11-01"})
        assert reread.json()["cursor"] == {"since": "2026-11-01"}
        assert client.post(f"/api/v1/connectors/{cid}/reread", json={"since": "yesterday"}).status_code == 422
        assert client.get("/api/v1/connectors/999999").status_code == 404
        bad = client.post("/api/v1/connectors", json={**body, "name": "other", "schedule_cron": "99 * * * *"})
        assert bad.status_code == 422 and bad.json()["error"]["fields"]["schedule"]
        taken = client.post("/api/v1/connectors", json=body)
        assert taken.status_code == 409

    def test_secrets_saved_under_another_key_are_asked_for_again(self, session, admin, now, source, monkeypatch):
        from cryptography.fernet import Fernet

        from backend.connectors import crypto

        c = service.create_connector(session, actor=admin, payload=payload(
            source.url + "/orders/link?page=1", secret_header_name="X-Api-Key",
            secrets={"secret_header_value": "old-secret"}), now=now)
        monkeypatch.setenv(crypto.ENV, Fernet.generate_key().decode())
        read = service.get_connector(session, actor=admin, connector_id=c.id)
        assert read.saved_secrets == []
        with pytest.raises(Exception) as caught:
            crypto.decrypt(session.get(Connector, c.id).secrets)
        assert getattr(caught.value, "code", "") == "connector.secrets_unreadable"


class TestDesignedFields:
    FORM = {"key": "order", "fields": [
        {"key": "con_shipped_at", "type": "datetime", "label": {"zh-CN": "发货时间", "en": "Shipped at"}},
        {"key": "con_incoterm", "type": "single_select", "label": {"zh-CN": "贸易条款", "en": "Incoterm"},
         "options": [{"value": "FOB", "label": {"zh-CN": "离岸价", "en": "Free on board"}},
                     {"value": "CIF", "label": {"zh-CN": "到岸价", "en": "Cost, insurance, freight"}}]},
    ]}

    def test_nested_values_fill_designed_fields_and_unknown_customers_are_row_errors(self, session, connection,
                                                                                   admin, now, source):
        from backend.auth.service import load_actor
        from backend.forms import service as forms_service
        from tests.factories.orders import make_customer
        from tests.factories.people import make_user

        designer = load_actor(session, make_user(session, roles=["designer"]).id)
        forms_service.save_draft(session, actor=designer, key="order", definition=self.FORM, now=now)
        forms_service.publish_form(session, actor=designer, key="order", now=now)
        make_customer(session, name="买家1", code="K1")
        session.commit()
        for r in source.records:
            r["shipping"] = {"at": "2026-11-20 09:30", "terms": ["离岸价"]}
        body = payload(source.url + "/orders/link?page=1")
        body.mapping.columns.update({"data.con_shipped_at": "shipping.at", "data.con_incoterm": "shipping.terms[0]"})
        body.mapping.create_customers = False
        c = service.create_connector(session, actor=admin, payload=body, now=now)
        run = _run(connection, c.id, now)
        assert (run.created_count, run.failed_count) == (3, 2)  # K0 is nobody; K1 exists
        order = _orders(session)["CON-B1"]
        assert order.data == {"con_shipped_at": "2026-11-20T01:30:00Z", "con_incoterm": "FOB"}  # Shanghai -> UTC
        codes = {e.external_id: e.errors[0]["code"]
                 for e in service.list_record_errors(session, actor=admin, connector_id=c.id)}
        assert codes == {"CON-B2": "import.customer_unknown", "CON-B4": "import.customer_unknown"}
