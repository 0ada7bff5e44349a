"""Kingdee K/3 Cloud bill query rows -> one record per bill (pure).

ExecuteBillQuery answers a list of rows, each a list of values in the order of the FieldKeys
asked for, one row per entry (line) of a bill: the header fields repeat on every line. Rows are
asked for ordered by (FModifyDate, FBillNo), so a bill's lines are contiguous; a page (StartRow,
Limit) may cut the last bill, which is read again from its first row with the next page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def key_name(field_key: str) -> str:
    """`FCustId.FNumber` -> `FCustId_FNumber` (a record key a mapping path can name)."""
    return field_key.replace(".", "_")


def named_rows(field_keys: list[str], rows: list[Any]) -> list[dict[str, Any]]:
    names = [key_name(k) for k in field_keys]
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != len(names):
            raise ValueError("row does not match FieldKeys")
        out.append(dict(zip(names, row, strict=True)))
    return out


@dataclass(frozen=True)
class PageSplit:
    bills: list[dict[str, Any]]
    next_row: int  # where the next page starts (the first row of a bill not yet complete)
    more: bool  # another page is to be read


def split_page(field_keys: list[str], line_keys: list[str], rows: list[Any], *, start_row: int, limit: int,
               bill_key: str = "FBillNo") -> PageSplit:
    """The complete bills of a page (header fields once, `lines` from the line fields) and where
    the next page starts. A full page's last bill may go on: it waits for the next page, unless it
    fills the whole page (then it is taken as it is: more lines than Limit are not read)."""
    named = named_rows(field_keys, rows)
    line_names = {key_name(k) for k in line_keys}
    key = key_name(bill_key)
    groups: list[tuple[int, list[dict[str, Any]]]] = []
    for index, row in enumerate(named):
        if groups and groups[-1][1][0].get(key) == row.get(key):
            groups[-1][1].append(row)
        else:
            groups.append((index, [row]))
    more = len(rows) >= limit
    next_row = start_row + len(rows)
    if more and len(groups) > 1:
        first_index, _ = groups.pop()
        next_row = start_row + first_index
    bills = []
    for _, lines in groups:
        header = {k: v for k, v in lines[0].items() if k not in line_names}
        header["lines"] = [{k: v for k, v in line.items() if k in line_names} for line in lines]
        bills.append(header)
    return PageSplit(bills=bills, next_row=next_row, more=more)
