"""An order's Foresight reasons as text in both template languages, for rule messages
(`{{ order.delay_reasons }}`; backend/rules/context.py and backend/rules/bulk.py read it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlmodel import Session

from backend import i18n
from backend.foresight import reasons as foresight_reasons
from engine.foresight import render

# the same English stage names as backend/rules/context.py:STAGE_LABELS (translated by the catalogs)
_STAGES = {
    "draft": "Draft", "approval": "Approval", "tech_confirm": "Technical confirmation",
    "production": "Production", "shipping": "Shipping", "delivered": "Delivered",
    "invoicing": "Invoicing", "payment": "Payment", "completed": "Completed",
}
SKIPPED = {"feature_missing"}  # about the model, not about this order


def _label(stage: str, lang: str) -> str:
    label = _STAGES.get(stage)
    if label is None:
        return stage
    return i18n.translations("zh_CN").ugettext(label) if lang == "zh" else label


def texts(reasons: Iterable[Mapping]) -> dict[str, str]:
    reasons = [r for r in reasons if r.get("code") not in SKIPPED]
    return {lang: ("" if lang == "zh" else " ").join(render(r, lang, lambda s, lang=lang: _label(s, lang))
                                                     for r in reasons)
            for lang in ("zh", "en")}


def reasons_by_order(session: Session, order_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    ids = [i for i in order_ids if i]
    if not ids:
        return {}
    # stored, or worked out now for orders the job scored without them (backend/foresight/reasons.py)
    return {order_id: texts(reasons) for order_id, reasons in foresight_reasons.reasons_by_order(session, ids).items()}
