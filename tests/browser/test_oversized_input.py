"""A 5 MB field is refused in the page, in the user's language, and nothing typed is lost (before: the
page was replaced by the server's raw 413 JSON, and the live check said "server error")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete

from backend.auth.service import load_actor
from backend.forms import service as forms_service
from backend.forms.models import FormDefinitionRow
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer
from tests.factories.people import make_user

FIELDS = [{"key": "remark", "type": "text", "label": {"en": "Remark", "zh-CN": "备注"}}]
FIVE_MB = 5 * 1024 * 1024


@pytest.fixture
def published_form(seed):
    """The live database is shared: publish the order form for this test only."""
    seed.execute(delete(FormDefinitionRow))
    seed.commit()
    actor = load_actor(seed, make_user(seed, roles=["designer"]).id)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    forms_service.save_draft(seed, actor=actor, key="order", now=now, definition={"key": "order", "fields": FIELDS})
    forms_service.publish_form(seed, actor=actor, key="order", now=now)
    yield
    seed.execute(delete(FormDefinitionRow))
    seed.commit()


def test_a_five_megabyte_remark_is_refused_in_chinese_and_kept(page: Page, base_url, seed, published_form):
    make_user(seed, username="big.input", roles=["sales"], locale="zh_CN")
    make_customer(seed, name="Big Input Co")
    seed.commit()
    sign_in(page, base_url, "big.input")
    page.goto(f"{base_url}/orders/new")
    toasts: list[str] = []
    page.on("response", lambda r: toasts.append(r.url) if r.status == 413 else None)
    remark = page.get_by_label("备注")
    remark.evaluate("(el, n) => { el.value = 'x'.repeat(n); }", FIVE_MB - 1)  # as if pasted...
    remark.press("End")
    remark.press("y")  # ...and one key typed, which starts the live check
    alert = page.locator(".body-limit-error")
    expect(alert).to_contain_text("备注")  # the live check already says so, instead of "server error"
    expect(alert).to_contain_text("1.0 MB")
    page.get_by_role("button", name="保存订单").click()
    expect(alert).to_contain_text("内容太长")
    assert page.url.endswith("/orders/new")
    assert remark.evaluate("el => el.value.length") == FIVE_MB
    assert toasts == [], "the oversized form still went to the server"
    expect(page.locator("#toast")).not_to_contain_text("服务器")
