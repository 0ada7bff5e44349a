"""Issue 13's "secrets are encrypted at rest and never shown again after saving", in a browser, in
Chinese on a 390 px phone: an admin creates an HTTP connector signing in with an OAuth2 client secret
and a secret header token, saves and runs it; the edit page never carries either value (only
"已保存，••••"), saving with the fields blank keeps both (the next run still signs in at the local
source), and typing new values replaces them (the source now wants the new ones)."""

from __future__ import annotations

import re
import uuid

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import sign_in
from tests.factories.connector_source import CLIENT_ID, CLIENT_SECRET, Source
from tests.factories.people import make_user

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}
HEADER, TOKEN = "X-Api-Key", "hdr-token-7f3"
WAIT = 30_000


@pytest.fixture
def source():
    tag = uuid.uuid4().hex[:6].upper()
    records = [{"id": f"SEC-{tag}-{i}", "buyer": {"name": f"密钥客户{tag}"}, "total": f"{10 * i}.00"} for i in (1, 2, 3)]
    server = Source(records).start()
    server.tag = tag
    server.require_oauth, server.require_header = True, (HEADER, TOKEN)
    yield server
    server.stop()


def _run(page: Page, source: Source, *, new_token: bool) -> None:
    """Run now from the connector's page: all three records read (the source refuses them without
    the header and a token it issued for the client secret); a token is asked for again only for a
    new client secret (tokens are kept per secret until they expire)."""
    asked = source.token_requests
    page.get_by_role("button", name="立即运行").click()
    expect(page.locator("#connectors-flash")).to_contain_text("读取 3 条", timeout=WAIT)
    expect(page.locator("#connectors-flash")).to_contain_text("失败 0 条")
    assert (source.token_requests > asked) is new_token


def _edit(page: Page) -> None:
    page.get_by_role("link", name="编辑").click()
    expect(page.locator("#connectors-form")).to_be_visible()
    html = page.content()
    assert CLIENT_SECRET not in html and TOKEN not in html and "n3w-" not in html
    for name in ("client_secret", "secret_header_value"):
        expect(page.locator(f'[data-saved="{name}"]')).to_have_text("已保存，••••")
        expect(page.locator(f'input[name="{name}"]')).to_have_value("")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_saved_secrets_stay_hidden_are_kept_when_blank_and_replaced_when_typed(browser: Browser, base_url, seed,
                                                                                 source, monkeypatch):
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    admin = make_user(seed, roles=["admin"], locale="zh-CN")
    seed.commit()
    ctx = browser.new_context(**PHONE)
    try:
        page = ctx.new_page()
        sign_in(page, base_url, admin.username)
        page.goto(f"{base_url}/admin/connectors/new")
        name = f"SEC shop {source.tag}"
        page.get_by_label("名称", exact=True).fill(name)
        page.get_by_label(re.compile(r"^地址")).fill(source.url + "/orders/link?page=1")
        page.get_by_label("保密请求头名称（如 Authorization）").fill(HEADER)
        page.get_by_label(re.compile(r"^保密请求头的值")).fill(TOKEN)
        page.get_by_label("认证方式").select_option("oauth2_client_credentials")
        page.get_by_label("令牌地址").fill(source.url + "/token")
        page.get_by_label("客户端 ID").fill(CLIENT_ID)
        page.get_by_label(re.compile(r"^客户端密钥")).fill(CLIENT_SECRET)
        page.get_by_label(re.compile(r"^记录列表的路径")).fill("data.items")
        page.get_by_label("分页方式").select_option("next_link")
        page.get_by_label(re.compile(r"^下一页链接的路径")).fill("links.next")
        for i, (path, target) in enumerate([("id", "external_id"), ("buyer.name", "customer"), ("total", "amount")]):
            page.get_by_label(f"来源路径 {i + 1}", exact=True).fill(path)
            page.get_by_label(f"订单字段 {i + 1}", exact=True).select_option(target)
        page.get_by_label(re.compile(r"自动创建未知客户（否则")).check()
        page.get_by_label(re.compile(r"^来源名称")).fill(f"sec{source.tag.lower()}")
        page.get_by_role("button", name="保存连接器").click()
        expect(page.get_by_role("heading", name=f"连接器 {name}")).to_be_visible()
        assert CLIENT_SECRET not in page.content() and TOKEN not in page.content()
        _run(page, source, new_token=True)

        _edit(page)  # saved, never shown; saving with the fields blank keeps both
        page.get_by_label("名称", exact=True).fill(name + " 2")
        page.get_by_role("button", name="保存连接器").click()
        expect(page.get_by_role("heading", name=f"连接器 {name} 2")).to_be_visible()
        _run(page, source, new_token=False)

        _edit(page)  # new values typed replace the saved ones: the source wants only those now
        source.client_secret, source.require_header = "n3w-client-secret", (HEADER, "n3w-header-token")
        page.get_by_label(re.compile(r"^保密请求头的值")).fill("n3w-header-token")
        page.get_by_label(re.compile(r"^客户端密钥")).fill("n3w-client-secret")
        page.get_by_role("button", name="保存连接器").click()
        expect(page.get_by_role("heading", name=f"连接器 {name} 2")).to_be_visible()
        _run(page, source, new_token=True)
        _edit(page)
    finally:
        ctx.close()
