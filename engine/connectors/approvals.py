"""Pure parts of the approval, CRM and MES templates (backend/connectors/vendors/dingtalk_approval.py,
wecom_approval.py, crm_opportunity.py, mes_progress.py): reading form values out of the vendors'
answers, the list of approvals still running that the next run looks at again, the Salesforce
cursor condition, and a work order's progress. No I/O; times come in as arguments."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

MAX_PENDING = 1000  # approvals still running kept in the cursor (the oldest are dropped past it)
PENDING_PER_RUN = 100  # looked at again per run (the rest wait their turn: the list rotates)
MAX_VALUE = 2000


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()[:MAX_VALUE]


def dingtalk_form(values: Any) -> dict[str, str]:
    """DingTalk `form_component_values` ([{"name", "value", "component_type", ...}]) as {name: value}.
    A value DingTalk sends as "null" (an empty field) is ""."""
    out: dict[str, str] = {}
    for item in values if isinstance(values, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            value = _text(item.get("value"))
            out.setdefault(item["name"].strip(), "" if value == "null" else value)
    return out


def _title(control: dict) -> str:
    titles = control.get("title")
    if isinstance(titles, list):
        for lang in ("zh_CN", "en"):
            for t in titles:
                if isinstance(t, dict) and t.get("lang") == lang and t.get("text"):
                    return str(t["text"]).strip()
        for t in titles:
            if isinstance(t, dict) and t.get("text"):
                return str(t["text"]).strip()
    return ""


def wecom_value(control: dict, zone: ZoneInfo) -> str:
    """One WeCom `apply_data.contents[]` control's value as text: Text/Textarea `text`, Number
    `new_number`, Money `new_money`, Date `date.s_timestamp` (seconds, as a local date or date and
    time), Selector the chosen options' texts; other controls (files, contacts, tables) are ""."""
    kind = str(control.get("control") or "")
    value = control.get("value") if isinstance(control.get("value"), dict) else {}
    if kind in ("Text", "Textarea"):
        return _text(value.get("text"))
    if kind == "Number":
        return _text(value.get("new_number"))
    if kind == "Money":
        return _text(value.get("new_money"))
    if kind == "Date":
        date = value.get("date") if isinstance(value.get("date"), dict) else {}
        stamp = _text(date.get("s_timestamp"))
        if not stamp.isdigit():
            return ""
        local = datetime.fromtimestamp(int(stamp), UTC).astimezone(zone)
        return local.strftime("%Y-%m-%d" if date.get("type") == "day" else "%Y-%m-%d %H:%M:%S")
    if kind == "Selector":
        selector = value.get("selector") if isinstance(value.get("selector"), dict) else {}
        texts = []
        for option in selector.get("options") or []:
            for v in (option.get("value") or []) if isinstance(option, dict) else []:
                if isinstance(v, dict) and v.get("text"):
                    texts.append(str(v["text"]))
        return _text(", ".join(texts))
    return ""


def wecom_form(contents: Any, zone: ZoneInfo) -> dict[str, str]:
    """WeCom `apply_data.contents` as {control title: value text} (the first control of a title wins)."""
    out: dict[str, str] = {}
    for control in contents if isinstance(contents, list) else []:
        if isinstance(control, dict):
            title = _title(control)
            if title:
                out.setdefault(title, wecom_value(control, zone))
    return out


def pick(form: dict[str, str], names: dict[str, str]) -> dict[str, str]:
    """{record key: the value of the form field the user named for it} ("" when the form lacks it)."""
    return {key: form.get(name.strip(), "") if name else "" for key, name in names.items()}


def pending(old: Any, add: list[str], done: set[str]) -> list[str]:
    """The approvals the next run checks again: the old ones not done, then the new, at most MAX_PENDING."""
    out: list[str] = []
    seen: set[str] = set()
    for item in [*(old if isinstance(old, list) else []), *add]:
        item = str(item)[:120]
        if item and item not in done and item not in seen:
            seen.add(item)
            out.append(item)
    return out[-MAX_PENDING:]


def split_pending(pending: list[str], budget: int) -> tuple[list[str], list[str]]:
    """(the approvals to look at again this run, the rest): at most PENDING_PER_RUN and the
    requests the run can spare. The caller puts the ones still running after the rest, so over
    several runs every one gets its turn."""
    n = max(0, min(PENDING_PER_RUN, budget, len(pending)))
    return pending[:n], pending[n:]


_SF_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")
_SF_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$")


def salesforce_after(since: str, after_id: str) -> str:
    """The SOQL condition for "modified after the cursor": (SystemModstamp, Id) past the last record
    written, so records sharing a time stamp across pages are neither lost nor read twice. Only
    well-formed values reach the query (no quoting games)."""
    since = re.sub(r"\.\d+", "", since.strip()).replace("+0000", "Z")  # SOQL literals have no fractions
    if not _SF_TIME.match(since):
        raise ValueError(since)
    if after_id and _SF_ID.match(after_id):
        return f"(SystemModstamp > {since} OR (SystemModstamp = {since} AND Id > '{after_id}'))"
    return f"SystemModstamp > {since}"


def progress(planned: Any, finished: Any) -> Decimal | None:
    """Finished of planned as a percent with one decimal, at most 100; None when not numbers or
    nothing is planned."""
    try:
        p, f = Decimal(str(planned)), Decimal(str(finished))
    except (InvalidOperation, ValueError):
        return None
    if not p.is_finite() or not f.is_finite() or p <= 0 or f < 0:
        return None
    return min(Decimal(100), (f * 100 / p)).quantize(Decimal("0.1"))
