"""What the approval templates share (DingTalk, WeCom): answers with `errcode`/`errmsg`, an access
token from a GET, instances read one by one as pending or done, and the instances seen pending
before checked again at the start of a run. A module starting with `_`: not a template itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backend.connectors.vendor_base import FetchContext, VendorPage, api_error, login_failed
from backend.errors import GendanError
from engine.connectors import approvals

Detail = Callable[[str], tuple[str, dict[str, Any] | None]]  # id -> ("pending" | "done", the record)


def checked(vendor: str, body: Any, what: str) -> dict:
    """The answer when it is an object without an error code; else the vendor's error, in words."""
    if not isinstance(body, dict):
        raise GendanError("vendor.answer_invalid", {"vendor": vendor, "detail": f"{what} answer is not an object"})
    if body.get("errcode") not in (0, None):
        raise api_error(vendor, body.get("errcode"), body.get("errmsg") or "-")
    return body


def access_token(ctx: FetchContext, vendor: str, path: str, params: dict[str, str]) -> str:
    """`GET path?params` -> its access_token; refused credentials are `vendor.login_failed`."""
    body = ctx.http.get(path, params=params)
    if not isinstance(body, dict) or body.get("errcode") != 0 or not body.get("access_token"):
        message = body.get("errmsg") if isinstance(body, dict) else "no access_token"
        raise login_failed(vendor, f"{message} (errcode {body.get('errcode') if isinstance(body, dict) else '-'})")
    return str(body["access_token"])


def read_each(ids: list, detail: Detail) -> tuple[list[dict], list[str], set[str]]:
    """Each instance read: the records of the approved ones, the ids still pending, the ids done."""
    records, waiting, done = [], [], set()
    for one in ids:
        state, record = detail(str(one))
        (waiting.append(str(one)) if state == "pending" else done.add(str(one)))
        if record is not None:
            records.append(record)
    return records, waiting, done


def recheck_pending(ctx: FetchContext, size: int, detail: Detail) -> tuple[VendorPage | None, list[str]]:
    """The instances seen pending by earlier runs, a share of them per run (room is kept for a list
    page and its details): finished since? The page to yield (None when none was pending) and the
    ids still pending."""
    pending = list(ctx.cursor.get("pending") or [])
    if not pending:
        return None, pending
    check, rest = approvals.split_pending(pending, ctx.http.requests_left - 2 * (size + 1))
    records, waiting, done = read_each(check, detail)
    pending = approvals.pending(rest, waiting, done)
    return VendorPage(records, {"pending": pending}), pending
