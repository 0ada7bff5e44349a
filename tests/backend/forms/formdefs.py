"""Form definitions for backend tests (the engine tests' JSON files plus small variations)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "engine" / "data" / "forms"


def raw(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def order_form() -> dict:
    """The browser test's form: a required planned delivery date, line items and a computed total."""
    return {
        "key": "order",
        "title": {"zh-CN": "订单", "en": "Order"},
        "fields": [
            {"key": "planned_delivery", "type": "date", "required": True,
             "label": {"zh-CN": "计划交期", "en": "Planned delivery date"}},
            {"key": "po_number", "type": "text", "unique": True, "label": {"zh-CN": "采购单号", "en": "PO number"}},
            {"key": "items", "type": "line_items", "label": {"zh-CN": "明细", "en": "Line items"},
             "totals": ["amount"],
             "columns": [
                 {"key": "product", "type": "text", "label": {"zh-CN": "产品", "en": "Product"}},
                 {"key": "qty", "type": "number", "label": {"zh-CN": "数量", "en": "Quantity"}},
                 {"key": "price", "type": "money", "label": {"zh-CN": "单价", "en": "Unit price"}},
                 {"key": "amount", "type": "computed", "result_type": "money",
                  "label": {"zh-CN": "金额", "en": "Amount"}, "expression": {"*": [{"var": "qty"}, {"var": "price"}]}},
             ]},
            {"key": "total", "type": "computed", "result_type": "money", "label": {"zh-CN": "合计", "en": "Total"},
             "expression": {"reduce": [{"var": "items"}, {"+": [{"var": "accumulator"},
                                                                 {"*": [{"var": "current.qty"},
                                                                        {"var": "current.price"}]}]}, 0]}},
        ],
    }


def with_field(defn: dict, field_key: str, **changes) -> dict:
    out = copy.deepcopy(defn)
    for f in out["fields"]:
        if f["key"] == field_key:
            f.update(changes)
    return out
