"""One source record -> the cells the import's row parser reads (pure): each mapped source path's
value as text, so dates, amounts, value maps and designed fields convert exactly as in imports."""

from __future__ import annotations

import json
from typing import Any

from backend.ingest.schemas import ImportMapping
from engine.connectors import jsonpath

MAX_CELL = 10_000
MAX_LIST_CELL = 500_000  # a list of line items (500 rows) as JSON text


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)[:MAX_CELL]
    text = json.dumps(value, ensure_ascii=False)
    # a cut JSON text reads as "not a list of objects": the record is refused, never half-read
    return text if len(text) <= MAX_LIST_CELL else text[:MAX_CELL]


def cells(record: Any, mapping: ImportMapping) -> dict[str, str]:
    """{source path: text} for every path the mapping reads."""
    out = {}
    for path in set(mapping.columns.values()):
        try:
            out[path] = cell_text(jsonpath.first(record, path))
        except jsonpath.PathError:
            out[path] = ""
    return out


def paths(records: list[Any], limit: int = 200) -> list[str]:
    """The leaf paths the sample records have (for the mapping table's choices)."""
    seen: dict[str, None] = {}
    for record in records:
        stack: list[tuple[str, Any, int]] = [("", record, 0)]
        while stack and len(seen) < limit:
            prefix, value, level = stack.pop(0)
            if isinstance(value, dict) and level < 6:
                for key, child in value.items():
                    if isinstance(key, str) and jsonpath._TOKEN.fullmatch(key):
                        stack.append((f"{prefix}.{key}" if prefix else key, child, level + 1))
            elif isinstance(value, list) and level < 6 and value and prefix:
                stack.append((f"{prefix}[0]", value[0], level + 1))
            elif prefix:
                seen.setdefault(prefix, None)
    return list(seen)
