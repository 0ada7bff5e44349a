"""Mapping editor backend (issue 13): transforms in the records path (preview and a real run),
versions on every save, restore, export/import round trip, bad imports as 4xx in the user's
language. SQLite and PostgreSQL, against the real local HTTP source."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from backend.connectors import mapping as mapping_service
from backend.connectors import service
from backend.connectors.mapping_models import ConnectorMappingVersion
from backend.connectors.schemas import ConnectorCreate
from backend.errors import GendanError
from backend.orders.models import Order
from tests.backend.connectors.test_runner import _orders, _run, payload
from tests.conftest import login
from tests.factories.people import make_user

FEN = [{"id": "FEN-1", "buyer": {"code": "K1", "name": "买家1"}, "amount_fen": "123456", "status": "已签约",
        "signed": "31/12/2026"},
       {"id": "FEN-2", "buyer": {"code": "K2", "name": "买家2"}, "amount_fen": "abc", "status": "已签约",
        "signed": "01/12/2026"},
       {"id": "FEN-3", "buyer": {"code": "K1", "name": "买家1"}, "amount_fen": "500", "status": "新",
        "signed": "yesterday"}]
MAPPING = {"columns": {"external_id": "id", "customer_code": "buyer.code", "customer": "buyer.name",
                       "amount": "amount_fen", "stage": "status", "created": "signed"},
           "transforms": {"amount": [{"op": "scale", "mode": "divide", "by": "100"}],
                          "stage": [{"op": "map", "values": {"已签约": "approval"}, "default": "draft"}],
                          "created": [{"op": "date", "pattern": "%d/%m/%Y"}]},
           "create_customers": True, "source": "fen", "timezone": "Asia/Shanghai"}


def _admin_client(session, client, locale="en"):
    user = make_user(session, roles=["admin"], locale=locale)
    session.commit()
    login(client, user.username)
    return user


class TestTransformsInTheRecordsPath:
    def test_preview_applies_transforms_and_names_the_failing_step(self, session, client):
        _admin_client(session, client)
        resp = client.post("/api/v1/connectors/mapping-preview", json={"records": FEN, "mapping": MAPPING})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert {"buyer.code", "amount_fen", "status", "signed"} <= set(body["paths"])
        first, second, third = body["previews"]
        assert (first["values"]["amount"], first["values"]["stage"], first["errors"]) == ("1234.56", "approval", [])
        assert third["values"]["stage"] == "draft"
        assert second["errors"] == ["amount_fen: Step 1 (unit/scale) of Amount: abc is not a number."]
        assert third["errors"] == ["signed: Step 1 (date format) of Order date: yesterday is not a date in the format "
                                   "%d/%m/%Y."]

    def test_a_half_typed_time_zone_is_a_422_not_a_500(self, session, client):
        _admin_client(session, client)
        for zone in ("Asia/Sha", "../../etc/passwd", "Asia/Shanghai\x00"):
            resp = client.post("/api/v1/connectors/mapping-preview",
                               json={"records": FEN, "mapping": {**MAPPING, "timezone": zone}})
            assert resp.status_code == 422, (zone, resp.text)
            assert "Unknown time zone" in resp.json()["error"]["fields"]["mapping.timezone"]["message"]

    def test_errors_are_in_the_users_language(self, session, client):
        _admin_client(session, client, locale="zh-CN")
        resp = client.post("/api/v1/connectors/mapping-preview", json={"records": FEN[1:2], "mapping": MAPPING})
        assert resp.json()["previews"][0]["errors"] == ["amount_fen: 金额的第 1 步（单位换算）：abc 不是数字。"]

    def test_a_run_writes_transformed_values_and_keeps_the_bad_record(self, session, connection, admin, now, source):
        source.records[:] = FEN
        body = payload(source.url + "/orders/link?page=1").model_dump()
        body["mapping"] = MAPPING
        c = service.create_connector(session, actor=admin, payload=ConnectorCreate.model_validate(body), now=now)
        run = _run(connection, c.id, now)
        assert (run.created_count, run.failed_count) == (1, 2)
        order = _orders(session, "fen")["FEN-1"]
        assert (str(order.amount), order.stage) == ("1234.56", "approval")

    def test_bad_transforms_are_refused_on_save(self, session, admin, now, source):
        body = payload(source.url + "/orders/link?page=1").model_dump()
        body["mapping"] = {**MAPPING, "transforms": {"amount": [{"op": "scale", "by": "0"}],
                                                     "created": [{"op": "date", "pattern": "%Q"}],
                                                     "nonsense": [{"op": "trim"}]}}
        with pytest.raises(GendanError) as info:
            service.create_connector(session, actor=admin, payload=ConnectorCreate.model_validate(body), now=now)
        codes = {k: v[0] for k, v in info.value.fields.items()}
        assert codes.items() >= {"mapping.transforms.amount": "transform.factor_invalid",
                                 "mapping.transforms.created": "transform.pattern_invalid",
                                 "mapping.transforms.nonsense": "transform.target_unknown"}.items()


class TestVersions:
    def test_each_save_that_changes_the_mapping_is_a_version(self, session, client, source):
        _admin_client(session, client)
        created = client.post("/api/v1/connectors", json=payload(source.url + "/orders/link?page=1").model_dump(
            mode="json"))
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        saved = client.put(f"/api/v1/connectors/{cid}/mapping", json={"mapping": MAPPING})
        assert saved.status_code == 200, saved.text
        assert saved.json()["version"] == 2
        again = client.put(f"/api/v1/connectors/{cid}/mapping", json={"mapping": MAPPING})
        assert again.json()["version"] == 2  # nothing changed: no new version
        listed = client.get(f"/api/v1/connectors/{cid}/mapping/versions").json()
        assert [v["version"] for v in listed] == [2, 1] and listed[0]["fields"] == 6
        restored = client.post(f"/api/v1/connectors/{cid}/mapping/versions/1/restore")
        assert restored.status_code == 200 and restored.json()["version"] == 3
        current = client.get(f"/api/v1/connectors/{cid}").json()["mapping"]
        assert current["columns"]["amount"] == "total" and current["transforms"] == {}
        assert client.get(f"/api/v1/connectors/{cid}/mapping/versions/9").status_code == 404
        rows = session.exec(select(ConnectorMappingVersion.version, ConnectorMappingVersion.note)
                            .where(ConnectorMappingVersion.connector_id == cid)
                            .order_by(ConnectorMappingVersion.version)).all()
        assert [tuple(r) for r in rows] == [(1, None), (2, None), (3, "restored:1")]

    def test_a_save_without_the_id_path_is_refused_and_keeps_the_version(self, session, client, source):
        _admin_client(session, client)
        cid = client.post("/api/v1/connectors", json=payload(source.url + "/orders/link?page=1").model_dump(
            mode="json")).json()["id"]
        bad = {**MAPPING, "columns": {k: v for k, v in MAPPING["columns"].items() if k != "external_id"}}
        resp = client.put(f"/api/v1/connectors/{cid}/mapping", json={"mapping": bad})
        assert resp.status_code == 422
        assert "mapping.external_id" in resp.json()["error"]["fields"]
        assert mapping_service.count_versions(session, cid) == 1


class TestExportImport:
    def test_round_trip(self, session, client, source):
        _admin_client(session, client)
        cid = client.post("/api/v1/connectors", json=payload(source.url + "/orders/link?page=1").model_dump(
            mode="json")).json()["id"]
        client.put(f"/api/v1/connectors/{cid}/mapping", json={"mapping": MAPPING})
        exported = client.get(f"/api/v1/connectors/{cid}/mapping/export")
        assert exported.status_code == 200
        assert "attachment" in exported.headers["content-disposition"]
        document = exported.json()
        assert document["format"] == "gendan.connector_mapping" and document["version"] == 2
        client.post(f"/api/v1/connectors/{cid}/mapping/versions/1/restore")
        imported = client.post(f"/api/v1/connectors/{cid}/mapping/import", content=exported.content,
                               headers={"Content-Type": "application/json"})
        assert imported.status_code == 200, imported.text
        assert imported.json()["version"] == 4 and imported.json()["note"] == "imported"
        assert client.get(f"/api/v1/connectors/{cid}").json()["mapping"] == document["mapping"]
        as_file = client.post(f"/api/v1/connectors/{cid}/mapping/import",
                              files={"file": ("m.json", exported.content, "application/json")})
        assert as_file.status_code == 200 and as_file.json()["version"] == 5

    def test_bad_files_are_clear_4xx_in_the_users_language(self, session, client, source):
        _admin_client(session, client, locale="zh-CN")
        cid = client.post("/api/v1/connectors", json=payload(source.url + "/orders/link?page=1").model_dump(
            mode="json")).json()["id"]
        url = f"/api/v1/connectors/{cid}/mapping/import"
        cases = [
            (b"{not json", 422, "mapping.bad_json", "不是有效的 JSON"),
            (b"[1, 2]", 422, "mapping.not_a_mapping", "不是导出的跟单映射"),
            (json.dumps({"format": "gendan.connector_mapping", "mapping": MAPPING, "evil": 1}).encode(), 422,
             "mapping.unknown_fields", "evil"),
            (json.dumps({**MAPPING, "columns_typo": {}}).encode(), 422, "mapping.unknown_fields", "columns_typo"),
            (json.dumps({"columns": "x"}).encode(), 422, "mapping.invalid", "columns"),
            (json.dumps({**MAPPING, "transforms": {"amount": [{"op": "exec"}]}}).encode(), 422, "mapping.invalid",
             "transforms"),
            (b"[" * 100_000, 422, "mapping.bad_json", "JSON"),
            (b" " * 600_000, 413, "mapping.import_too_large", "字节"),
        ]
        for body, status, code, words in cases:
            resp = client.post(url, content=body, headers={"Content-Type": "application/json"})
            assert resp.status_code == status, (body[:40], resp.text)
            error = resp.json()["error"]
            assert error["code"] == code and words in error["message"], (code, error)
        assert mapping_service.count_versions(session, cid) == 1

    def test_admins_only(self, session, client):
        user = make_user(session, roles=["sales"])
        session.commit()
        login(client, user.username)
        resp = client.post("/api/v1/connectors/mapping-preview", json={"records": FEN, "mapping": MAPPING})
        assert resp.status_code == 403
        assert session.exec(select(Order).where(Order.source == "fen")).first() is None


class TestTheConnectorFormKeepsTransforms:
    def test_saving_the_form_keeps_the_editors_transforms(self, session, client, source):
        from tests.backend.connectors.test_pages import _form

        _admin_client(session, client)
        url = source.url + "/orders/link?page=1"
        cid = client.post("/api/v1/connectors", json=payload(url, name="page shop").model_dump(mode="json")).json()["id"]
        assert client.put(f"/api/v1/connectors/{cid}/mapping", json={"mapping": {
            **MAPPING, "columns": {**MAPPING["columns"], "amount": "total"},
            "transforms": {"amount": [{"op": "scale", "mode": "multiply", "by": "2"}],
                           "currency": [{"op": "constant", "value": "USD"}]}}}).status_code == 200
        form = _form(url, connector_id=str(cid))
        sample = client.post("/admin/connectors-sample", data=form, headers={"HX-Request": "true"})
        assert "amount: 2003<" in sample.text and "currency: USD" in sample.text, sample.text
        saved = client.post(f"/admin/connectors/{cid}", data=form, follow_redirects=False)
        assert saved.status_code == 303, saved.text
        kept = client.get(f"/api/v1/connectors/{cid}").json()["mapping"]["transforms"]
        assert kept == {"amount": [{"op": "scale", "mode": "multiply", "by": "2"}],
                        "currency": [{"op": "constant", "value": "USD"}]}


class TestPages:
    def test_editor_pages_and_links(self, session, client, source):
        _admin_client(session, client)
        cid = client.post("/api/v1/connectors", json=payload(source.url + "/orders/link?page=1").model_dump(
            mode="json")).json()["id"]
        page = client.get(f"/admin/connectors/{cid}/mapping")
        assert page.status_code == 200
        assert "Mapping of shop" in page.text and 'data-target="amount"' in page.text
        assert f'"connector_id": {cid}' in page.text and "Divide by 100 (fen → yuan)" in page.text
        assert f'href="/admin/connectors/{cid}/mapping"' in client.get(f"/admin/connectors/{cid}").text
        assert f'href="/admin/connectors/{cid}/mapping" target="_blank"' in client.get(
            f"/admin/connectors/{cid}/edit").text
        new = client.get("/admin/connectors/mapping-editor")
        assert new.status_code == 200 and "Mapping editor for a new connector" in new.text
        assert 'href="/admin/connectors/mapping-editor"' in client.get("/admin/connectors/new").text

    def test_a_record_value_cannot_close_the_script_tag(self, session, client, source):
        _admin_client(session, client)
        body = payload(source.url + "/orders/link?page=1").model_dump(mode="json")
        body["mapping"]["source"] = "shop"
        body["mapping"]["stage_map"] = {"</script><script>alert(1)</script>": "approval"}
        cid = client.post("/api/v1/connectors", json=body).json()["id"]
        page = client.get(f"/admin/connectors/{cid}/mapping")
        assert "</script><script>alert(1)" not in page.text

    def test_not_for_non_admins(self, session, client):
        user = make_user(session, roles=["sales"])
        session.commit()
        login(client, user.username)
        assert client.get("/admin/connectors/mapping-editor").status_code == 403
