"""Branch mendsb: what the mapping editor added to a connector's mapping (transforms, line columns,
data types, defaults, history) survives saving the connector form, in a real browser: the admin
imports a mapping on the editor page, then edits the connector's schedule on its form (opened
before the import, so nothing of the mapping rides the page) and saves; the editor's export still
has every part. zh-CN on a 390 px phone; the English desktop form too."""

from __future__ import annotations

import json
import uuid

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect
from sqlalchemy import select

from backend.connectors.models import Connector
from tests.browser.conftest import sign_in
from tests.browser.test_mapping_editor import _connector
from tests.factories.connector_source import Source
from tests.factories.people import make_user

EDITOR_PARTS = {
    "transforms": {"amount": [{"op": "scale", "mode": "divide", "by": "100"}],
                   "currency": [{"op": "constant", "value": "USD"}]},
    "line_columns": {"lines": {"sku": "code", "quantity": "qty"}},
    "data_types": {"weight": "number"},
    "defaults": {"currency": "CNY"},
    "history": [{"stage": "approval", "column": "id"}],
}


@pytest.fixture
def source():
    tag = uuid.uuid4().hex[:6].upper()
    server = Source([{"id": f"MSB-{tag}-1", "buyer": {"code": f"MSB{tag}", "name": f"客户{tag}"},
                      "amount_fen": "123456", "status": "已签约"}]).start()
    server.tag = tag
    yield server
    server.stop()


def _import_and_save(page: Page, base_url: str, seed, cid: int, imported: str, saved: str) -> dict:
    page.goto(f"{base_url}/admin/connectors/{cid}/edit")  # the form, opened first
    form = page.locator("#connectors-form")
    expect(form).to_be_visible()
    editor = page.context.new_page()  # the mapping editor, in another tab
    editor.goto(f"{base_url}/admin/connectors/{cid}/mapping")
    mapping = seed.exec(select(Connector.mapping).where(Connector.id == cid)).scalar_one()
    seed.commit()
    document = {"format": "gendan.connector_mapping", "format_version": 1,
                "mapping": {**mapping, "columns": {**mapping["columns"], "amount": "amount_fen"}, **EDITOR_PARTS}}
    editor.set_input_files("#mapping-import", files=[{"name": "mapping.json", "mimeType": "application/json",
                                                      "buffer": json.dumps(document).encode()}])
    expect(editor.locator("#mapping-status")).to_have_text(imported, timeout=30_000)
    editor.close()
    form.locator('input[name="schedule_minutes"]').fill("15")
    form.locator('input[name="map_path_2"]').fill("amount_fen")  # the form's own mapping row
    form.locator('button[type="submit"]').click()
    expect(page.locator("#connectors-flash")).to_have_text(saved, timeout=30_000)
    seed.commit()  # a fresh read, not the snapshot of the transaction that read the mapping above
    return seed.exec(select(Connector).where(Connector.id == cid)).scalar_one().mapping


def test_mendsb_saving_the_form_keeps_the_editors_parts_on_a_phone_in_chinese(browser, base_url, seed, source,
                                                                            monkeypatch):
    from tests.browser.test_walkthrough_phone import phone_page

    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    admin = make_user(seed, roles=["admin"], locale="zh-CN")
    seed.commit()
    name = f"MSB phone {source.tag}"
    cid = _connector(seed, admin, source, name)
    with phone_page(browser, base_url, admin.username, locale="zh-CN") as page:
        page.set_viewport_size({"width": 390, "height": 844})
        mapping = _import_and_save(page, base_url, seed, cid, "已导入为版本 2。", f"连接器 {name} 已保存。")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert {k: mapping.get(k) for k in EDITOR_PARTS} == EDITOR_PARTS
        assert mapping["columns"]["amount"] == "amount_fen"
        # the editor's page reads them back: its export has every part
        page.goto(f"{base_url}/admin/connectors/{cid}/mapping")
        with page.expect_download() as info:
            page.locator("#mapping-export").click()
        exported = json.loads(open(info.value.path(), encoding="utf-8").read())["mapping"]
        assert {k: exported.get(k) for k in EDITOR_PARTS} == EDITOR_PARTS


def test_mendsb_saving_the_form_keeps_the_editors_parts(page: Page, base_url, seed, source, monkeypatch):
    monkeypatch.setenv("GENDAN_CONNECTOR_KEY", Fernet.generate_key().decode())
    admin = make_user(seed, roles=["admin"], locale="en")
    seed.commit()
    name = f"MSB desk {source.tag}"
    cid = _connector(seed, admin, source, name)
    sign_in(page, base_url, admin.username)
    mapping = _import_and_save(page, base_url, seed, cid, "Imported as version 2.", f"Connector {name} was saved.")
    assert {k: mapping.get(k) for k in EDITOR_PARTS} == EDITOR_PARTS
    assert seed.exec(select(Connector.schedule_minutes).where(Connector.id == cid)).scalar_one() == 15
    seed.commit()
