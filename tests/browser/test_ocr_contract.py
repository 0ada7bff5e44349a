"""Issue 13, contract OCR in a real browser on a phone: a salesperson photographs (uploads) a
rendered Chinese contract, watches it being read, sees the draft beside the image with a confidence
on each pre-filled field, corrects the contract number, saves, and lands on the new order."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import delete, select

from backend.auth.service import load_actor
from backend.clock import utcnow
from backend.forms import service as forms_service
from backend.forms.models import FormDefinitionRow
from backend.ocr import service as ocr_service
from backend.ocr.models import OcrJob
from backend.orders.models import Order
from tests.backend.ocr.test_ocr import FORM
from tests.browser.test_walkthrough_phone import phone_page
from tests.factories.contracts import make_contract, render, to_bytes
from tests.factories.orders import make_customer
from tests.factories.people import make_user

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs Debian's tesseract-ocr")


@pytest.fixture
def published_form(seed):
    """The live database is shared: publish the order form for this test only."""
    seed.execute(delete(FormDefinitionRow))
    seed.commit()
    actor = load_actor(seed, make_user(seed, roles=["designer"]).id)
    now = datetime(2026, 12, 7, tzinfo=UTC)
    forms_service.save_draft(seed, actor=actor, key="order", now=now, definition=FORM)
    forms_service.publish_form(seed, actor=actor, key="order", now=now)
    yield
    seed.execute(delete(FormDefinitionRow))
    seed.commit()


def test_contract_photo_becomes_an_order_on_a_phone(browser: Browser, base_url, seed, live_server, live_engine,
                                                    published_form):
    contract = make_contract(1, "zh")
    user = make_user(seed, username="ocr.phone.sales", roles=["sales"], locale="en")
    customer = make_customer(seed, name=contract.customer)
    seed.commit()
    settings = live_server.app.state.settings
    with phone_page(browser, base_url, user.username) as page:
        page.goto(f"{base_url}/orders")
        page.get_by_role("link", name="New order from contract").click()
        page.locator("#ocr-file").set_input_files({"name": "contract.png", "mimeType": "image/png",
                                                    "buffer": to_bytes(render(contract))})
        page.get_by_role("button", name="Read the contract").click()
        expect(page.locator("#ocr-progress progress")).to_be_visible()
        expect(page.locator("#ocr-progress")).to_contain_text("Waiting for the reader")
        assert ocr_service.read_contracts(live_engine, utcnow(), upload_dir=settings.upload_dir,
                                          max_bytes=settings.max_upload_bytes) == 1
        read = page.locator("#ocr-read")
        expect(read).to_be_visible(timeout=60_000)  # the polled bar reloads the page when done
        expect(read).to_contain_text(contract.number)
        expect(page.locator("#ocr-image")).to_be_visible()
        number = page.locator('#orders-form [name="customer_po"]')
        expect(number).to_have_value(contract.number)
        expect(page.locator('.ocr-conf[data-for="customer_po"]')).to_have_text(re.compile(r"^\d{1,3}%$"))
        expect(page.locator('.ocr-conf[data-for="customer_id"]')).to_have_class(re.compile("high"))
        expect(page.locator("#form-customer_id")).to_have_value(str(customer.id))
        expect(page.locator('[name="items.0.product"]')).to_have_value(contract.items[0][0])
        expect(page.locator('[name="planned_delivery"]')).to_have_value(contract.delivery.isoformat())
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        number.fill(contract.number + "-R")  # the user corrects a field
        page.get_by_role("button", name="Save order").click()
        page.wait_for_url(re.compile(r"/orders/\d+$"))
        expect(page.locator("body")).to_contain_text(contract.number + "-R")
    seed.expire_all()
    order = seed.exec(select(Order).where(Order.customer_id == customer.id)).scalars().one()
    job = seed.exec(select(OcrJob).where(OcrJob.created_by == user.id)).scalars().one()
    assert order.data["customer_po"] == contract.number + "-R"
    assert str(order.amount) == str(contract.total)
    assert order.data["contract_file"][0]["id"] == job.file_id  # the contract stays on the order
