"""WeCom (企业微信) approvals: an approved application of one approval template becomes an order.

Follows WeCom's public server API documentation:
- 获取 access_token: GET /cgi-bin/gettoken?corpid=&corpsecret= → {"errcode": 0, "access_token",
  "expires_in"}; a wrong secret is {"errcode": 40001, "errmsg": "invalid credential"} (or 40013 for a
  wrong corpid): https://developer.work.weixin.qq.com/document/path/91039
- 批量获取审批单号: POST /cgi-bin/oa/getapprovalinfo?access_token= with {"starttime", "endtime"
  (seconds, at most 31 days apart), "new_cursor", "size" ≤ 100, "filters": [{"key": "template_id",
  "value"}, {"key": "sp_status", "value": "2"}…]} → {"errcode": 0, "sp_no_list", "new_next_cursor"}:
  https://developer.work.weixin.qq.com/document/path/91816 (the filter keys and sp_status values as
  in https://hexdocs.pm/wechat_sdk/WeChat.Work.OA.Approval.html: 1 审批中, 2 已通过, 3 已驳回, 4 已撤销…)
- 获取审批申请详情: POST /cgi-bin/oa/getapprovaldetail?access_token= with {"sp_no"} → {"errcode": 0,
  "info": {"sp_no", "sp_name", "sp_status", "template_id", "apply_time", "applyer", "apply_data":
  {"contents": [{"control": "Text" | "Money" | "Date" | "Number" | "Selector" …, "id", "title":
  [{"text", "lang"}], "value": {...}}]}}}: https://developer.work.weixin.qq.com/document/path/91983

The list filters by the time an application was submitted, so the template asks for the template's
applications in each window whatever their status (filtering sp_status=2 would lose one submitted
before the cursor and approved after it): those still 审批中 (1) are kept in the cursor (`pending`)
and looked at again on each run; only 已通过 (2) becomes an order. Controls are read by their title
(合同编号, 客户名称, 合同金额, 交货日期 by default).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from backend.connectors.vendor_base import (
    FetchContext,
    Option,
    Secret,
    VendorPage,
    VendorTemplate,
)
from backend.connectors.vendors import _approvals as shared
from backend.errors import GendanError
from engine.connectors import approvals, windows

VENDOR = "WeCom"
FORM_FIELDS = {"contract_no": "field_number", "customer": "field_customer", "amount": "field_amount",
               "delivery": "field_delivery"}
APPROVED, RUNNING = 2, 1

TEMPLATE = VendorTemplate(
    key="wecom_approval",
    label={"en": "WeCom approvals (approved application → order)", "zh_CN": "企业微信审批（审批通过 → 订单）"},
    description={"en": "Reads the applications of one WeCom approval template; each one approved (已通过) becomes "
                       "an order with the contract number, customer, amount and delivery date from its controls. "
                       "Applications still being approved are looked at again until they finish.",
                 "zh_CN": "读取企业微信一个审批模板的申请单；每个已通过的申请单成为一个订单，合同编号、客户、金额和交货日期"
                          "取自表单控件。审批中的申请单会在之后的运行中再次查看，直到结束。"},
    base_url="https://qyapi.weixin.qq.com",
    base_url_hint={"en": "https://qyapi.weixin.qq.com (WeCom's gateway)", "zh_CN": "https://qyapi.weixin.qq.com（企业微信网关）"},
    options=(
        Option("corp_id", {"en": "Corp ID (corpid)", "zh_CN": "企业 ID（corpid）"}),
        Option("template_id", {"en": "Approval template id", "zh_CN": "审批模板 ID（template_id）"}),
        Option("field_number", {"en": "Control title: contract number", "zh_CN": "控件名称：合同编号"}, default="合同编号"),
        Option("field_customer", {"en": "Control title: customer", "zh_CN": "控件名称：客户"}, default="客户名称"),
        Option("field_amount", {"en": "Control title: amount", "zh_CN": "控件名称：金额"}, default="合同金额"),
        Option("field_delivery", {"en": "Control title: delivery date", "zh_CN": "控件名称：交货日期"},
               default="交货日期", required=False),
    ),
    secrets=(Secret("app_secret", {"en": "Secret of the approval app (corpsecret)",
                                   "zh_CN": "审批应用的 Secret（corpsecret）"}),),
    settings={"page_size": 100, "window_minutes": 1440},
    schedule_minutes=10,
    mapping={"columns": {"external_id": "contract_no", "number": "contract_no", "customer": "customer",
                         "amount": "amount", "planned_delivery": "delivery", "created": "apply_time",
                         "data.approval_no": "sp_no"},
             "create_customers": True, "source": "wecom"},
    fills=("external_id", "number", "customer", "amount", "planned_delivery", "created", "data.approval_no"),
    leaves=("payment_due", "owner", "customer_details", "designed_fields", "flow"),
    data_labels={"data.approval_no": {"en": "Approval number (WeCom sp_no)", "zh_CN": "审批单号（企业微信 sp_no）"}},
    docs=("https://developer.work.weixin.qq.com/document/path/91039",
          "https://developer.work.weixin.qq.com/document/path/91816",
          "https://developer.work.weixin.qq.com/document/path/91983",
          "https://hexdocs.pm/wechat_sdk/WeChat.Work.OA.Approval.html"),
)


def token(ctx: FetchContext) -> str:
    return shared.access_token(ctx, VENDOR, "cgi-bin/gettoken", {"corpid": ctx.option("corp_id"),
                                                              "corpsecret": ctx.secret("app_secret")})


def _seconds(value: datetime, ctx: FetchContext) -> int:
    return int(value.replace(tzinfo=ctx.zone).timestamp())


def _local(seconds: int, ctx: FetchContext) -> str:
    return datetime.fromtimestamp(seconds, UTC).astimezone(ctx.zone).strftime("%Y-%m-%d %H:%M:%S")


def _detail(ctx: FetchContext, access: str, sp_no: str) -> tuple[str, dict[str, Any] | None]:
    body = shared.checked(VENDOR, ctx.http.post("cgi-bin/oa/getapprovaldetail", params={"access_token": access},
                                  json={"sp_no": sp_no}), "getapprovaldetail")
    info = body.get("info")
    if not isinstance(info, dict):
        raise GendanError("vendor.answer_invalid", {"vendor": VENDOR, "detail": "no info"})
    status = info.get("sp_status")
    if status == RUNNING:
        return "pending", None
    if status != APPROVED:
        return "done", None
    data = info.get("apply_data") if isinstance(info.get("apply_data"), dict) else {}
    names = {key: ctx.options.get(option, "") for key, option in FORM_FIELDS.items()}
    record = approvals.pick(approvals.wecom_form(data.get("contents"), ctx.zone), names)
    stamp = str(info.get("apply_time") or "")
    record.update({"sp_no": sp_no, "sp_name": str(info.get("sp_name") or "")[:200],
                   "apply_time": _local(int(stamp), ctx) if stamp.isdigit() else ""})
    return "done", record


def fetch(ctx: FetchContext) -> Iterator[VendorPage]:
    access = token(ctx)
    filters = [{"key": "template_id", "value": ctx.option("template_id")}]
    size = max(1, min(ctx.settings.page_size, 100, ctx.http.requests_left // 2 - 1))  # a page and its details fit
    detail = functools.partial(_detail, ctx, access)
    # applications seen in approval before: finished since? (a share of them per run)
    first_page, pending = shared.recheck_pending(ctx, size, detail)
    if first_page is not None:
        yield first_page
    first = True
    for window in ctx.windows():  # window_minutes is at most 7 days: inside WeCom's 31
        page = window.at
        following = str(ctx.cursor.get("next") or "") if page else ""  # resuming a window mid-way
        while True:
            if not first and ctx.http.requests_left < size + 1:
                return  # no room for a list and its details: the next run reads on from the cursor
            first = False
            body = shared.checked(VENDOR, ctx.http.post("cgi-bin/oa/getapprovalinfo", params={"access_token": access}, json={
                "starttime": str(_seconds(window.start, ctx)), "endtime": str(_seconds(window.end, ctx)),
                "new_cursor": following, "size": size, "filters": filters}), "getapprovalinfo")
            numbers = body.get("sp_no_list") if isinstance(body.get("sp_no_list"), list) else []
            records, waiting, done = shared.read_each(numbers, detail)
            pending = approvals.pending(pending, waiting, done)
            following = str(body.get("new_next_cursor") or "")[:200]
            if not following or not numbers:
                yield VendorPage(records, {**windows.cursor_done(window), "next": "", "pending": pending})
                break
            page += 1
            yield VendorPage(records, {**windows.cursor_at(window, page), "next": following, "pending": pending})
            if ctx.http.requests_left <= 0:
                return
