"""Paging plans: given what a page answered, where the next page is (pure).

A connector's URL template names its variables: `{page}`, `{offset}`, `{cursor}` (a page token)
and `{since}` (the updated-since value). The plan says which of them moves from page to page:

    page       {page} = first_page, first_page + 1, ... until a page has no records (or fewer than page_size)
    offset     {offset} = 0, n, 2n, ... (n = records so far) until a page has no records
    cursor     {cursor} = the value at next_cursor_path of the last page, until it is missing
    next_link  the URL at next_link_path (or the Link header's rel="next"), until it is missing
    none       one request
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import quote, urljoin, urlsplit

from engine.connectors import jsonpath

Mode = Literal["none", "page", "offset", "cursor", "next_link"]
_VAR = re.compile(r"\{(page|offset|cursor|since|page_size)\}")
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class PagingPlan:
    mode: Mode = "none"
    first_page: int = 1
    page_size: int = 0  # 0: unknown; a short page then does not end the paging
    next_cursor_path: str = ""
    next_link_path: str = ""


@dataclass(frozen=True)
class PageRequest:
    """One request to make: the URL, and the page token it carries (stored as the cursor)."""

    url: str
    page: int = 1
    offset: int = 0
    cursor: str = ""


def render(template: str, *, page: int = 1, offset: int = 0, cursor: str = "", since: str = "",
           page_size: int = 0) -> str:
    """The template with its variables filled in, each URL-encoded."""
    values = {"page": str(page), "offset": str(offset), "cursor": cursor, "since": since,
              "page_size": str(page_size)}
    return _VAR.sub(lambda m: quote(values[m.group(1)], safe=""), template)


def first_request(plan: PagingPlan, template: str, *, since: str, cursor: str) -> PageRequest:
    page = plan.first_page
    return PageRequest(url=render(template, page=page, offset=0, cursor=cursor, since=since,
                                  page_size=plan.page_size), page=page, cursor=cursor)


def next_request(plan: PagingPlan, template: str, current: PageRequest, *, body: Any, count: int,
                 link_header: str = "", since: str) -> PageRequest | None:
    """The request after `current`, whose answer was `body` holding `count` records; None at the end."""
    if plan.mode == "none":
        return None
    if plan.mode in ("page", "offset"):
        if count == 0 or (plan.page_size and count < plan.page_size):
            return None
        page, offset = current.page + 1, current.offset + count
        return replace(current, url=render(template, page=page, offset=offset, cursor=current.cursor, since=since,
                                           page_size=plan.page_size), page=page, offset=offset)
    if plan.mode == "cursor":
        token = jsonpath.first(body, plan.next_cursor_path) if plan.next_cursor_path else None
        if token in (None, "", False) or not isinstance(token, (str, int)) or str(token) == current.cursor:
            return None
        token = str(token)[:2000]
        return replace(current, url=render(template, page=current.page + 1, cursor=token, since=since,
                                           page_size=plan.page_size), page=current.page + 1, cursor=token)
    link = jsonpath.first(body, plan.next_link_path) if plan.next_link_path else None
    if not link and link_header:
        match = _LINK_NEXT.search(link_header)
        link = match.group(1) if match else None
    if not isinstance(link, str) or not link:
        return None
    url = urljoin(current.url, link[:4000])
    if not same_origin(url, current.url) or url == current.url:
        return None  # a next link elsewhere would carry our credentials to another host
    return replace(current, url=url, page=current.page + 1, cursor=url)


def same_origin(a: str, b: str) -> bool:
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.netloc) == (y.scheme, y.netloc)


def resume_request(plan: PagingPlan, template: str, *, page: int, offset: int, cursor: str, url: str,
                   since: str) -> PageRequest | None:
    """The request of a page a stopped run was inside (stored by the runner); None when it cannot
    be asked again as it was (a next link to another host than the template's)."""
    if plan.mode == "next_link":
        first = render(template, page=plan.first_page, since=since, page_size=plan.page_size)
        if not url or not same_origin(url, first):
            return None
        return PageRequest(url=url, page=page, offset=offset, cursor=url)
    return PageRequest(url=render(template, page=page, offset=offset, cursor=cursor, since=since,
                                  page_size=plan.page_size), page=page, offset=offset, cursor=cursor)


def skip_count(ids: list[str], done: int, last_id: str) -> int:
    """How many records at the head of a page asked again were already written: `done` of them when
    the `done`-th still has the id last written, through that id when the page moved, else none
    (the page changed under us: it is read whole again, which doubles no order, rather than skip
    a record that was never written)."""
    if done <= 0 or not ids:
        return 0
    if not last_id:
        return min(done, len(ids))
    if done <= len(ids) and ids[done - 1] == last_id:
        return done
    return ids.index(last_id) + 1 if last_id in ids else 0
