"""DingTalk (钉钉) approvals: an approved contract approval (合同审批) becomes an order.

Follows DingTalk's public server API documentation (the old `oapi.dingtalk.com` API):
- 获取企业内部应用的 access_token: GET /gettoken?appkey=&appsecret= → {"errcode": 0, "access_token",
  "expires_in"}; a wrong key or secret is errcode ≠ 0 with errmsg:
  https://open.dingtalk.com/document/orgapp/obtain-orgapp-token
- 获取审批实例 ID 列表: POST /topapi/processinstance/listids?access_token= with {"process_code",
  "start_time", "end_time" (ms), "size" ≤ 20, "cursor"} → {"errcode": 0, "result": {"list": [ids],
  "next_cursor"}} (no next_cursor on the last page):
  https://open.dingtalk.com/document/orgapp/obtain-an-approval-list-of-instances
- 获取审批实例详情: POST /topapi/processinstance/get?access_token= with {"process_instance_id"} →
  {"errcode": 0, "process_instance": {"title", "create_time", "finish_time", "status" (NEW, RUNNING,
  TERMINATED, COMPLETED, CANCELED), "result" (agree, refuse), "business_id",
  "form_component_values": [{"name", "value", "component_type"}]}}:
  https://open.dingtalk.com/document/orgapp/obtains-the-details-of-a-single-approval-instance-pop
  (request/answer shape as mirrored at https://zidingyi.apifox.cn/api-37157328 and the walk-through
  https://www.codeprj.com/zh/blog/c2d43f1.html).

The list filters by the instances' start time, so one started before the cursor and approved later
would be missed: instances seen RUNNING (or NEW) are kept in the cursor (`pending`, at most 1000) and
looked at again on each run until they finish. Only `status=COMPLETED` with `result=agree` becomes
an order; its form fields are read by the names the user gives (合同编号, 客户名称, 合同金额, 交货日期 by
default) into fixed record keys, so the mapping does not depend on a form's wording.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime
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

VENDOR = "DingTalk"
FORM_FIELDS = {"contract_no": "field_number", "customer": "field_customer", "amount": "field_amount",
               "delivery": "field_delivery", "currency": "field_currency"}

TEMPLATE = VendorTemplate(
    key="dingtalk_approval",
    label={"en": "DingTalk approvals (contract approved → order)", "zh_CN": "钉钉审批（合同审批通过 → 订单）"},
    description={"en": "Reads the instances of one DingTalk approval form (e.g. 合同审批); each one approved "
                       "(completed, agreed) becomes an order with the contract number, customer, amount and "
                       "delivery date from its form. Running ones are looked at again until they finish.",
                 "zh_CN": "读取一个钉钉审批表单（例如合同审批）的实例；每个审批通过（已完成且同意）的实例成为一个订单，"
                          "合同编号、客户、金额和交货日期取自表单。审批中的实例会在之后的运行中再次查看，直到结束。"},
    base_url="https://oapi.dingtalk.com",
    base_url_hint={"en": "https://oapi.dingtalk.com (DingTalk's gateway)", "zh_CN": "https://oapi.dingtalk.com（钉钉网关）"},
    options=(
        Option("app_key", {"en": "AppKey of the internal app", "zh_CN": "企业内部应用 AppKey"}),
        Option("process_code", {"en": "Approval form code (process_code, e.g. PROC-…)",
                                "zh_CN": "审批表单编码（process_code，例如 PROC-…）"}),
        Option("field_number", {"en": "Form field: contract number", "zh_CN": "表单字段：合同编号"}, default="合同编号"),
        Option("field_customer", {"en": "Form field: customer", "zh_CN": "表单字段：客户"}, default="客户名称"),
        Option("field_amount", {"en": "Form field: amount", "zh_CN": "表单字段：金额"}, default="合同金额"),
        Option("field_delivery", {"en": "Form field: delivery date", "zh_CN": "表单字段：交货日期"}, default="交货日期",
               required=False),
        Option("field_currency", {"en": "Form field: currency (blank: the default currency)",
                                  "zh_CN": "表单字段：币种（留空：使用默认币种）"}, required=False),
    ),
    secrets=(Secret("app_secret", {"en": "AppSecret", "zh_CN": "AppSecret"}),),
    settings={"page_size": 20, "window_minutes": 1440},
    schedule_minutes=10,
    mapping={"columns": {"external_id": "contract_no", "number": "contract_no", "customer": "customer",
                         "amount": "amount", "planned_delivery": "delivery", "currency": "currency",
                         "created": "finish_time", "data.approval_no": "business_id"},
             "create_customers": True, "source": "dingtalk"},
    fills=("external_id", "number", "customer", "amount", "planned_delivery", "currency", "created",
           "data.approval_no"),
    leaves=("payment_due", "owner", "customer_details", "designed_fields", "flow"),
    data_labels={"data.approval_no": {"en": "Approval number (DingTalk business_id)",
                                      "zh_CN": "审批编号（钉钉 business_id）"}},
    docs=("https://open.dingtalk.com/document/orgapp/obtain-orgapp-token",
          "https://open.dingtalk.com/document/orgapp/obtain-an-approval-list-of-instances",
          "https://open.dingtalk.com/document/orgapp/obtains-the-details-of-a-single-approval-instance-pop",
          "https://zidingyi.apifox.cn/api-37157328"),
)


def token(ctx: FetchContext) -> str:
    return shared.access_token(ctx, VENDOR, "gettoken",
                               {"appkey": ctx.option("app_key"), "appsecret": ctx.secret("app_secret")})


def _ms(value: datetime, ctx: FetchContext) -> int:
    return int(value.replace(tzinfo=ctx.zone).timestamp() * 1000)


def _instance(ctx: FetchContext, access: str, instance_id: str) -> tuple[str, dict[str, Any] | None]:
    """("pending" | "done", the order record when approved)."""
    body = shared.checked(VENDOR, ctx.http.post("topapi/processinstance/get", params={"access_token": access},
                                  json={"process_instance_id": instance_id}), "processinstance/get")
    inst = body.get("process_instance")
    if not isinstance(inst, dict):
        raise GendanError("vendor.answer_invalid", {"vendor": VENDOR, "detail": "no process_instance"})
    status = str(inst.get("status") or "")
    if status in ("NEW", "RUNNING"):
        return "pending", None
    if status != "COMPLETED" or str(inst.get("result") or "") != "agree":
        return "done", None
    names = {key: ctx.options.get(option, "") for key, option in FORM_FIELDS.items()}
    record = approvals.pick(approvals.dingtalk_form(inst.get("form_component_values")), names)
    record.update({"instance_id": instance_id, "business_id": str(inst.get("business_id") or ""),
                   "title": str(inst.get("title") or "")[:200], "finish_time": str(inst.get("finish_time") or "")})
    return "done", record


def fetch(ctx: FetchContext) -> Iterator[VendorPage]:
    access = token(ctx)
    code = ctx.option("process_code")
    size = max(1, min(ctx.settings.page_size, 20, ctx.http.requests_left // 2 - 1))  # a page and its details fit
    detail = functools.partial(_instance, ctx, access)
    # approvals seen running before: finished since? (a share of them per run)
    first_page, pending = shared.recheck_pending(ctx, size, detail)
    if first_page is not None:
        yield first_page
    first = True
    for window in ctx.windows():
        at = window.at
        while True:
            if not first and ctx.http.requests_left < size + 1:
                return  # no room for a list and its instances: the next run reads on from the cursor
            first = False
            body = shared.checked(VENDOR, ctx.http.post("topapi/processinstance/listids", params={"access_token": access}, json={
                "process_code": code, "start_time": _ms(window.start, ctx), "end_time": _ms(window.end, ctx),
                "size": size, "cursor": at}), "processinstance/listids")
            result = body.get("result") if isinstance(body.get("result"), dict) else {}
            ids = result.get("list") if isinstance(result.get("list"), list) else []
            records, waiting, done = shared.read_each(ids, detail)
            pending = approvals.pending(pending, waiting, done)
            following = result.get("next_cursor")
            if following in (None, "") or not ids:
                yield VendorPage(records, {**windows.cursor_done(window), "pending": pending})
                break
            if not str(following).isdigit():
                raise GendanError("vendor.answer_invalid", {"vendor": VENDOR, "detail": "next_cursor"})
            at = int(following)
            yield VendorPage(records, {**windows.cursor_at(window, at), "pending": pending})
            if ctx.http.requests_left <= 0:
                return
