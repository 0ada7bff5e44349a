"""Attachments: only writers upload (the API and the order page alike), stored files are served so
an uploaded page or SVG cannot run in Gendan's origin, and uploads never attached are deleted.

Regression (issue 18): a viewer uploaded through `POST /orders/new/upload/x`; `text/html` and SVG
came back with the uploader's content type; orphaned uploads stayed forever."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest

from backend.auth.service import load_actor
from backend.forms import files
from tests.backend.forms.formdefs import order_form
from tests.conftest import bearer, login
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

PAGE = b"<html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def _csrf(text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


class TestOnlyWritersUpload:
    def test_a_viewer_cannot_upload_through_the_order_page_or_the_api(self, client, session, tmp_path):
        client.app.state.settings.upload_dir = tmp_path
        make_user(session, username="des", roles=["designer"])
        make_user(session, username="look", roles=["viewer"])
        session.commit()
        assert client.post("/api/v1/forms/files", headers=bearer(client, "look"),
                           files={"file": ("a.pdf", b"%PDF", "application/pdf")}).status_code == 403
        login(client, "look")
        page = client.post("/orders/new/upload/x", data={"csrf_token": client.headers["X-CSRF-Token"]},
                           files={"upload": ("a.pdf", b"%PDF", "application/pdf")}, headers={"HX-Request": "true"})
        assert page.status_code == 403
        assert not (tmp_path / "forms").exists() or list((tmp_path / "forms").iterdir()) == []

    def test_a_sales_rep_still_uploads(self, client, session, tmp_path):
        client.app.state.settings.upload_dir = tmp_path
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        login(client, "rep")
        item = client.post("/orders/new/upload/contract", data={"csrf_token": client.headers["X-CSRF-Token"]},
                           files={"upload": ("合同.pdf", b"%PDF-1.4", "application/pdf")},
                           headers={"HX-Request": "true"})
        assert item.status_code == 200 and "合同.pdf" in item.text


class TestServedSafely:
    @pytest.mark.parametrize(("name", "content", "declared"), [
        ("page.html", PAGE, "text/html"), ("logo.svg", SVG, "image/svg+xml"), ("x.js", b"alert(1)", "text/javascript"),
    ])
    def test_active_content_is_a_download_of_opaque_bytes(self, client, session, tmp_path, name, content, declared):
        client.app.state.settings.upload_dir = tmp_path
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        auth = bearer(client, "rep")
        ref = client.post("/api/v1/forms/files", headers=auth, files={"file": (name, content, declared)}).json()
        got = client.get(f"/api/v1/forms/files/{ref['id']}", headers=auth)
        assert got.content == content
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["content-disposition"].startswith("attachment;")
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-security-policy"] == "sandbox"

    def test_a_photo_still_shows_inline(self, client, session, tmp_path):
        client.app.state.settings.upload_dir = tmp_path
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        auth = bearer(client, "rep")
        ref = client.post("/api/v1/forms/files", headers=auth,
                          files={"file": ("p.png", b"\x89PNG\r\n\x1a\n", "image/png")}).json()
        got = client.get(f"/api/v1/forms/files/{ref['id']}", headers=auth)
        assert got.headers["content-type"] == "image/png"
        assert got.headers["content-disposition"].startswith("inline;")


class TestOrphans:
    def test_uploads_never_attached_go_after_a_day_attached_ones_stay(self, session, connection, tmp_path, now):
        rep = make_user(session, roles=["sales"])
        actor = load_actor(session, rep.id)
        kept = files.store(tmp_path, actor=actor, name="kept.pdf", content_type="application/pdf", content=b"1",
                           now=now - timedelta(hours=30))
        orphan = files.store(tmp_path, actor=actor, name="orphan.pdf", content_type="application/pdf",
                             content=b"2", now=now - timedelta(hours=30))
        fresh = files.store(tmp_path, actor=actor, name="fresh.pdf", content_type="application/pdf", content=b"3",
                            now=now - timedelta(hours=2))
        make_order(session, owner=rep, customer=make_customer(session), data={"contract": [kept]})
        session.commit()
        assert files.delete_orphans(tmp_path, connection, now) == 1
        remaining = {p.name for p in (tmp_path / "forms").iterdir()}
        assert remaining == {kept["id"], f"{kept['id']}.json", fresh["id"], f"{fresh['id']}.json"}
        assert orphan["id"] not in remaining
        assert files.delete_orphans(tmp_path, connection, now + timedelta(days=2)) == 1  # fresh is an orphan now
        assert json.loads((tmp_path / "forms" / f"{kept['id']}.json").read_text())["attached"] is True

    def test_the_job_is_registered_with_the_worker(self, app):
        assert "forms.delete_orphan_uploads" in {job.name for job in app.state.jobs}


class TestTheOrderPageKeepsWorking:
    def test_upload_then_save_keeps_the_file(self, client, session, tmp_path):
        from tests.backend.forms.test_router import publish

        client.app.state.settings.upload_dir = tmp_path
        make_user(session, username="des", roles=["designer"])
        make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session)
        session.commit()
        definition = order_form()
        definition["fields"].append({"key": "contract", "type": "attachment",
                                     "label": {"zh-CN": "合同", "en": "Contract"}})
        publish(client, bearer(client, "des"), definition)
        login(client, "rep")
        base = {"csrf_token": _csrf(client.get("/orders/new").text)}
        item = client.post("/orders/new/upload/contract", data=base, headers={"HX-Request": "true"},
                           files={"upload": ("c.html", PAGE, "text/html")})
        hidden = html.unescape(re.search(r'name="contract" value="([^"]+)"', item.text).group(1))
        saved = client.post("/orders/new", follow_redirects=False, data={
            **base, "customer_id": str(customer.id), "planned_delivery": "2026-12-24", "contract": hidden})
        assert saved.status_code == 303, saved.text
        got = client.get(f"/api/v1/forms/files/{json.loads(hidden)['id']}")
        assert got.headers["content-type"] == "application/octet-stream"
