"""A small JSON path: dotted names with `[n]` and `[*]` (`data.items[*]`, `buyer.code`, `lines[0].sku`).

Enough for the lists and fields of the JSON APIs connectors read; no filters, no recursion, so a
path costs at most its length times the width of the lists it fans out over.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\*|\d+)\]|(\.)")
MAX_PATH = 200


class PathError(ValueError):
    """The path is not written as `name.name[*].name`."""


def parse(path: str) -> tuple[str | int, ...]:
    """`a.b[*].c` -> ('a', 'b', '*', 'c'); '' or '$' is the document itself."""
    text = path.strip()
    if len(text) > MAX_PATH:
        raise PathError(path)
    if text.startswith("$"):
        text = text[1:].lstrip(".")
    steps: list[str | int] = []
    pos = 0
    expect_name = True
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise PathError(path)
        name, index, dot = match.groups()
        if dot:
            if expect_name:
                raise PathError(path)
            expect_name = True
        elif name is not None:
            if not expect_name:
                raise PathError(path)
            steps.append(name.strip())
            expect_name = False
        else:
            steps.append("*" if index == "*" else int(index))
            expect_name = False
        pos = match.end()
    if steps and expect_name:
        raise PathError(path)
    return tuple(steps)


def select(document: Any, path: str) -> list[Any]:
    """Every value the path reaches (a `[*]` fans out); [] when it reaches nothing."""
    current = [document]
    for step in parse(path):
        following: list[Any] = []
        for value in current:
            if step == "*":
                if isinstance(value, list):
                    following.extend(value)
                elif isinstance(value, dict):
                    following.extend(value.values())
            elif isinstance(step, int):
                if isinstance(value, list) and step < len(value):
                    following.append(value[step])
            elif isinstance(value, dict) and step in value:
                following.append(value[step])
        current = following
    return current


def first(document: Any, path: str) -> Any:
    """The first value the path reaches, or None."""
    found = select(document, path)
    return found[0] if found else None


def records(document: Any, path: str) -> list[Any]:
    """The records of a response: the values at `path`; a list reached without `[*]` is the list."""
    found = select(document, path)
    if len(found) == 1 and isinstance(found[0], list) and not path.strip().endswith("[*]"):
        return list(found[0])
    return found


def reaches(document: Any, path: str) -> bool:
    """True when the path leads somewhere in the document: a value, or an (empty) list fanned out
    by a trailing `[*]`. False tells a moved or renamed list apart from an empty one."""
    if select(document, path):
        return True
    stem = path.strip()
    return stem.endswith("[*]") and any(isinstance(v, list | dict) for v in select(document, stem[:-3]))


def depth_exceeds(document: Any, limit: int) -> bool:
    """True when the document nests deeper than `limit` (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, level = stack.pop()
        if level > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, level + 1) for v in value)
    return False
