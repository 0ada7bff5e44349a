"""Real local HTTP servers answering in the shapes of DingTalk approvals, WeCom approvals, the
Salesforce REST API and Gendan's documented MES work-order API (subclasses of FakeVendor).

Each refuses a request without the token its own token endpoint issued, and filters and pages as the
vendor documents it (DingTalk: start_time/end_time in ms, cursor/next_cursor, size ≤ 20; WeCom:
starttime/endtime in seconds, new_cursor/new_next_cursor, template_id filter; Salesforce: SOQL
condition on SystemModstamp/Id, nextRecordsUrl; MES: modified_from/modified_to, page/page_size).
`requests` records what was asked; `fail_next` answers an error to the next data request.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from tests.factories.vendor_sources import FakeVendor

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp() * 1000)


class _Tokens(FakeVendor):
    def __init__(self):
        super().__init__()
        self.tokens: set[str] = set()

    def issue(self) -> str:
        token = secrets.token_hex(8)
        self.tokens.add(token)
        return token

    def _log(self, path, query, payload):
        with self.lock:
            self.requests.append({"path": path, "query": query, "body": payload})

    def _failing(self):
        if self.fail_next is not None:
            answer, self.fail_next = self.fail_next, None
            return answer
        return None


# ---------------------------------------------------------------- DingTalk

class FakeDingTalk(_Tokens):
    """Instances: {"id", "process_code", "create_time" ("2026-11-23 09:00:00", local), "status",
    "result", "business_id", "form": {name: value}}; `finish_time` is set when completed."""

    APP_KEY, APP_SECRET, PROCESS = "dingkey01", "ding-secret", "PROC-HT-01"

    def __init__(self, instances: list[dict]):
        super().__init__()
        self.instances = instances

    def handle(self, method, path, query, body, headers):
        payload = json.loads(body or b"{}") if method == "POST" else {}
        self._log(path, query, payload)
        if path == "/gettoken":
            if (query.get("appkey"), query.get("appsecret")) != (self.APP_KEY, self.APP_SECRET):
                return 200, {"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"}, {}
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": self.issue(), "expires_in": 7200}, {}
        if query.get("access_token") not in self.tokens:
            return 200, {"errcode": 88, "errmsg": "不合法的access_token", "sub_code": "40014"}, {}
        if path == "/topapi/processinstance/listids":
            failing = self._failing()
            if failing is not None:
                return 200, failing, {}
            size = int(payload.get("size") or 10)
            if size > 20:
                return 200, {"errcode": 400002, "errmsg": "size超过限制"}, {}
            found = [i["id"] for i in sorted(self.instances, key=lambda i: (i["create_time"], i["id"]))
                     if i["process_code"] == payload.get("process_code")
                     and payload["start_time"] <= local_ms(i["create_time"]) <= payload.get("end_time", 1 << 62)]
            start = int(payload.get("cursor") or 0)
            result = {"list": found[start:start + size]}
            if start + size < len(found):
                result["next_cursor"] = start + size
            return 200, {"errcode": 0, "errmsg": "ok", "success": True, "result": result}, {}
        if path == "/topapi/processinstance/get":
            inst = next((i for i in self.instances if i["id"] == payload.get("process_instance_id")), None)
            if inst is None:
                return 200, {"errcode": 2003, "errmsg": "实例不存在"}, {}
            values = [{"name": k, "value": v, "component_type": "TextField", "id": f"f{n}"}
                      for n, (k, v) in enumerate(inst["form"].items())]
            return 200, {"errcode": 0, "errmsg": "ok", "process_instance": {
                "title": f"{inst.get('originator', '张三')}提交的合同审批", "create_time": inst["create_time"],
                "finish_time": inst.get("finish_time"), "status": inst["status"], "result": inst.get("result", ""),
                "business_id": inst["business_id"], "form_component_values": values,
                "operation_records": [], "tasks": []}}, {}
        return 404, {"errcode": 404, "errmsg": "not found"}, {}


# ---------------------------------------------------------------- WeCom

class FakeWeCom(_Tokens):
    """Applications: {"sp_no", "template_id", "apply_time" (local text), "sp_status", "controls":
    [(control, title, value dict)]}."""

    CORP_ID, SECRET, TEMPLATE_ID = "ww1234567890", "wecom-secret", "3TmAKJ5aqBhh9uBKD7gAoG3QmmL2tBbNgVPzvXD"

    def __init__(self, applications: list[dict]):
        super().__init__()
        self.applications = applications

    def handle(self, method, path, query, body, headers):
        payload = json.loads(body or b"{}") if method == "POST" else {}
        self._log(path, query, payload)
        if path == "/cgi-bin/gettoken":
            if query.get("corpid") != self.CORP_ID:
                return 200, {"errcode": 40013, "errmsg": "invalid corpid"}, {}
            if query.get("corpsecret") != self.SECRET:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}, {}
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": self.issue(), "expires_in": 7200}, {}
        if query.get("access_token") not in self.tokens:
            return 200, {"errcode": 40014, "errmsg": "invalid access_token"}, {}
        if path == "/cgi-bin/oa/getapprovalinfo":
            failing = self._failing()
            if failing is not None:
                return 200, failing, {}
            start, end = int(payload["starttime"]), int(payload["endtime"])
            if end - start > 31 * 86400:
                return 200, {"errcode": 301025, "errmsg": "time range exceeds 31 days"}, {}
            filters = {f["key"]: f["value"] for f in payload.get("filters") or []}
            found = [a["sp_no"] for a in sorted(self.applications, key=lambda a: (a["apply_time"], a["sp_no"]))
                     if start <= local_ms(a["apply_time"]) // 1000 <= end
                     and ("template_id" not in filters or a["template_id"] == filters["template_id"])
                     and ("sp_status" not in filters or str(a["sp_status"]) == filters["sp_status"])]
            cursor = payload.get("new_cursor") or ""
            offset = int(cursor.removeprefix("C")) if cursor else 0
            size = min(int(payload.get("size") or 100), 100)
            answer = {"errcode": 0, "errmsg": "ok", "sp_no_list": found[offset:offset + size]}
            if offset + size < len(found):
                answer["new_next_cursor"] = f"C{offset + size}"
            return 200, answer, {}
        if path == "/cgi-bin/oa/getapprovaldetail":
            app = next((a for a in self.applications if a["sp_no"] == payload.get("sp_no")), None)
            if app is None:
                return 200, {"errcode": 301055, "errmsg": "sp_no not found"}, {}
            contents = [{"control": control, "id": f"{control}-{n}", "title": [{"text": title, "lang": "zh_CN"}],
                         "value": value} for n, (control, title, value) in enumerate(app["controls"])]
            return 200, {"errcode": 0, "errmsg": "ok", "info": {
                "sp_no": app["sp_no"], "sp_name": "合同审批", "sp_status": app["sp_status"],
                "template_id": app["template_id"], "apply_time": local_ms(app["apply_time"]) // 1000,
                "applyer": {"userid": "WangXiaoMing", "partyid": "2"}, "sp_record": [], "notifyer": [],
                "apply_data": {"contents": contents}, "comments": []}}, {}
        return 404, {"errcode": 404, "errmsg": "not found"}, {}


def wecom_controls(number: str, customer: str, amount: str, delivery: str) -> list[tuple]:
    day = int(datetime.fromisoformat(delivery).replace(tzinfo=SHANGHAI).timestamp())
    return [("Text", "合同编号", {"text": number}), ("Text", "客户名称", {"text": customer}),
            ("Money", "合同金额", {"new_money": amount}),
            ("Date", "交货日期", {"date": {"type": "day", "s_timestamp": str(day)}}),
            ("File", "附件", {"files": []})]


# ---------------------------------------------------------------- Salesforce

class FakeSalesforce(_Tokens):
    """Opportunities: {"Id", "Name", "Amount", "CloseDate", "StageName", "IsWon", "SystemModstamp"
    ("2026-11-23T10:00:00.000+0000"), "Account": {"Name", "AccountNumber"}}."""

    CLIENT_ID, CLIENT_SECRET = "3MVG9sf-client", "sf-secret"
    VERSION = "v60.0"

    def __init__(self, opportunities: list[dict], batch: int = 2):
        super().__init__()
        self.opportunities = opportunities
        self.batch = batch
        self.locators: dict[str, list[dict]] = {}

    def handle(self, method, path, query, body, headers):
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()} if method == "POST" else {}
        self._log(path, query, form)
        if path == "/services/oauth2/token":
            if form.get("grant_type") != "client_credentials" or \
                    (form.get("client_id"), form.get("client_secret")) != (self.CLIENT_ID, self.CLIENT_SECRET):
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, {}
            return 200, {"access_token": self.issue(), "instance_url": self.url, "token_type": "Bearer",
                         "issued_at": "1700000000000", "signature": "x"}, {}
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        if token not in self.tokens:
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}
        prefix = f"/services/data/{self.VERSION}/query"
        if path == prefix:
            failing = self._failing()
            if failing is not None:
                return 400, failing, {}
            return 200, self._query(query.get("q") or ""), {}
        if path.startswith(prefix + "/"):
            locator = path[len(prefix) + 1:]
            if locator not in self.locators:
                return 400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}], {}
            return 200, self._batch(self.locators.pop(locator)), {}
        return 404, [{"message": "not found", "errorCode": "NOT_FOUND"}], {}

    def _query(self, soql: str) -> object:
        if not re.match(r"^SELECT .+ FROM Opportunity WHERE IsWon = true AND .+ ORDER BY SystemModstamp ASC, Id ASC$",
                        soql):
            return [{"message": "unexpected query", "errorCode": "MALFORMED_QUERY"}]
        after = re.search(r"SystemModstamp > (\S+?)\)? ", soql + " ")
        same = re.search(r"SystemModstamp = (\S+) AND Id > '(\w+)'", soql)
        since = after.group(1) if after else ""

        def stamp(text):
            return datetime.fromisoformat(text.replace("+0000", "+00:00").replace("Z", "+00:00")).astimezone(
                UTC).replace(microsecond=0)

        rows = []
        for o in sorted(self.opportunities, key=lambda o: (o["SystemModstamp"], o["Id"])):
            if not o["IsWon"]:
                continue
            t = stamp(o["SystemModstamp"])
            if since and not (t > stamp(since) or (same and t == stamp(same.group(1)) and o["Id"] > same.group(2))):
                continue
            rows.append(o)
        return self._batch(rows)

    def _batch(self, rows: list[dict]) -> dict:
        page, rest = rows[:self.batch], rows[self.batch:]
        records = [{"attributes": {"type": "Opportunity", "url": f"/services/data/{self.VERSION}/sobjects/"
                                                                 f"Opportunity/{o['Id']}"},
                    **{k: v for k, v in o.items() if k != "IsWon"}} for o in page]
        answer = {"totalSize": len(rows), "done": not rest, "records": records}
        if rest:
            locator = f"01gD0000002HU6K{secrets.token_hex(2)}-{self.batch}"
            self.locators[locator] = rest
            answer["nextRecordsUrl"] = f"/services/data/{self.VERSION}/query/{locator}"
        return answer


# ---------------------------------------------------------------- MES (Gendan's documented shape)

class FakeMes(_Tokens):
    """Work orders: {"work_order_no", "sales_order_no", "planned_qty", "finished_qty", "status",
    "modified_at" (local text), "finished_at"}."""

    TOKEN = "mes-token-1"

    def __init__(self, work_orders: list[dict]):
        super().__init__()
        self.work_orders = work_orders
        self.tokens.add(self.TOKEN)

    def handle(self, method, path, query, body, headers):
        self._log(path, query, {})
        if (headers.get("Authorization") or "") != f"Bearer {self.TOKEN}":
            return 401, {"code": 401, "message": "token invalid or expired"}, {}
        if path != "/api/work-orders":
            return 404, {"code": 404, "message": "not found"}, {}
        failing = self._failing()
        if failing is not None:
            return 200, failing, {}
        lo, hi = query.get("modified_from", ""), query.get("modified_to", "9999")
        found = [w for w in sorted(self.work_orders, key=lambda w: (w["modified_at"], w["work_order_no"]))
                 if lo < w["modified_at"] <= hi]
        page, size = int(query.get("page") or 1), int(query.get("page_size") or 100)
        items = found[(page - 1) * size:page * size]
        return 200, {"code": 0, "message": "ok", "data": {"total": len(found), "page": page, "page_size": size,
                                                          "items": items}}, {}
