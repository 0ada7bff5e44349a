"""One source record -> the cells the import's row parser reads (pure): each mapped source path's
value as text, so dates, amounts, value maps and designed fields convert exactly as in imports."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from backend.ingest.rows import DataField, ParsedRow, parse_row
from backend.ingest.schemas import ImportMapping, RowError
from engine.connectors import jsonpath, transforms

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


def lookup_in(record: Any) -> Callable[[str], str]:
    """Another path's value of the same record, as text (for the join transform)."""
    def lookup(path: str) -> str:
        try:
            return cell_text(jsonpath.first(record, path))
        except jsonpath.PathError:
            return ""
    return lookup


def transformed(line: int, cells_by_column: dict[str, str], mapping: ImportMapping, zone: ZoneInfo,
                lookup: Callable[[str], str]) -> tuple[dict[str, str], ImportMapping, list[RowError]]:
    """The cells after each order field's transforms, the mapping that reads them, and the
    transforms' errors (field, step and transform named). A field whose transform failed is left
    empty here; `parse_transformed` drops the parser's own complaint about it (one error, not two)."""
    if not any(mapping.transforms.values()):
        return cells_by_column, mapping, []
    cells_out = dict(cells_by_column)
    columns = dict(mapping.columns)
    used = list(mapping.columns.values())
    errors: list[RowError] = []
    for target, chain in mapping.transforms.items():
        if not chain:
            continue
        column = mapping.columns.get(target)
        # a path read by two fields with different transforms needs a cell of its own per field
        key = column if column and used.count(column) == 1 else f"{column or ''} → {target}"
        try:
            value = transforms.apply(cells_by_column.get(column, "") if column else "", chain, zone=zone,
                                     lookup=lookup)
        except transforms.TransformError as exc:
            errors.append(RowError(line=line, column=column, field=target, code=exc.code,
                                   params={**exc.params, "field": target}))
            value = ""
        cells_out[key] = value
        columns[target] = key
    return cells_out, mapping.model_copy(update={"columns": columns}), errors


def parse_transformed(line: int, cells_by_column: dict[str, str], mapping: ImportMapping, zone: ZoneInfo,
                      fields: dict[str, DataField], lookup: Callable[[str], str]) -> ParsedRow:
    """The row parser on the transformed cells; transform errors first, the parser's after."""
    cells_out, effective, errors = transformed(line, cells_by_column, mapping, zone, lookup)
    row = parse_row(line, cells_out, effective, zone, fields)
    if errors:
        failed = {e.field for e in errors}
        row.errors = errors + [e for e in row.errors if e.field not in failed]
    return row
