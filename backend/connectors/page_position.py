"""Where an HTTP JSON pull stands inside its source's pages, stored in the connector's cursor under
"at" in the same transaction as the records it covers (runner._book, batch.write_batch):

    {"plan": <fingerprint of the paging settings>, "page": n, "offset": o, "token": <page token>,
     "url": <next link>, "since": <the since the pages are asked with>, "done": k, "id": <id of the k-th>}

"done" records of the page asked by (page, offset, token or url, since) are written, the last of
them with source id "id". The next run (after a kill, a lost lease, a failed record or the
record bound) asks that same page and skips its first "done" records without processing them
(paging.skip_count checks the id is still there); once a page is whole the position is the next
page's with done 0. At the end of the source, page/offset/next-link paging forgets the position
(the next run starts again at the first page with the newest `since`); cursor paging keeps the
last page's, a change feed that grows at its end. Settings whose paging changed make a stored
position unusable: the run then starts as before (first page, or the saved token).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from backend.connectors.records import cell_text
from backend.connectors.schemas import HttpJsonSettings
from engine.connectors import jsonpath, paging


@dataclass(frozen=True)
class Moved:
    """The cursor's move once a record (or an empty page) is written: the new "at" (None: forget
    it) and, for cursor paging at a page's end, the page token (the older "token" key)."""

    at: dict[str, Any] | None
    token: str | None = None


def fingerprint(config: HttpJsonSettings) -> str:
    shape = [config.url_template, config.paging, config.page_size, config.first_page, config.records_path,
             config.next_cursor_path, config.next_link_path]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def stored(config: HttpJsonSettings, cursor: dict[str, Any]) -> dict[str, Any] | None:
    """The saved position when it was made with these paging settings, else None."""
    at = cursor.get("at")
    if not isinstance(at, dict) or at.get("plan") != fingerprint(config) or config.paging == "none":
        return None
    return at


def request_of(config: HttpJsonSettings, plan: paging.PagingPlan, at: dict[str, Any]) -> paging.PageRequest | None:
    try:
        return paging.resume_request(plan, config.url_template, page=int(at.get("page") or plan.first_page),
                                     offset=int(at.get("offset") or 0), cursor=str(at.get("token") or ""),
                                     url=str(at.get("url") or ""), since=str(at.get("since") or ""))
    except (TypeError, ValueError):
        return None


def record_id(config: HttpJsonSettings, id_path: str, record: Any) -> str:
    """The record's source id as text ("" when it has none): how a page asked again is checked."""
    if not id_path or not isinstance(record, dict):
        return ""
    try:
        return cell_text(jsonpath.first(record, id_path))[:200]
    except jsonpath.PathError:
        return ""


def position(config: HttpJsonSettings, request: paging.PageRequest, since: str, done: int, last_id: str) \
        -> dict[str, Any]:
    at = {"plan": fingerprint(config), "page": request.page, "offset": request.offset, "since": since,
          "done": done, "id": last_id}
    if config.paging == "next_link":
        at["url"] = request.url
    elif config.paging == "cursor":
        at["token"] = request.cursor
    return at


def after(config: HttpJsonSettings, page, since: str, done: int, last_id: str) -> Moved:
    """The move once the page's first `done` records (the last with id `last_id`) are written."""
    token = page.token if done >= page.count and config.paging == "cursor" else None
    if done < page.count or not page.whole:  # inside the page, or a page cut by the record bound
        return Moved(position(config, page.request, since, done, last_id), token)
    if page.following is not None:
        return Moved(position(config, page.following, since, 0, ""), token)
    if config.paging == "cursor":  # a change feed: its last page is asked again, its records skipped
        return Moved(position(config, page.request, since, done, last_id), token)
    return Moved(None, token)  # the end of the source: the next run starts at the first page
