"""Issue 17 in a real browser: import a file with a designed date-time column and a cancelled row,
map the designed field, see the counts; upload a changed file and see "updated 1, unchanged 1"."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, func, select

from backend.auth.service import load_actor
from backend.clock import utcnow
from backend.flows.models import FlowInstance
from backend.forms import service as forms_service
from backend.forms.models import FormDefinitionRow
from backend.ingest import service as import_service
from backend.orders.models import Order
from tests.browser.conftest import sign_in
from tests.factories.orders import make_customer
from tests.factories.people import make_user

FORM = {"key": "order", "fields": [
    {"key": "impx_shipped_at", "type": "datetime", "label": {"zh-CN": "发货时间", "en": "Shipped at"}},
    {"key": "impx_note", "type": "text", "label": {"zh-CN": "导入备注", "en": "Import note"}},
]}


@pytest.fixture
def published_form(seed):
    """The live database is shared: publish the order form for this test only."""
    seed.execute(delete(FormDefinitionRow))
    seed.commit()
    actor = load_actor(seed, make_user(seed, roles=["designer"]).id)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    forms_service.save_draft(seed, actor=actor, key="order", now=now, definition=FORM)
    forms_service.publish_form(seed, actor=actor, key="order", now=now)
    yield
    seed.execute(delete(FormDefinitionRow))
    seed.commit()


def _upload_and_map(page: Page, base_url: str, path, source: str) -> int:
    page.goto(f"{base_url}/admin/imports")
    page.get_by_label("CSV 文件", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="上传").click()
    expect(page.get_by_role("heading", name=re.compile("对应列"))).to_be_visible()
    designed = page.locator("#imports-designed")
    expect(designed).to_contain_text("发货时间")
    expect(designed).to_contain_text("(日期时间)")
    shipped = page.get_by_role("combobox", name=re.compile("^发货时间"))
    expect(shipped).to_have_value("发货时间")  # the header names the designed field: chosen already
    page.get_by_role("combobox", name=re.compile("^导入备注")).select_option("备注")
    page.get_by_label(re.compile("^文件中各状态值对应的阶段")).fill("已取消=cancelled\n生产中=production")
    page.get_by_label("来源名称（同一来源内订单号唯一）").fill(source)
    page.get_by_role("button", name="开始导入").click()
    expect(page.locator("#imports-progress")).to_be_visible()
    return int(re.search(r"/admin/imports/(\d+)", page.url).group(1))


def test_import_designed_datetime_and_cancelled_row_then_reimport_changes(page: Page, base_url, seed, live_engine,
                                                                          published_form, tmp_path):
    tag = uuid.uuid4().hex[:6]
    make_user(seed, username=f"impx.admin.{tag}", roles=["admin"], locale="zh_CN")
    make_customer(seed, name=f"IMPX客户{tag}")
    seed.commit()
    header = "订单号,客户,金额,状态,发货时间,备注\n"
    first = tmp_path / "impx.csv"
    first.write_text(header + f"IMPX-{tag}-1,IMPX客户{tag},100,生产中,2026-11-20 09:30,第一次\n"
                              f"IMPX-{tag}-2,IMPX客户{tag},50,已取消,,\n", encoding="utf-8")
    sign_in(page, base_url, f"impx.admin.{tag}")
    source = f"impx-{tag}"

    job_id = _upload_and_map(page, base_url, first, source)
    import_service.run_to_end(live_engine, job_id, utcnow())  # the live server runs no worker
    expect(page.locator("#imports-summary")).to_contain_text("2 条已导入，0 条失败", timeout=15_000)

    seed.rollback()  # a fresh snapshot: the worker committed on another connection
    orders = {o.external_id: o for o in seed.exec(select(Order).where(Order.source == source)).scalars()}
    assert orders[f"IMPX-{tag}-1"].data["impx_shipped_at"] == "2026-11-20T01:30:00Z"  # Shanghai time, stored in UTC
    first_id, first_version = orders[f"IMPX-{tag}-1"].id, orders[f"IMPX-{tag}-1"].version
    cancelled = orders[f"IMPX-{tag}-2"]
    assert (cancelled.status, cancelled.closed_at is not None) == ("cancelled", True)
    assert seed.exec(select(func.count()).select_from(FlowInstance)
                     .where(FlowInstance.order_id == cancelled.id)).scalar_one() == 0

    changed = tmp_path / "impx-changed.csv"
    changed.write_text(header + f"IMPX-{tag}-1,IMPX客户{tag},120,生产中,2026-11-21 08:00,改过\n"
                                f"IMPX-{tag}-2,IMPX客户{tag},50,已取消,,\n", encoding="utf-8")
    job_id = _upload_and_map(page, base_url, changed, source)
    import_service.run_to_end(live_engine, job_id, utcnow())
    summary = page.locator("#imports-summary")
    expect(summary).to_contain_text("0 条已导入，0 条失败", timeout=15_000)
    expect(summary).to_contain_text("更新 1 条，无变化 1 条")
    expect(page.locator("#imports-orders")).to_contain_text(f"IMPX-{tag}-1")

    with page.expect_download() as download:
        page.locator("#imports-rows-download").click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    assert "已更新" in text and "无变化" in text and "data.impx_shipped_at" in text
    seed.rollback()  # a fresh snapshot: the worker committed on another connection
    updated = seed.get(Order, first_id)
    assert (str(updated.amount), updated.data["impx_shipped_at"], updated.version) == (
        "120.00", "2026-11-21T00:00:00Z", first_version + 1)


def test_mapping_and_inbound_pages_fit_a_phone(page: Page, base_url, seed, published_form, tmp_path):
    tag = uuid.uuid4().hex[:6]
    make_user(seed, username=f"impx.phone.{tag}", roles=["admin"], locale="zh_CN")
    seed.commit()
    sign_in(page, base_url, f"impx.phone.{tag}")
    page.set_viewport_size({"width": 360, "height": 740})
    upload = tmp_path / "phone.csv"
    upload.write_text("订单号,客户,金额,发货时间,备注\nIMPX-P-1,某客户,1,2026-11-20 09:30,\n", encoding="utf-8")
    page.goto(f"{base_url}/admin/imports")
    page.get_by_label("CSV 文件", exact=True).set_input_files(str(upload))
    page.get_by_role("button", name="上传").click()
    expect(page.locator("#imports-designed")).to_contain_text("发货时间")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.goto(f"{base_url}/admin/inbound")
    page.get_by_label("标识（用于网址，小写）").fill(f"impx-{tag}")
    page.get_by_label("名称", exact=True).fill("手机来源")
    page.get_by_label(re.compile("按客户编号自动创建未知客户")).check()
    page.get_by_role("button", name="创建来源").click()
    expect(page.locator("#inbound-sources")).to_contain_text("按编号自动创建未知客户")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
