"""Yonyou U8+ (用友 U8+) sales orders through the U8+ OpenAPI (api.yonyouup.com).

Shape followed (Yonyou's OpenAPI conventions, https://yonyouup.apifox.cn , e.g. the batch_get
list pages with errcode/errmsg/page_index/rows_per_page/row_count/page_count; U8+ API
tutorial: https://bbs.qeasy.cloud/d/13137-yong-you-u8-apijie-kou-shi-yong-jiao-cheng ):
1. GET <base>/system/token?from_account&app_key&app_secret -> {"errcode": "0", "token": {"id",
   "expiresIn"}}; errcode other than "0" is a refused sign-in (errmsg shown).
2. GET <base>/api/saleorderlist/batch_get?from_account&to_account&app_key&token&ds_sequence
   &page_index&rows_per_page&timestamp_begin&timestamp_end -> {"errcode": "0", "page_index",
   "page_count", "row_count", "saleorderlist": [{"code", "date", "custcode", "cusname", "state", …}]}
   per modified-time window (the list's timestamp filter; its parameter names are options, as
   U8+ versions differ), pages 1..page_count.
3. GET <base>/api/saleorder/get?…&id=<code> -> {"errcode": "0", "saleorder": {…, "entry": [{
   "inventorycode", "quantity", "taxprice", "sum"}]}}: the order with its lines (list-then-detail).
The record is the detail's saleorder with `lines` (inventorycode, quantity, taxprice, sum) and
`total` (the lines' sum: 价税合计).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
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
from engine.connectors import windows

TEMPLATE = VendorTemplate(
    key="yonyou_u8",
    label={"en": "Yonyou U8+ sales orders", "zh_CN": "用友 U8+ 销售订单"},
    description={"en": "Reads sales orders changed since the last run through the U8+ OpenAPI (token, order list, "
                       "then each order with its lines).",
                 "zh_CN": "通过 U8+ OpenAPI（令牌、订单列表、再逐单读取明细）读取上次以来变更的销售订单。"},
    base_url="https://api.yonyouup.com",
    base_url_hint={"en": "The OpenAPI gateway (https://api.yonyouup.com)", "zh_CN": "OpenAPI 网关（https://api.yonyouup.com）"},
    options=(
        Option("from_account", {"en": "Developer account (from_account)", "zh_CN": "调用方账号（from_account）"}),
        Option("to_account", {"en": "Enterprise account (to_account)", "zh_CN": "提供方账号（to_account）"}),
        Option("app_key", {"en": "App key", "zh_CN": "应用 app_key"}),
        Option("ds_sequence", {"en": "Data source number (ds_sequence)", "zh_CN": "数据源序号（ds_sequence）"},
               default="1"),
        Option("since_param", {"en": "Modified-from parameter", "zh_CN": "修改时间起参数名"}, default="timestamp_begin"),
        Option("until_param", {"en": "Modified-to parameter", "zh_CN": "修改时间止参数名"}, default="timestamp_end"),
    ),
    secrets=(Secret("app_secret", {"en": "App secret", "zh_CN": "应用 app_secret"}),),
    settings={"page_size": 50, "window_minutes": 1440},
    schedule_minutes=5,
    mapping={"columns": {"external_id": "code", "number": "code", "customer_code": "custcode", "customer": "cusname",
                         "amount": "total", "created": "date", "stage": "state", "data.vendor_lines": "lines"},
             "line_columns": {"vendor_lines": {"sku": "inventorycode", "quantity": "quantity", "price": "taxprice"}},
             "defaults": {"currency": "CNY"},
             "stage_map": {"Opening": "draft", "开立": "draft", "Changing": "approval", "变更": "approval",
                           "Approved": "production", "审核": "production"},
             "status_map": {"Closed": "completed", "关闭": "completed"},
             "create_customers": True, "source": "yonyou"},
    fills=("external_id", "number", "customer_code", "customer", "amount", "currency", "created", "stage",
           "data.vendor_lines"),
    leaves=("planned_delivery", "payment_due", "owner", "designed_fields"),
    data_labels={"data.vendor_lines": {"en": "Line items (inventory, quantity, price incl. tax)",
                                       "zh_CN": "明细行（存货、数量、含税单价）"}},
    docs=("https://yonyouup.apifox.cn", "https://bbs.qeasy.cloud/d/13137-yong-you-u8-apijie-kou-shi-yong-jiao-cheng"),
)


def _ok(body: Any, what: str) -> dict:
    if not isinstance(body, dict):
        raise GendanError("vendor.answer_invalid", {"vendor": "Yonyou U8+", "detail": f"{what} is not an object"})
    if str(body.get("errcode", "")) != "0":
        raise api_error("Yonyou U8+", body.get("errcode"), body.get("errmsg") or "-")
    return body


def _token(ctx: FetchContext) -> str:
    body = ctx.http.get("system/token", params={"from_account": ctx.option("from_account"),
                                                "app_key": ctx.option("app_key"),
                                                "app_secret": ctx.secret("app_secret")})
    if not isinstance(body, dict) or str(body.get("errcode", "")) != "0":
        raise login_failed("Yonyou U8+", (body or {}).get("errmsg") if isinstance(body, dict) else "no answer")
    token = (body.get("token") or {}).get("id") if isinstance(body.get("token"), dict) else None
    if not token:
        raise GendanError("vendor.answer_invalid", {"vendor": "Yonyou U8+", "detail": "no token.id"})
    return str(token)


def _total(lines: list[dict]) -> str:
    total = Decimal(0)
    for line in lines:
        try:
            total += Decimal(str(line.get("sum") or 0))
        except InvalidOperation:
            continue
    return str(total)


def fetch(ctx: FetchContext) -> Iterator[VendorPage]:
    token = _token(ctx)
    common = {"from_account": ctx.option("from_account"), "to_account": ctx.option("to_account"),
              "app_key": ctx.option("app_key"), "token": token, "ds_sequence": ctx.options.get("ds_sequence") or "1"}
    for window in ctx.windows():
        page = max(1, window.at)
        while True:
            if ctx.http.requests_left <= ctx.settings.page_size + 1:
                return  # a list page and each of its orders must fit in this run's requests: the next run reads on
            body = _ok(ctx.http.get("api/saleorderlist/batch_get", params={
                **common, "page_index": page, "rows_per_page": ctx.settings.page_size,
                ctx.option("since_param"): window.text(window.start),
                ctx.option("until_param"): window.text(window.end)}), "the order list")
            records = []
            for item in body.get("saleorderlist") or []:
                code = item.get("code") if isinstance(item, dict) else None
                if not code:
                    continue
                detail = _ok(ctx.http.get("api/saleorder/get", params={**common, "id": code}), "an order")
                order = detail.get("saleorder")
                if not isinstance(order, dict):
                    raise GendanError("vendor.answer_invalid", {"vendor": "Yonyou U8+", "detail": "no saleorder"})
                lines = [e for e in order.get("entry") or [] if isinstance(e, dict)]
                records.append({**{k: v for k, v in order.items() if k != "entry"},
                                "lines": [{k: e.get(k) for k in ("inventorycode", "quantity", "taxprice", "sum")}
                                          for e in lines], "total": _total(lines)})
            try:
                pages = int(body.get("page_count") or 0)
            except (TypeError, ValueError):
                pages = 0
            if page >= pages:
                yield VendorPage(records, windows.cursor_done(window))
                break
            yield VendorPage(records, windows.cursor_at(window, page + 1))
            page += 1
