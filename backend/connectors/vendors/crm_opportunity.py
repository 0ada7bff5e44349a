"""CRM opportunity won → order, from Salesforce (Sales Cloud) through its REST API.

Follows Salesforce's public REST API documentation:
- OAuth 2.0 client credentials flow: POST <My Domain>/services/oauth2/token with
  grant_type=client_credentials, client_id, client_secret (form) → {"access_token", "instance_url",
  "token_type": "Bearer"}; refused: HTTP 400 {"error": "invalid_client", "error_description"}:
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
- Query: GET <instance_url>/services/data/vXX.X/query?q=<SOQL> → {"totalSize", "done", "records",
  "nextRecordsUrl"} (at most 2,000 records a batch; the next batch at nextRecordsUrl, no parameters);
  errors as HTTP 400/401 with [{"message", "errorCode"}] (MALFORMED_QUERY, INVALID_SESSION_ID):
  https://developer.salesforce.com/docs/platform/api-rest/guide/dome-query.html and
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm

SOQL: `SELECT Id, Name, Amount, CloseDate, StageName, SystemModstamp, Account.Name,
Account.AccountNumber FROM Opportunity WHERE IsWon = true AND <after cursor> ORDER BY SystemModstamp,
Id`: the cursor is the (SystemModstamp, Id) of the last opportunity written
(engine/connectors/approvals.py `salesforce_after`), so a second run reads only opportunities won or
changed since. One order per opportunity (external id = the opportunity Id); the order number is
left to Gendan (opportunity names are not unique).
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
from engine.connectors import approvals

VENDOR = "Salesforce"
FIELDS = "Id, Name, Amount, CloseDate, StageName, SystemModstamp, Account.Name, Account.AccountNumber"

TEMPLATE = VendorTemplate(
    key="crm_opportunity",
    label={"en": "CRM: Salesforce opportunity won → order", "zh_CN": "CRM：Salesforce 商机赢单 → 订单"},
    description={"en": "Reads Salesforce opportunities that are won (IsWon) and changed since the last run; each "
                       "becomes an order for its account with the amount and close date.",
                 "zh_CN": "读取 Salesforce 中上次以来赢单（IsWon）或有变动的商机；每个商机成为其客户（Account）的订单，"
                          "带金额和结单日期。"},
    base_url_hint={"en": "Your My Domain, e.g. https://acme.my.salesforce.com",
                   "zh_CN": "您的 My Domain，例如 https://acme.my.salesforce.com"},
    options=(
        Option("client_id", {"en": "Consumer key of the connected app (client_id)",
                             "zh_CN": "连接的应用的使用者密钥（client_id）"}),
        Option("api_version", {"en": "API version", "zh_CN": "API 版本"}, default="v60.0"),
        Option("since", {"en": "First run reads from (e.g. 2026-01-01T00:00:00Z)",
                         "zh_CN": "首次运行读取的起点（例如 2026-01-01T00:00:00Z）"}, default="2000-01-01T00:00:00Z"),
    ),
    secrets=(Secret("client_secret", {"en": "Consumer secret (client_secret)", "zh_CN": "使用者密码（client_secret）"}),),
    settings={"page_size": 2000},
    schedule_minutes=15,
    mapping={"columns": {"external_id": "Id", "customer": "Account.Name", "customer_code": "Account.AccountNumber",
                         "amount": "Amount", "created": "CloseDate", "data.crm_opportunity": "Name"},
             "create_customers": True, "source": "salesforce"},
    fills=("external_id", "customer", "customer_code", "amount", "created", "data.crm_opportunity"),
    leaves=("number", "planned_delivery", "payment_due", "owner", "customer_details", "designed_fields"),
    data_labels={"data.crm_opportunity": {"en": "CRM opportunity", "zh_CN": "CRM 商机"}},
    docs=("https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm",
          "https://developer.salesforce.com/docs/platform/api-rest/guide/dome-query.html",
          "https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm"),
)


def _token(ctx: FetchContext) -> tuple[str, str]:
    body = ctx.http.post("services/oauth2/token", data={"grant_type": "client_credentials",
                                                        "client_id": ctx.option("client_id"),
                                                        "client_secret": ctx.secret("client_secret")},
                         accept_status=(400, 401))
    if not isinstance(body, dict) or not body.get("access_token"):
        detail = body if not isinstance(body, dict) else body.get("error_description") or body.get("error")
        raise login_failed(VENDOR, detail or "no access_token")
    instance = str(body.get("instance_url") or ctx.http.base_url).rstrip("/")
    if not instance.startswith(("http://", "https://")):
        raise GendanError("vendor.answer_invalid", {"vendor": VENDOR, "detail": "instance_url"})
    return str(body["access_token"]), instance


def _failure(body: Any) -> GendanError | None:
    if isinstance(body, list) and body and isinstance(body[0], dict) and "errorCode" in body[0]:
        code = body[0].get("errorCode")
        if code == "INVALID_SESSION_ID":
            return login_failed(VENDOR, body[0].get("message") or code)
        return api_error(VENDOR, code, body[0].get("message") or "-")
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        return GendanError("vendor.answer_invalid", {"vendor": VENDOR, "detail": "no records"})
    return None


def fetch(ctx: FetchContext) -> Iterator[VendorPage]:
    access, instance = _token(ctx)
    headers = {"Authorization": f"Bearer {access}", "Sforce-Query-Options": f"batchSize={ctx.settings.page_size}"}
    try:
        after = approvals.salesforce_after(str(ctx.cursor.get("since") or ctx.options.get("since") or ""),
                                           str(ctx.cursor.get("after_id") or ""))
    except ValueError:
        raise GendanError("vendor.answer_invalid", {"vendor": VENDOR, "detail": "the start time is not like "
                                                                                 "2026-01-01T00:00:00Z"}) from None
    soql = (f"SELECT {FIELDS} FROM Opportunity WHERE IsWon = true AND {after} "
            "ORDER BY SystemModstamp ASC, Id ASC")
    version = ctx.option("api_version")
    url, params = f"{instance}/services/data/{version}/query", {"q": soql}
    for batch in range(1, ctx.settings.max_pages_per_run + 1):
        body = ctx.http.get(url, params=params, headers=headers, accept_status=(400, 401))
        problem = _failure(body)
        if problem is not None:
            raise problem
        records = [r for r in body["records"] if isinstance(r, dict)]
        cursor = {}
        if records:
            cursor = {"since": str(records[-1].get("SystemModstamp") or ""), "after_id": str(records[-1].get("Id") or "")}
        yield VendorPage(records, cursor)
        following = body.get("nextRecordsUrl")
        if body.get("done", True) or not following or batch >= ctx.settings.max_pages_per_run:
            return  # the cursor stands at the last batch written: the next run asks again from there
        url, params = f"{instance}/{str(following).lstrip('/')}", None
