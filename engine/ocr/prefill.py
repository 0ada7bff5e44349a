"""A contract's draft (engine/ocr/extract.py) poured into the designed order form.

Each found value goes to the form field that means it, looked up by key first, then by label
(either language): contract number → `contract_no` / `customer_po`…, delivery date →
`planned_delivery`…, signing date → `contract_date`…, amount → a plain `amount` money field (not
a computed one), currency → `currency`, line items → the first line-items field's product /
quantity / unit price columns, or, when the form has none, top-level `product` / `quantity` /
`unit_price` fields take the first line. The file goes to the first attachment (or, for an image,
image) field. Returns the raw form data and each filled input's confidence, by input name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine.forms import FieldType, FormDefinition
from engine.forms.definition import FormField

TEXTUAL = {FieldType.TEXT, FieldType.LONG_TEXT}
NUMERIC = {FieldType.NUMBER, FieldType.MONEY}

TARGETS: dict[str, tuple[tuple[str, ...], str, set[FieldType]]] = {
    # draft field: (keys, label pattern, field types it may fill)
    "contract_no": (("contract_no", "contract_number", "contract", "customer_po", "po_number", "po"),
                    r"合同编号|合同号|contract\s*(no|number)|采购单号|\bPO\b", TEXTUAL),
    "delivery_date": (("planned_delivery", "delivery_date", "delivery", "due_date"),
                      r"交货|交期|deliver", {FieldType.DATE}),
    "signed_on": (("contract_date", "signing_date", "signed_date", "order_date"),
                  r"签订日期|合同日期|签约日期|contract\s*date|date\s*signed", {FieldType.DATE}),
    "amount": (("amount", "contract_amount", "total"), r"合同金额|总金额|contract\s*amount", NUMERIC),
    "currency": (("currency",), r"币种|货币|currency", TEXTUAL | {FieldType.SINGLE_SELECT}),
}
COLUMNS: dict[str, tuple[tuple[str, ...], str, set[FieldType]]] = {
    "product": (("product", "name", "item", "description", "goods"), r"产品|品名|货物|名称|product|item|goods",
                TEXTUAL),
    "quantity": (("quantity", "qty", "count"), r"数量|quantity|qty", NUMERIC),
    "unit_price": (("unit_price", "price"), r"单价|unit\s*price|price", NUMERIC),
}


@dataclass
class Prefill:
    data: dict[str, Any] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)  # input name → 0..1
    customer_id: int | None = None
    customer_confidence: float | None = None


def _labels(f: FormField) -> str:
    return " ".join(v for v in f.label.values() if v)


def _find(fields: list[FormField], keys: tuple[str, ...], label: str, types: set[FieldType],
          taken: set[str]) -> FormField | None:
    usable = [f for f in fields if f.type in types and f.key not in taken]
    for key in keys:
        found = next((f for f in usable if f.key == key), None)
        if found is not None:
            return found
    return next((f for f in usable if re.search(label, _labels(f), re.I)), None)


def _value(f: FormField, value: Any) -> Any:
    if f.type in NUMERIC:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return int(number) if number.is_integer() and f.type == FieldType.NUMBER else number
    if f.type == FieldType.SINGLE_SELECT:
        return value if any(o.value == value for o in f.options) else None
    return value


def prefill(defn: FormDefinition, draft: dict[str, Any], file_ref: dict[str, Any] | None = None) -> Prefill:
    out = Prefill()
    fields = [f for f in defn.data_fields() if f.type != FieldType.COMPUTED]
    taken: set[str] = set()
    found = draft.get("fields") or {}
    customer = found.get("customer") or {}
    if customer.get("customer_id"):
        out.customer_id, out.customer_confidence = int(customer["customer_id"]), float(customer["confidence"])
    for name, (keys, label, types) in TARGETS.items():
        if name not in found:
            continue
        target = _find(fields, keys, label, types, taken)
        value = _value(target, found[name]["value"]) if target is not None else None
        if value is not None:
            out.data[target.key], out.confidence[target.key] = value, float(found[name]["confidence"])
            taken.add(target.key)
    items = draft.get("items") or []
    table = next((f for f in fields if f.type == FieldType.LINE_ITEMS), None)
    if items and table is not None:
        rows = []
        columns = {name: _find(list(table.columns), keys, label, types, set())
                   for name, (keys, label, types) in COLUMNS.items()}
        for i, item in enumerate(items):
            row = {}
            for name, column in columns.items():
                value = _value(column, item[name]["value"]) if column is not None and name in item else None
                if value is not None:
                    row[column.key] = value
                    out.confidence[f"{table.key}.{i}.{column.key}"] = float(item[name]["confidence"])
            rows.append(row)
        out.data[table.key] = rows
    elif items:
        for name, (keys, label, types) in COLUMNS.items():
            target = _find(fields, keys, label, types, taken)
            value = _value(target, items[0][name]["value"]) if target is not None else None
            if value is not None:
                out.data[target.key], out.confidence[target.key] = value, float(items[0][name]["confidence"])
                taken.add(target.key)
    if file_ref is not None:
        is_image = str(file_ref.get("content_type", "")).startswith("image/")
        slot = next((f for f in fields if f.type == FieldType.ATTACHMENT), None) or (
            next((f for f in fields if f.type == FieldType.IMAGE), None) if is_image else None)
        if slot is not None:
            out.data[slot.key] = [file_ref]
    return out


def level(confidence: float) -> str:
    """The badge colour: green from 0.8, amber from 0.5, red below."""
    return "high" if confidence >= 0.8 else "medium" if confidence >= 0.5 else "low"
