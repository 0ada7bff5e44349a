"""The import JSON API: upload, start with a mapping, read progress and row errors."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from backend.ingest import service
from backend.orders.models import Order
from tests.conftest import bearer
from tests.factories.orders import make_customer
from tests.factories.people import make_user


class TestImportApi:
    def test_upload_start_and_read_errors(self, client, session, connection, now):
        admin = make_user(session, roles=["admin"])
        customer = make_customer(session, name="API Co")
        session.commit()
        auth = bearer(client, admin.username)
        content = f"Order ID;Customer;Total\nA-1;{customer.name};10,00\nA-2;{customer.name};abc\n".encode()
        up = client.post("/api/v1/imports", files={"file": ("api.csv", content, "text/csv")}, headers=auth)
        assert up.status_code == 201, up.text
        body = up.json()
        assert (body["job"]["delimiter"], body["job"]["total_rows"], body["job"]["state"]) == (";", 2, "uploaded")
        assert body["suggested"] == {"external_id": "Order ID", "customer": "Customer", "amount": "Total"}
        job_id = body["job"]["id"]
        bad = client.post(f"/api/v1/imports/{job_id}/start", json={"columns": {"amount": "Nope"}}, headers=auth)
        assert bad.status_code == 422
        assert bad.json()["error"]["fields"]["amount"]["code"] == "import.column_unknown"
        started = client.post(f"/api/v1/imports/{job_id}/start", json={"columns": body["suggested"], "source": "api"},
                              headers=auth)
        assert started.status_code == 200 and started.json()["state"] == "queued"
        again = client.post(f"/api/v1/imports/{job_id}/start", json={"columns": body["suggested"]}, headers=auth)
        assert again.status_code == 409 and again.json()["error"]["code"] == "import.already_started"
        service.run_to_end(connection, job_id, now)
        job = client.get(f"/api/v1/imports/{job_id}", headers=auth).json()
        assert (job["state"], job["created_count"], job["failed_count"]) == ("done", 1, 1)
        errors = client.get(f"/api/v1/imports/{job_id}/errors", headers={**auth, "Accept-Language": "en"}).json()
        assert errors == [{"line": 3, "cells": ["A-2", "API Co", "abc"], "errors": [
            {"line": 3, "column": "Total", "field": "amount", "code": "import.amount_invalid",
             "params": {"value": "abc"}, "message": "abc is not an amount."}]}]
        csv_text = client.get(f"/api/v1/imports/{job_id}/errors.csv", headers=auth).text
        assert csv_text.splitlines()[1].startswith("A-2;API Co;abc;")
        order = session.exec(select(Order).where(Order.source == "api", Order.external_id == "A-1")).scalars().one()
        assert order.amount == Decimal("10.00")  # a decimal comma in a semicolon file
        assert [j["id"] for j in client.get("/api/v1/imports", headers=auth).json()] == [job_id]

    def test_sales_and_strangers_are_refused(self, client, session):
        sales = make_user(session, roles=["sales"])
        session.commit()
        files = {"file": ("a.csv", b"a\n1\n", "text/csv")}
        assert client.post("/api/v1/imports", files=files).status_code == 401
        assert client.post("/api/v1/imports", files=files, headers=bearer(client, sales.username)).status_code == 403
        assert client.get("/api/v1/imports/999", headers=bearer(client, sales.username)).status_code == 403


class TestHostileFiles:
    def test_the_error_csv_neutralises_formula_cells(self, client, session, connection, now):
        admin = make_user(session, roles=["admin"])
        customer = make_customer(session, name="Formula Co")
        session.commit()
        auth = bearer(client, admin.username)
        content = (f'Order ID,Customer,Total\n"=HYPERLINK(""http://evil.example"",""x"")",{customer.name},abc\n'
                   f"@SUM(A1),{customer.name},-\n-12.5,{customer.name},oops\n").encode()
        up = client.post("/api/v1/imports", files={"file": ("f.csv", content, "text/csv")}, headers=auth)
        job_id = up.json()["job"]["id"]
        client.post(f"/api/v1/imports/{job_id}/start", json={"columns": up.json()["suggested"]}, headers=auth)
        service.run_to_end(connection, job_id, now)
        lines = client.get(f"/api/v1/imports/{job_id}/errors.csv", headers=auth).text.lstrip("\ufeff").splitlines()
        assert lines[1].startswith('"\'=HYPERLINK(""http://evil.example"",""x"")",Formula Co,abc,')
        assert lines[2].startswith("'@SUM(A1),Formula Co,'-,")
        assert lines[3].startswith("-12.5,Formula Co,oops,")  # a plain number stays a number


class TestUploadBodyLimit:
    def test_only_upload_routes_take_large_multipart_bodies(self, client, session):
        admin = make_user(session, roles=["admin"])
        session.commit()
        auth = bearer(client, admin.username)
        big = b"x" * 3_000_000
        hook = client.post("/api/v1/inbound/shop", files={"file": ("a.csv", big, "text/csv")})
        assert hook.status_code == 413 and hook.json()["error"]["code"] == "request.too_large"
        orders = client.post("/api/v1/orders", files={"file": ("a.csv", big, "text/csv")}, headers=auth)
        assert orders.status_code == 413
        upload = client.post("/api/v1/imports", files={"file": ("a.csv", b"a,b\n" + big + b",1\n", "text/csv")},
                             headers=auth)
        assert upload.status_code != 413, upload.text  # read, then refused for what it holds, not its size
