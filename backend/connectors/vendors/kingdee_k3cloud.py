"""Kingdee K/3 Cloud (金蝶云星空) sales orders through the Web API.

Follows Kingdee's public Web API documentation:
- 金蝶云星空 WebAPI 接口说明书 (login ValidateUser, bill query ExecuteBillQuery):
  https://vip.kingdee.com/article/490771221039228672
- WebApi 查询接口 (ExecuteBillQuery: FormId, FieldKeys, FilterString, OrderString, StartRow, Limit
  ≤ 2000; the answer is a list of rows in FieldKeys order; failures as Result.ResponseStatus):
  https://vip.kingdee.com/article/111098350287473408

1. POST <base>/Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc with
   {"acctID", "username", "password", "lcid": 2052}: LoginResultType 1 is success and the answer
   sets the session cookie (kdservice-sessionid) the client keeps; anything else is a refused sign-in
   with the answer's Message.
2. POST <base>/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc
   with {"data": {"FormId": "SAL_SaleOrder", "FieldKeys": "...", "FilterString": "FModifyDate >
   'start' AND FModifyDate <= 'end'", "OrderString": "FModifyDate ASC,FBillNo ASC", "StartRow", "Limit"}}
   per modified-time window; rows grouped into bills by FBillNo (engine/connectors/kingdee.py),
   the lines (FMaterialId.FNumber, FQty, FTaxPrice) as `lines`. A "session lost" answer (MsgCode 1)
   signs in again once.
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
from engine.connectors import kingdee, windows

LOGIN = "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc"
QUERY = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"
HEADER_KEYS = ["FBillNo", "FDate", "FModifyDate", "FCustId.FNumber", "FCustId.FName", "FDocumentStatus",
               "FBillAllAmount", "FSettleCurrId.FCode"]
LINE_KEYS = ["FMaterialId.FNumber", "FQty", "FTaxPrice"]

TEMPLATE = VendorTemplate(
    key="kingdee_k3cloud",
    label={"en": "Kingdee K/3 Cloud sales orders", "zh_CN": "金蝶云星空 销售订单"},
    description={"en": "Reads sales orders (SAL_SaleOrder) changed since the last run through the K/3 Cloud "
                       "Web API (sign-in, then bill query), one order per bill with its lines.",
                 "zh_CN": "通过金蝶云星空 WebAPI（先登录，再单据查询）读取上次以来修改过的销售订单（SAL_SaleOrder），"
                          "每张单据一个订单，附带明细行。"},
    base_url_hint={"en": "e.g. http://erp.example.com/K3Cloud", "zh_CN": "例如 http://erp.example.com/K3Cloud"},
    options=(
        Option("acct_id", {"en": "Data center id (acctID)", "zh_CN": "数据中心 ID（acctID）"}),
        Option("username", {"en": "User name", "zh_CN": "用户名"}),
        Option("lcid", {"en": "Language id (lcid)", "zh_CN": "语言 ID（lcid）"}, default="2052"),
        Option("form_id", {"en": "Form id", "zh_CN": "表单 ID"}, default="SAL_SaleOrder"),
        Option("filter", {"en": "Extra filter (FilterString, e.g. FDocumentStatus='C')",
                          "zh_CN": "附加过滤条件（FilterString，例如 FDocumentStatus='C'）"}, required=False),
    ),
    secrets=(Secret("password", {"en": "Password", "zh_CN": "密码"}),),
    settings={"page_size": 500, "window_minutes": 1440},
    schedule_minutes=5,
    mapping={"columns": {"external_id": "FBillNo", "number": "FBillNo", "customer_code": "FCustId_FNumber",
                         "customer": "FCustId_FName", "amount": "FBillAllAmount", "currency": "FSettleCurrId.FCode",
                         "created": "FDate", "stage": "FDocumentStatus", "data.vendor_lines": "lines"},
             "line_columns": {"vendor_lines": {"sku": "FMaterialId_FNumber", "quantity": "FQty", "price": "FTaxPrice"}},
             "stage_map": {"Z": "draft", "A": "draft", "B": "approval", "D": "approval", "C": "production"},
             "create_customers": True, "source": "kingdee"},
    fills=("external_id", "number", "customer_code", "customer", "amount", "currency", "created", "stage",
           "data.vendor_lines"),
    leaves=("planned_delivery", "payment_due", "owner", "designed_fields"),
    data_labels={"data.vendor_lines": {"en": "Line items (material, quantity, price incl. tax)",
                                       "zh_CN": "明细行（物料、数量、含税单价）"}},
    docs=("https://vip.kingdee.com/article/490771221039228672", "https://vip.kingdee.com/article/111098350287473408"),
)


def _login(ctx: FetchContext) -> None:
    body = ctx.http.post(LOGIN, json={"acctID": ctx.option("acct_id"), "username": ctx.option("username"),
                                      "password": ctx.secret("password"), "lcid": int(ctx.option("lcid") or 2052)})
    if not isinstance(body, dict):
        raise GendanError("vendor.answer_invalid", {"vendor": "Kingdee", "detail": "login answer is not an object"})
    if body.get("LoginResultType") != 1:
        raise login_failed("Kingdee", body.get("Message") or f"LoginResultType {body.get('LoginResultType')}")


def _session_lost(body: Any) -> bool:
    """Kingdee's "session lost" answer (MsgCode 1): sign in again once and repeat the query."""
    probe = body
    while isinstance(probe, list) and len(probe) == 1:
        probe = probe[0]
    status = ((probe.get("Result") or {}).get("ResponseStatus") or {}) if isinstance(probe, dict) else {}
    return isinstance(status, dict) and status.get("MsgCode") == 1


def _failure(body: Any) -> GendanError | None:
    """Kingdee's failure shape ({"Result": {"ResponseStatus": {...}}}, possibly inside [[...]])."""
    probe = body
    while isinstance(probe, list) and len(probe) == 1:
        probe = probe[0]
    if isinstance(probe, dict):
        status = (probe.get("Result") or {}).get("ResponseStatus") or {}
        errors = status.get("Errors") or [{}]
        message = errors[0].get("Message") if isinstance(errors[0], dict) else errors[0]
        return api_error("Kingdee", status.get("ErrorCode") or status.get("MsgCode") or "-", message or probe)
    return None


def fetch(ctx: FetchContext) -> Iterator[VendorPage]:
    _login(ctx)
    keys = HEADER_KEYS + LINE_KEYS
    limit = min(ctx.settings.page_size, 2000)
    extra = ctx.options.get("filter", "").strip()
    for window in ctx.windows():
        row = window.at
        while True:
            where = f"FModifyDate > '{window.text(window.start)}' AND FModifyDate <= '{window.text(window.end)}'"
            if extra:
                where = f"({where}) AND ({extra})"
            query = {"data": {"FormId": ctx.option("form_id"), "FieldKeys": ",".join(keys), "FilterString": where,
                              "OrderString": "FModifyDate ASC,FBillNo ASC", "TopRowCount": 0, "StartRow": row,
                              "Limit": limit}}
            body = ctx.http.post(QUERY, json=query)
            if _session_lost(body):
                _login(ctx)
                body = ctx.http.post(QUERY, json=query)
            problem = _failure(body)
            if problem is not None:
                raise problem
            if not isinstance(body, list):
                raise GendanError("vendor.answer_invalid", {"vendor": "Kingdee", "detail": "rows are not a list"})
            try:
                split = kingdee.split_page(keys, LINE_KEYS, body, start_row=row, limit=limit)
            except ValueError:
                raise GendanError("vendor.answer_invalid", {"vendor": "Kingdee",
                                                            "detail": "a row does not match FieldKeys"}) from None
            if not split.more:
                yield VendorPage(split.bills, windows.cursor_done(window))
                break
            yield VendorPage(split.bills, windows.cursor_at(window, split.next_row))
            row = split.next_row
            if ctx.http.requests_left <= 0:
                return
