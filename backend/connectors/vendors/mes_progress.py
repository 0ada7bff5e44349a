"""MES work-order progress → the order's production progress (update only: never creates orders).

There is no single MES standard API: each product (and each plant's own MES) has its own. This
template reads a **shape documented by Gendan** (docs/connectors.md, "MES work-order progress"),
the common denominator of the work-order lists MES products expose (work order number, the sales
order it is for, planned and finished quantity, status, modified time), so a plant's IT can put a
small view or adapter in front of its MES, or point it at an MES that answers this way:

    GET <base>/api/work-orders?modified_from=2026-11-23 00:00:00&modified_to=…&page=1&page_size=100
    Authorization: Bearer <token>
    → {"code": 0, "message": "ok", "data": {"total": 3, "page": 1, "page_size": 100, "items": [
        {"work_order_no": "WO-001", "sales_order_no": "SO-1001", "product_code": "P-1",
         "planned_qty": 100, "finished_qty": 60, "status": "in_progress",
         "modified_at": "2026-11-23 10:00:00", "finished_at": null}]}}

`code` ≠ 0 is an error answer (`message` says why); HTTP 401 is a refused token. Times are the
MES's local wall clock (settings.timezone). Progress = finished / planned (engine/connectors/
approvals.py `progress`), written to the designed field `data.production_progress` of the order
whose number (or external id) is `sales_order_no`, through the order pipeline; at 100% the
finish date goes to `data.production_done_on` and the open to-dos of the flow's production node
(option `production_node`, default `production_progress` as in the B2B fulfilment flow) are completed
by the system (backend/flows/service_system.py) with the work order as the reason. An order the
MES names but Gendan does not have is the record's error (`vendor.order_not_found`). One work order
per sales order is assumed (several: the last one read wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from backend.connectors.vendor_base import (
    FetchContext,
    Option,
    Secret,
    VendorPage,
    VendorTemplate,
    api_error,
    login_failed,
)
from backend.errors import GendanError
from backend.flows import service_system
from engine.connectors import approvals, windows

VENDOR = "MES"
PATH = "api/work-orders"

TEMPLATE = VendorTemplate(
    key="mes_progress",
    label={"en": "MES work-order progress → production progress", "zh_CN": "MES 工单进度 → 生产进度"},
    description={"en": "Reads work orders changed since the last run from an MES answering Gendan's documented "
                       "work-order shape and updates the production progress of the order each one is for "
                       "(finished ÷ planned). At 100% the flow's production step completes by itself. It never "
                       "creates orders.",
                 "zh_CN": "从按 Gendan 文档中工单格式应答的 MES 读取上次以来变动的工单，更新对应订单的生产进度"
                          "（完工数 ÷ 计划数）。达到 100% 时，流程的生产节点自动完成。它不会新建订单。"},
    base_url_hint={"en": "e.g. http://mes.example.com", "zh_CN": "例如 http://mes.example.com"},
    options=(
        Option("production_node", {"en": "Flow step completed at 100% (node key)",
                                   "zh_CN": "100% 时完成的流程节点（节点键）"}, default="production_progress"),
    ),
    secrets=(Secret("access_token", {"en": "API token (Bearer)", "zh_CN": "API 令牌（Bearer）"}),),
    settings={"page_size": 100, "window_minutes": 1440},
    schedule_minutes=5,
    mapping={"columns": {"external_id": "sales_order_no", "data.production_progress": "progress",
                         "data.production_done_on": "done_on", "data.mes_work_order": "work_order_no"},
             "data_types": {"production_progress": "number", "production_done_on": "date"},
             "source": "mes"},
    fills=("data.production_progress", "data.production_done_on", "data.mes_work_order", "external_id"),
    leaves=({"en": "Creating orders (it only updates orders that exist, found by order number or external id)",
             "zh_CN": "新建订单（只更新已有订单，按订单号或外部编号查找）"}, "designed_fields", "flow"),
    data_labels={"data.production_progress": {"en": "Production progress (%)", "zh_CN": "生产进度（%）"},
                 "data.production_done_on": {"en": "Production finished on", "zh_CN": "生产完工日期"},
                 "data.mes_work_order": {"en": "MES work order", "zh_CN": "MES 工单号"}},
    docs=("docs/connectors.md#mes-work-order-progress (Gendan's own shape: there is no single MES standard)",),
    update_only=True,
)


def _record(item: dict[str, Any], ctx: FetchContext) -> dict[str, Any]:
    percent = approvals.progress(item.get("planned_qty"), item.get("finished_qty"))
    done = percent is not None and percent >= 100
    finished = ctx.parse_time(item.get("finished_at") or item.get("modified_at")) if done else None
    return {"work_order_no": str(item.get("work_order_no") or "")[:120],
            "sales_order_no": str(item.get("sales_order_no") or "")[:120],
            "progress": str(percent) if percent is not None else "",
            "done_on": finished.date().isoformat() if finished else "",
            "planned_qty": item.get("planned_qty"), "finished_qty": item.get("finished_qty"),
            "status": str(item.get("status") or "")[:40]}


def fetch(ctx: FetchContext) -> Iterator[VendorPage]:
    headers = {"Authorization": f"Bearer {ctx.secret('access_token')}"}
    size = ctx.settings.page_size
    for window in ctx.windows():
        page = window.at or 1
        while True:
            body = ctx.http.get(PATH, headers=headers, accept_status=(401,), params={
                "modified_from": window.text(window.start), "modified_to": window.text(window.end),
                "page": page, "page_size": size})
            if not isinstance(body, dict):
                raise GendanError("vendor.answer_invalid", {"vendor": VENDOR, "detail": "answer is not an object"})
            if body.get("code") == 401 or body.get("error") == "unauthorized":
                raise login_failed(VENDOR, body.get("message") or "token refused")
            if body.get("code") != 0:
                raise api_error(VENDOR, body.get("code"), body.get("message") or "-")
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            items = [i for i in data.get("items") or [] if isinstance(i, dict)]
            records = [_record(i, ctx) for i in items]
            total = int(data.get("total") or 0) if str(data.get("total") or "0").isdigit() else 0
            if page * size >= total or not items:
                yield VendorPage(records, windows.cursor_done(window))
                break
            page += 1
            yield VendorPage(records, windows.cursor_at(window, page))
            if ctx.http.requests_left <= 0:
                return


def after_update(session, ctx, order, record: dict[str, Any]) -> None:
    """At 100%: complete the order's open production to-dos (the system, with the work order as reason)."""
    percent = approvals.progress(record.get("planned_qty"), record.get("finished_qty"))
    if percent is None or percent < 100:
        return
    node = str(ctx.config.options.get("production_node") or "").strip() or "production_progress"
    note = (f"MES {record.get('work_order_no')}: {record.get('finished_qty')}/{record.get('planned_qty')} "
            f"(100%)")
    service_system.complete_node(session, order=order, node_key=node, actor=ctx.actor, now=ctx.now, note=note)
