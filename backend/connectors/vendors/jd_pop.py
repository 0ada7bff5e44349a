"""JD (京东) POP shop orders through the JD open platform (JOS), every 5 minutes by modified time.

Follows the JOS documentation:
- API jingdong.pop.order.search (订单检索): https://jos.jd.com/apilist?apiGroupId=55&apiId=4247
  — 360buy_param_json with start_date/end_date, order_state, optional_fields, page/page_size and
  dateType (0: by modified time); answer jingdong_pop_order_search_responce.searchorderinfo_result
  {apiResult {success, chineseErrCode, englishErrCode}, orderInfoList[], orderTotal}.
- System parameters and signing (method, app_key, access_token, timestamp, v=2.0, sign: MD5 of
  secret + sorted name+value + secret, upper case): https://jos.jd.com/commontools?id=2
  (engine/connectors/signing.py, the same algorithm as Taobao's).
- Errors: {"error_response": {"code", "zh_desc", "en_desc"}}; a refused token, signature or
  app key is a refused sign-in.

Each window is read forwards, page 1..ceil(orderTotal / page_size); an order's itemInfoList
becomes `lines` (outerSkuId or skuId, skuName, itemTotal, jdPrice).
"""

from __future__ import annotations

import json
import math
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
from engine.connectors import signing, windows

METHOD = "jingdong.pop.order.search"
STATES = "WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM,FINISHED_L,TRADE_CANCELED"
FIELDS = "orderId,orderState,orderPayment,orderTotalPrice,modified,orderStartTime,pin,consigneeInfo,itemInfoList"
CREDENTIAL_WORDS = ("token", "sign", "app_key", "appkey")

TEMPLATE = VendorTemplate(
    key="jd_pop",
    label={"en": "JD shop orders", "zh_CN": "京东 店铺订单"},
    description={"en": "Reads the shop's orders changed since the last run (jingdong.pop.order.search, signed "
                       "requests) every 5 minutes; the order state sets the stage.",
                 "zh_CN": "每 5 分钟读取店铺上次以来修改过的订单（jingdong.pop.order.search，签名请求）；订单状态决定订单阶段。"},
    base_url="https://api.jd.com/routerjson",
    base_url_hint={"en": "The JOS gateway (https://api.jd.com/routerjson)",
                   "zh_CN": "京东开放平台网关（https://api.jd.com/routerjson）"},
    options=(Option("app_key", {"en": "App key", "zh_CN": "应用 App Key"}),
             Option("order_state", {"en": "Order states read", "zh_CN": "读取的订单状态"}, default=STATES)),
    secrets=(Secret("app_secret", {"en": "App secret", "zh_CN": "应用 App Secret"}),
             Secret("access_token", {"en": "Access token (the shop's authorization)",
                                     "zh_CN": "Access Token（店铺授权）"})),
    settings={"page_size": 100, "window_minutes": 1440},
    schedule_minutes=5,
    mapping={"columns": {"external_id": "orderId", "number": "orderId", "customer": "pin", "amount": "orderPayment",
                         "created": "orderStartTime", "stage": "orderState", "data.vendor_lines": "lines"},
             "line_columns": {"vendor_lines": {"sku": "sku", "name": "name", "quantity": "num", "price": "price"}},
             "defaults": {"currency": "CNY"},
             "stage_map": {"WAIT_SELLER_STOCK_OUT": "production", "WAIT_GOODS_RECEIVE_CONFIRM": "shipping"},
             "status_map": {"FINISHED_L": "completed", "TRADE_CANCELED": "cancelled"},
             "create_customers": True, "source": "jd"},
    fills=("external_id", "number", "customer", "amount", "currency", "created", "stage", "data.vendor_lines"),
    leaves=("planned_delivery", "payment_due", "owner", "customer_details", "designed_fields"),
    data_labels={"data.vendor_lines": {"en": "Line items (SKU, name, quantity, price)",
                                       "zh_CN": "明细行（SKU、名称、数量、单价）"}},
    docs=("https://jos.jd.com/apilist?apiGroupId=55&apiId=4247", "https://jos.jd.com/commontools?id=2"),
)


def _call(ctx: FetchContext, params: dict[str, Any]) -> dict:
    query = {"method": METHOD, "app_key": ctx.option("app_key"), "access_token": ctx.secret("access_token"),
             "timestamp": windows.local_now(ctx.now, ctx.zone).strftime(windows.FORMAT), "v": "2.0",
             "360buy_param_json": json.dumps(params, ensure_ascii=False, separators=(",", ":"))}
    query["sign"] = signing.md5_sign(query, ctx.secret("app_secret"))
    body = ctx.http.post("", data=query)
    if isinstance(body, dict) and isinstance(body.get("error_response"), dict):
        error = body["error_response"]
        code = str(error.get("code", ""))
        message = error.get("zh_desc") or error.get("en_desc") or "-"
        if any(word in str(error.get("en_desc") or "").lower() for word in CREDENTIAL_WORDS):
            raise login_failed("JD", f"{code} {message}")
        raise api_error("JD", code, message)
    answer = (body.get("jingdong_pop_order_search_responce") or {}) if isinstance(body, dict) else {}
    result = answer.get("searchorderinfo_result") if isinstance(answer, dict) else None
    if not isinstance(result, dict):
        raise GendanError("vendor.answer_invalid", {"vendor": "JD", "detail": "no searchorderinfo_result"})
    api = result.get("apiResult") or {}
    if isinstance(api, dict) and api.get("success") is False:
        raise api_error("JD", api.get("englishErrCode") or api.get("numberCode") or "-",
                        api.get("chineseErrCode") or api.get("englishErrCode") or "-")
    return result


def _orders(result: dict) -> list[dict]:
    out = []
    for order in result.get("orderInfoList") or []:
        if not isinstance(order, dict):
            continue
        items = order.get("itemInfoList") or []
        lines = [{"sku": i.get("outerSkuId") or i.get("skuId"), "name": i.get("skuName"), "num": i.get("itemTotal"),
                  "price": i.get("jdPrice")} for i in items if isinstance(i, dict)]
        out.append({**{k: v for k, v in order.items() if k != "itemInfoList"}, "lines": lines})
    return out


def fetch(ctx: FetchContext) -> Iterator[VendorPage]:
    size = min(ctx.settings.page_size, 100)
    for window in ctx.windows():
        page = max(1, window.at)
        while True:
            result = _call(ctx, {"start_date": window.text(window.start), "end_date": window.text(window.end),
                                 "order_state": ctx.option("order_state"), "optional_fields": FIELDS,
                                 "page": str(page), "page_size": str(size), "dateType": "0"})
            try:
                pages = math.ceil(int(result.get("orderTotal") or 0) / size)
            except (TypeError, ValueError):
                pages = 0
            if page >= pages:
                yield VendorPage(_orders(result), windows.cursor_done(window))
                break
            yield VendorPage(_orders(result), windows.cursor_at(window, page + 1))
            page += 1
            if ctx.http.requests_left <= 0:
                return
