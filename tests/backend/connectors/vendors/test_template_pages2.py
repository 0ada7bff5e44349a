"""The second set of templates through the pages: listed in both languages, the update-only MES
template saves from its pre-filled form without amount or customer, the Salesforce client secret is
kept. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from backend.connectors import crypto
from backend.connectors.models import Connector
from tests.backend.connectors.vendors.test_template_pages import _admin, _fields

KEYS = ("dingtalk_approval", "wecom_approval", "crm_opportunity", "mes_progress")


def test_listed_in_chinese_with_fills_and_leaves(session, client):
    _admin(session, client, locale="zh-CN")
    page = client.get("/admin/connector-templates").text
    for key in KEYS:
        assert f'data-template="{key}"' in page
    for words in ("钉钉审批（合同审批通过 → 订单）", "企业微信审批", "Salesforce 商机赢单", "MES 工单进度 → 生产进度",
                  "审批编号（钉钉 business_id）", "生产进度（%）", "新建订单（只更新已有订单，按订单号或外部编号查找）"):
        assert words in page, words


def _save(session, client, key: str, name: str, extra: dict) -> Connector:
    form = _fields(client.get(f"/admin/connectors/new?template={key}").text)
    form.update({"name": name, **extra})
    saved = client.post("/admin/connectors", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:3000]
    session.expire_all()
    return session.exec(select(Connector).where(Connector.name == name)).scalar_one()


def test_update_only_mes_saves_without_amount_or_customer(session, client):
    _admin(session, client)
    c = _save(session, client, "mes_progress", "page mes", {"base_url": "http://127.0.0.1:9", "access_token": "t-1"})
    assert "amount" not in c.mapping["columns"] and c.mapping["columns"]["external_id"] == "sales_order_no"
    assert c.settings["options"]["production_node"] == "production_progress"


def test_a_create_template_still_needs_amount(session, client):
    _admin(session, client)
    form = _fields(client.get("/admin/connectors/new?template=dingtalk_approval").text)
    form = {k: v for k, v in form.items() if not (k.startswith("map_") and v in ("amount", "合同金额"))}
    form.update({"name": "page dd bad", "opt_app_key": "k", "opt_process_code": "PROC-1", "app_secret": "s"})
    resp = client.post("/admin/connectors", data=form)
    assert resp.status_code == 422


def test_salesforce_client_secret_is_kept(session, client):
    _admin(session, client)
    c = _save(session, client, "crm_opportunity", "page sf", {"base_url": "https://acme.my.salesforce.com",
                                                               "opt_client_id": "3MVG", "client_secret": "sf-s-1"})
    assert crypto.decrypt(c.secrets)["client_secret"] == "sf-s-1"
