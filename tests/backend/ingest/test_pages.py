"""Admin → Imports and Admin → Inbound sources as plain forms (no browser needed)."""

from __future__ import annotations

import re

from backend.ingest import service
from tests.conftest import login
from tests.factories.orders import make_customer
from tests.factories.people import make_user

CSV = "订单号,客户,金额,交货日期\nP-1,{c},100,2026-12-31\nP-2,{c},200,2026-99-01\n"


def _admin(client, session):
    admin = make_user(session, roles=["admin"])
    customer = make_customer(session, name="页面客户")
    session.commit()
    login(client, admin.username)
    return customer


class TestImportPages:
    def test_upload_map_start_progress_and_results(self, client, session, connection, now):
        customer = _admin(client, session)
        page = client.get("/admin/users")
        assert 'href="/admin/imports"' in page.text and 'href="/admin/inbound"' in page.text
        resp = client.post("/admin/imports", files={"file": ("订单.csv", CSV.format(c=customer.name).encode("gbk"),
                                                              "text/csv")}, follow_redirects=False)
        assert resp.status_code == 303, resp.text
        job_url = resp.headers["location"]
        mapping = client.get(job_url)
        # the Chinese headers are mapped already
        assert re.search(r'name="col_external_id".*?<option value="订单号" selected', mapping.text, re.S)
        assert re.search(r'name="col_planned_delivery".*?<option value="交货日期" selected', mapping.text, re.S)
        form = {"col_external_id": "订单号", "col_customer": "客户", "col_amount": "金额",
                "col_planned_delivery": "交货日期", "source": "page-csv", "timezone": "Asia/Shanghai"}
        started = client.post(f"{job_url}/start", data=form, follow_redirects=False)
        assert started.status_code == 303
        queued = client.get(job_url, headers={"HX-Request": "true", "HX-Target": "imports-progress"})
        assert 'hx-trigger="every 1s"' in queued.text and "<html" not in queued.text
        job_id = int(job_url.rsplit("/", 1)[1])
        service.run_to_end(connection, job_id, now)
        done = client.get(job_url, headers={"HX-Request": "true", "HX-Target": "imports-progress"})
        assert "every 1s" not in done.text
        assert "1 条已导入，1 条失败" in done.text
        assert "2026-99-01 不是有效日期" in done.text and "交货日期" in done.text
        assert re.search(r'href="/orders/\d+">', done.text)
        listing = client.get("/admin/imports")
        assert "订单.csv" in listing.text and "发起人" in listing.text
        csv_resp = client.get(f"{job_url}/errors.csv")
        assert csv_resp.headers["content-type"].startswith("text/csv")
        assert "P-2" in csv_resp.text and "P-1" not in csv_resp.text

    def test_bad_uploads_and_mappings_are_explained(self, client, session):
        _admin(client, session)
        missing = client.post("/admin/imports", data={"x": "1"})
        assert missing.status_code == 422 and "请选择要上传的 CSV 文件" in missing.text
        empty = client.post("/admin/imports", files={"file": ("a.csv", b"", "text/csv")})
        assert empty.status_code == 422 and "文件为空" in empty.text
        resp = client.post("/admin/imports", files={"file": ("a.csv", b"x,y\n1,2\n", "text/csv")},
                           follow_redirects=False)
        bad = client.post(resp.headers["location"] + "/start", data={"col_external_id": "x", "source": "csv",
                                                                    "timezone": "Asia/Shanghai"})
        assert bad.status_code == 422 and "请选择金额所在的列" in bad.text

    def test_sales_cannot_open_imports(self, client, session):
        sales = make_user(session, roles=["sales"])
        session.commit()
        login(client, sales.username)
        assert client.get("/admin/imports").status_code == 403


class TestInboundPage:
    def test_create_a_source_and_see_the_secret_once(self, client, session):
        _admin(client, session)
        resp = client.post("/admin/inbound", data={"key": "erp", "name": "ERP"})
        assert resp.status_code == 200 and "whsec_" in resp.text and "/api/v1/inbound/erp" in resp.text
        again = client.get("/admin/inbound")
        assert "whsec_" not in again.text and "<code>erp</code>" in again.text
        taken = client.post("/admin/inbound", data={"key": "erp", "name": "ERP"})
        assert taken.status_code == 409 and "推送来源 erp 已存在" in taken.text
        bad = client.post("/admin/inbound", data={"key": "Bad Key", "name": ""})
        assert bad.status_code == 422

    def test_a_new_secret_replaces_the_old_one(self, client, session):
        from backend.ingest.inbound import sign

        _admin(client, session)
        first = client.post("/admin/inbound", data={"key": "rot", "name": "Rot"})
        old = re.search(r'value="(whsec_[^"]+)"', first.text).group(1)
        source_id = re.search(r'action="/admin/inbound/(\d+)/rotate"', first.text).group(1)
        rotated = client.post(f"/admin/inbound/{source_id}/rotate")
        new = re.search(r'value="(whsec_[^"]+)"', rotated.text).group(1)
        assert new != old and "旧密钥立即失效" in rotated.text
        body, ts = b"{}", "1"
        resp = client.post("/api/v1/inbound/rot", content=body,
                           headers={"X-Gendan-Timestamp": ts, "X-Gendan-Signature": sign(old, ts, body)})
        assert resp.json()["error"]["code"] == "inbound.signature_invalid"
        resp = client.post("/api/v1/inbound/rot", content=body,
                           headers={"X-Gendan-Timestamp": ts, "X-Gendan-Signature": sign(new, ts, body)})
        assert resp.json()["error"]["code"] == "inbound.timestamp_stale"  # the signature passed

    def test_the_delivery_log_shows_refusals_with_their_reason(self, client, session):
        _admin(client, session)
        client.post("/admin/inbound", data={"key": "shop", "name": "Shop"})
        assert client.post("/api/v1/inbound/shop", json={"external_id": "1"}).status_code == 401
        page = client.get("/admin/inbound?source=shop")
        row = re.search(r'<tr class="rejected">.*?</tr>', page.text, re.S).group(0)
        assert "已拒绝" in row and "inbound.signature_missing" in row and "必须提供 X-Gendan-Signature" in row
