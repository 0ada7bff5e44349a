"""Tmall / Taobao shop orders through the Taobao Open Platform (TOP), every 5 minutes by modified time.

Follows the TOP documentation:
- API taobao.trades.sold.increment.get (查询卖家已卖出的增量交易数据):
  https://open.taobao.com/api.htm?docId=128&docType=2 — start_modified/end_modified at most one
  day apart, page_no/page_size, use_has_next; results ordered by modified time, newest first,
  "paging from the last page backwards avoids missing orders" (a trade modified meanwhile leaves
  the window and shifts the later pages forward).
- Signing (签名算法, sign_method=md5): https://open.taobao.com/doc.htm?docId=101617&docType=1 —
  engine/connectors/signing.py.
- Errors: {"error_response": {"code", "msg", "sub_code", "sub_msg"}}; code 25 (invalid signature),
  26/27 (missing/invalid session), 28/29 (missing/invalid app key) are refused credentials.

Each window: page 1 without use_has_next gives total_results; the pages are then read from the
last to the first (the cursor keeps the next page number, so a stopped run resumes downwards).
A trade's `orders.order[]` become `lines` (outer_sku_id or outer_iid or num_iid, title, num, price).
"""

from __future__ import annotations

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

METHOD = "taobao.trades.sold.increment.get"
FIELDS = "tid,status,payment,buyer_nick,created,modified,pay_time,receiver_name,orders"
CREDENTIAL_CODES = {"25", "26", "27", "28", "29", "53"}

TEMPLATE = VendorTemplate(
    key="tmall_top",
    label={"en": "Tmall / Taobao shop orders", "zh_CN": "天猫 / 淘宝 店铺订单"},
    description={"en": "Reads the shop's trades changed since the last run (taobao.trades.sold.increment.get, "
                       "signed requests, one-day windows) every 5 minutes; the trade status sets the stage.",
                 "zh_CN": "每 5 分钟读取店铺上次以来修改过的交易（taobao.trades.sold.increment.get，签名请求，"
                          "每次一天的时间窗口）；交易状态决定订单阶段。"},
    base_url="https://eco.taobao.com/router/rest",
    base_url_hint={"en": "The TOP gateway (https://eco.taobao.com/router/rest)",
                   "zh_CN": "TOP 网关（https://eco.taobao.com/router/rest）"},
    options=(Option("app_key", {"en": "App key", "zh_CN": "应用 App Key"}),),
    secrets=(Secret("app_secret", {"en": "App secret", "zh_CN": "应用 App Secret"}),
             Secret("access_token", {"en": "Session key (the shop's authorization)", "zh_CN": "SessionKey（店铺授权）"})),
    settings={"page_size": 100, "window_minutes": 1440},
    schedule_minutes=5,
    mapping={"columns": {"external_id": "tid", "number": "tid", "customer": "buyer_nick", "amount": "payment",
                         "created": "created", "stage": "status", "data.vendor_lines": "lines"},
             "line_columns": {"vendor_lines": {"sku": "sku", "name": "title", "quantity": "num", "price": "price"}},
             "defaults": {"currency": "CNY"},
             "stage_map": {"TRADE_NO_CREATE_PAY": "draft", "WAIT_BUYER_PAY": "draft", "PAY_PENDING": "draft",
                           "WAIT_PRE_AUTH_CONFIRM": "draft", "WAIT_SELLER_SEND_GOODS": "production",
                           "SELLER_CONSIGNED_PART": "shipping", "WAIT_BUYER_CONFIRM_GOODS": "shipping",
                           "TRADE_BUYER_SIGNED": "delivered"},
             "status_map": {"TRADE_FINISHED": "completed", "TRADE_CLOSED": "cancelled",
                            "TRADE_CLOSED_BY_TAOBAO": "cancelled"},
             "create_customers": True, "source": "tmall"},
    fills=("external_id", "number", "customer", "amount", "currency", "created", "stage", "data.vendor_lines"),
    leaves=("planned_delivery", "payment_due", "owner", "customer_details", "designed_fields"),
    data_labels={"data.vendor_lines": {"en": "Line items (SKU, title, quantity, price)",
                                       "zh_CN": "明细行（SKU、标题、数量、单价）"}},
    docs=("https://open.taobao.com/api.htm?docId=128&docType=2",
          "https://open.taobao.com/doc.htm?docId=101617&docType=1"),
)


def _call(ctx: FetchContext, params: dict[str, Any]) -> dict:
    query = {"method": METHOD, "app_key": ctx.option("app_key"), "session": ctx.secret("access_token"),
             "timestamp": windows.local_now(ctx.now, ctx.zone).strftime(windows.FORMAT), "format": "json",
             "v": "2.0", "sign_method": "md5", "fields": FIELDS, **{k: str(v) for k, v in params.items()}}
    query["sign"] = signing.md5_sign(query, ctx.secret("app_secret"))
    body = ctx.http.post("", data=query)
    if isinstance(body, dict) and isinstance(body.get("error_response"), dict):
        error = body["error_response"]
        code = str(error.get("code", ""))
        message = " / ".join(str(x) for x in (error.get("msg"), error.get("sub_code"), error.get("sub_msg")) if x)
        if code in CREDENTIAL_CODES:
            raise login_failed("Taobao", f"{code} {message}")
        raise api_error("Taobao", code, message)
    answer = body.get("trades_sold_increment_get_response") if isinstance(body, dict) else None
    if not isinstance(answer, dict):
        raise GendanError("vendor.answer_invalid", {"vendor": "Taobao", "detail": "no trades_sold_increment_get_response"})
    return answer


def _trades(answer: dict) -> list[dict]:
    trades = (answer.get("trades") or {}).get("trade") or []
    out = []
    for trade in trades if isinstance(trades, list) else []:
        if not isinstance(trade, dict):
            continue
        orders = (trade.get("orders") or {}).get("order") or [] if isinstance(trade.get("orders"), dict) else []
        lines = [{"sku": o.get("outer_sku_id") or o.get("outer_iid") or o.get("num_iid"), "title": o.get("title"),
                  "num": o.get("num"), "price": o.get("price")} for o in orders if isinstance(o, dict)]
        out.append({**{k: v for k, v in trade.items() if k != "orders"}, "lines": lines})
    return out


def fetch(ctx: FetchContext) -> Iterator[VendorPage]:
    size = min(ctx.settings.page_size, 100)
    for window in ctx.windows():
        span = {"start_modified": window.text(window.start), "end_modified": window.text(window.end),
                "page_size": size}
        page = window.at
        if page <= 0:  # a new window: how many pages, then from the last one backwards
            first = _call(ctx, {**span, "page_no": 1, "use_has_next": "false"})
            try:
                total = int(first.get("total_results") or 0)
            except (TypeError, ValueError):
                total = 0
            page = max(1, math.ceil(total / size))
            if page == 1:
                yield VendorPage(_trades(first), windows.cursor_done(window))
                continue
        while page >= 1:
            answer = _call(ctx, {**span, "page_no": page, "use_has_next": "false"})
            page -= 1
            yield VendorPage(_trades(answer), windows.cursor_done(window) if page < 1
                             else windows.cursor_at(window, page))
            if page >= 1 and ctx.http.requests_left <= 0:
                return
