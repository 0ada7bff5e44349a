"""Contract OCR through the real parts: upload (API and page) → the worker job → the draft, read by
Debian's Tesseract from contracts the tests render (tests/factories/contracts.py); bad files get a
4xx in the user's language. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import shutil

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from backend.app import create_app
from backend.auth.service import load_actor
from backend.forms import service as forms_service
from backend.ocr import service as ocr_service
from backend.ocr.models import OcrJob
from backend.orders.models import Order
from tests.conftest import login
from tests.factories.contracts import make_contract, photograph, render, to_bytes
from tests.factories.orders import make_customer
from tests.factories.people import make_user

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs Debian's tesseract-ocr")

FORM = {"key": "order", "title": {"en": "Order"}, "fields": [
    {"key": "customer_po", "type": "text", "label": {"zh-CN": "合同编号", "en": "Contract No."}},
    {"key": "planned_delivery", "type": "date", "label": {"zh-CN": "交货日期", "en": "Delivery date"}},
    {"key": "items", "type": "line_items", "label": {"en": "Items"}, "totals": ["line_total"], "columns": [
        {"key": "product", "type": "text", "label": {"en": "Product"}},
        {"key": "quantity", "type": "number", "label": {"en": "Quantity"}},
        {"key": "unit_price", "type": "money", "currency": "CNY", "label": {"en": "Unit price"}},
        {"key": "line_total", "type": "computed", "result_type": "money", "currency": "CNY",
         "expression": {"*": [{"var": "quantity"}, {"var": "unit_price"}]}, "label": {"en": "Amount"}}]},
    {"key": "contract_file", "type": "attachment", "label": {"en": "Contract"}},
]}


@pytest.fixture
def app(settings, connection, tmp_path):
    custom = settings.model_copy(update={"upload_dir": tmp_path / "uploads", "max_upload_bytes": 3_000_000})
    return create_app(custom, engine=connection, start_worker=False)


def _user(session, client, roles=("sales",), locale="en"):
    user = make_user(session, roles=list(roles), locale=locale)
    session.commit()
    login(client, user.username)
    return user


def _run_worker(app, connection, now) -> int:
    s = app.state.settings
    return ocr_service.read_contracts(connection, now, upload_dir=s.upload_dir, max_bytes=s.max_upload_bytes)


def _upload(client, content: bytes, name: str = "contract.png", **headers):
    return client.post("/api/v1/ocr/contracts", files={"file": (name, content, "application/octet-stream")},
                       headers=headers)


def test_chinese_contract_is_read_into_fields(session, client, app, connection, now):
    contract = make_contract(1, "zh")
    customer = make_customer(session, name=contract.customer)
    _user(session, client)
    resp = _upload(client, to_bytes(render(contract)))
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["state"] == "queued" and job["progress"] == 0
    assert _run_worker(app, connection, now) == 1
    done = client.get(f"/api/v1/ocr/contracts/{job['id']}").json()
    assert done["state"] == "done" and done["progress"] == 100, done
    fields = {k: v["value"] for k, v in done["result"]["fields"].items()}
    truth = contract.truth()
    for key in ("contract_no", "customer", "amount", "currency", "signed_on", "delivery_date"):
        assert fields[key] == truth[key], (key, fields)
    assert done["result"]["fields"]["customer"]["customer_id"] == customer.id
    items = [(i["product"]["value"], int(i["quantity"]["value"]), i["unit_price"]["value"])
             for i in done["result"]["items"]]
    assert items == [(p, q, str(u)) for p, q, u in contract.items]
    assert all(0 < f["confidence"] <= 1 for f in done["result"]["fields"].values())
    assert done["result"]["fields"]["amount"]["confidence"] >= 0.8  # the lines add up to it


def test_noisy_english_photo_and_pdf(session, client, app, connection, now):
    contract = make_contract(2, "en")
    _user(session, client)
    photo = to_bytes(photograph(render(contract), 2), "JPEG")
    buf = io.BytesIO()
    render(contract).convert("RGB").save(buf, "PDF", resolution=150)
    ids = [_upload(client, photo, "photo.jpg").json()["id"], _upload(client, buf.getvalue(), "scan.pdf").json()["id"]]
    assert _run_worker(app, connection, now) == 2
    truth = contract.truth()
    for job_id in ids:
        done = client.get(f"/api/v1/ocr/contracts/{job_id}").json()
        assert done["state"] == "done", done
        fields = {k: v["value"] for k, v in done["result"]["fields"].items()}
        for key in ("contract_no", "amount", "currency", "delivery_date"):
            assert fields.get(key) == truth[key], (job_id, key, fields)


@pytest.mark.parametrize(("content", "name", "status", "zh"), [
    (b"%!PS-Adobe not a picture", "contract.png", 422, "不是图片"),
    (b"", "empty.png", 422, "文件为空"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "broken.png", 422, "无法作为图片或 PDF 打开"),
    (b"x" * 3_000_001, "big.png", 413, None),
])
def test_bad_files_get_4xx_in_the_users_language(session, client, content, name, status, zh):
    _user(session, client, locale="zh-CN")
    resp = _upload(client, content, name)
    assert resp.status_code == status, resp.text
    if zh:
        assert zh in resp.json()["error"]["message"]
    assert session.exec(select(OcrJob)).first() is None


def test_decompression_bomb_is_refused_at_upload(session, client):
    _user(session, client)
    buf = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buf, "PNG")  # 144 M pixels in a few kB
    resp = _upload(client, buf.getvalue())
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "ocr.too_many_pixels"


def test_only_the_uploader_sees_a_job_and_viewers_cannot_upload(session, client, app, now):
    _user(session, client)
    job_id = _upload(client, to_bytes(render(make_contract(3, "en")))).json()["id"]
    with TestClient(app, base_url="http://testserver") as other:
        _user(session, other)
        assert other.get(f"/api/v1/ocr/contracts/{job_id}").status_code == 404
    with TestClient(app, base_url="http://testserver") as viewer:
        _user(session, viewer, roles=("viewer",))
        assert _upload(viewer, to_bytes(render(make_contract(3, "en")))).status_code == 403


def test_page_upload_progress_draft_and_save(session, client, app, connection, now):
    contract = make_contract(4, "zh")
    customer = make_customer(session, name=contract.customer)
    designer = make_user(session, roles=["designer"])
    actor = load_actor(session, designer.id)
    forms_service.save_draft(session, actor=actor, key="order", definition=FORM, now=now)
    forms_service.publish_form(session, actor=actor, key="order", now=now)
    _user(session, client)
    page = client.get("/orders/new/from-contract")
    assert 'capture="environment"' in page.text and 'accept="image/*,application/pdf"' in page.text
    sent = client.post("/orders/new/from-contract", files={"file": ("c.png", to_bytes(render(contract)), "image/png")},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    url = sent.headers["location"]
    waiting = client.get(url)
    assert 'id="ocr-progress"' in waiting.text and "<progress" in waiting.text
    _run_worker(app, connection, now)
    status = client.get(url + "/status", headers={"HX-Request": "true"})
    assert status.headers.get("HX-Refresh") == "true"
    draft = client.get(url).text
    assert f'value="{contract.number}"' in draft
    assert f'<option value="{customer.id}" selected' in draft
    assert 'id="ocr-marks"' in draft and "items.0.unit_price" in draft
    first = contract.items[0]
    assert f'value="{first[0]}"' in draft
    job = session.exec(select(OcrJob)).scalars().one()
    form = {"customer_id": str(customer.id), "customer_po": contract.number + "-X",
            "planned_delivery": contract.delivery.isoformat(), "contract_file": f'{{"id": "{job.file_id}", '
            f'"name": "c.png", "size": 1, "content_type": "image/png"}}'}
    for i, (p, q, u) in enumerate(contract.items):
        form.update({f"items.{i}.product": p, f"items.{i}.quantity": str(q), f"items.{i}.unit_price": str(u)})
    saved = client.post("/orders/new", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    order = session.exec(select(Order).where(Order.customer_id == customer.id)).scalars().one()
    assert order.data["customer_po"] == contract.number + "-X"
    assert str(order.amount) == str(contract.total)
    assert order.data["contract_file"][0]["id"] == job.file_id


def test_the_worker_lists_the_job_and_a_lost_file_fails_the_job_visibly(session, client, app, connection, now):
    assert "ocr.read_contracts" in {job.name for job in app.state.jobs}
    _user(session, client)
    job_id = _upload(client, to_bytes(render(make_contract(5, "en")))).json()["id"]
    file_id = session.get(OcrJob, job_id).file_id
    (app.state.settings.upload_dir / "forms" / file_id).unlink()
    assert _run_worker(app, connection, now) == 1
    failed = client.get(f"/api/v1/ocr/contracts/{job_id}").json()
    assert failed["state"] == "failed" and failed["error"]["code"] == "form.upload_not_found"
    page = client.get(f"/orders/new/from-contract/{job_id}")
    assert page.status_code == 200 and 'id="ocr-error"' in page.text and 'id="ocr-file"' in page.text
