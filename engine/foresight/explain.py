"""Why a score is what it is, in words: reasons as (code, params), rendered in zh-CN or English.

Pure. Stored as JSON with the scores, rendered in the reader's language when shown ("production
already 5 days, typical 2"). Stage names are rendered through the caller's stage labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_TEXT: dict[str, dict[str, str]] = {
    "fallback": {
        "zh": "历史不足（{closed} 个已关闭订单，模型需要 {needed} 个）：按各阶段中位数和 P90 估计。",
        "en": "Too little history ({closed} closed orders, a model needs {needed}): estimated from each "
              "stage's median and p90.",
    },
    "constant_target": {
        "zh": "历史订单{which}，无法学习延误概率：按各阶段时长估计。",
        "en": "Every closed order was {which}, so the delay probability cannot be learnt: estimated from stage timing.",
    },
    "fallback_measured_better": {
        "zh": "按各阶段中位数估计：在最新订单上它比学习所得模型更准（Brier {fallback} 对 {model}）。",
        "en": "Estimated from each stage's median: on the newest orders it measured better than the learnt "
              "model (Brier {fallback} vs {model}).",
    },
    "model_unreadable": {
        "zh": "当前模型无法加载，已改用各阶段中位数估计。",
        "en": "The live model could not be loaded: estimated from each stage's median instead.",
    },
    "feature_missing": {
        "zh": "缺少特征列：{features}（已忽略）。",
        "en": "Feature columns missing: {features} (left out).",
    },
    "no_history": {
        "zh": "还没有已关闭订单的历史：暂无预测。",
        "en": "No closed orders yet: no prediction.",
    },
    "no_stage_history": {
        "zh": "阶段「{stage}」历史太少，无法预测。",
        "en": "Too few past orders in {stage} to predict.",
    },
    "stage_long": {
        "zh": "{stage}已 {days} 天，通常 {typical} 天（90% 的订单在 {p90} 天内）。",
        "en": "{stage} already {days} days, typical {typical} (90% within {p90}).",
    },
    "stage_typical": {
        "zh": "{stage}已 {days} 天，通常 {typical} 天。",
        "en": "{stage} for {days} days, typical {typical}.",
    },
    "path": {
        "zh": "之后通常还需 {days} 天（{stages}）。",
        "en": "Then typically {days} more days ({stages}).",
    },
    "late_by": {
        "zh": "预计比计划交期晚 {days} 天。",
        "en": "Predicted {days} days after the planned delivery.",
    },
    "spare": {
        "zh": "预计比计划交期早 {days} 天。",
        "en": "Predicted {days} days before the planned delivery.",
    },
    "no_planned": {
        "zh": "没有计划交期：不计算延误概率。",
        "en": "No planned delivery: no delay probability.",
    },
    "group_stage": {
        "zh": "{feature}「{value}」：{stage}通常 {typical} 天（全部订单 {overall} 天）。",
        "en": "{feature} {value}: {stage} typically {typical} days (all orders {overall}).",
    },
    "driver": {
        "zh": "{feature}为「{value}」的订单更容易延误。",
        "en": "Orders with {feature} {value} are late more often.",
    },
}

_FEATURES: dict[str, dict[str, str]] = {
    "stage": {"zh": "阶段", "en": "stage"},
    "customer": {"zh": "客户", "en": "customer"},
    "owner": {"zh": "负责人", "en": "owner"},
    "region": {"zh": "地区", "en": "region"},
    "category": {"zh": "品类", "en": "category"},
    "supplier": {"zh": "供应商", "en": "supplier"},
    "amount_band": {"zh": "金额档（10 的次方）", "en": "amount band (power of 10)"},
    "weekday": {"zh": "进入阶段的星期", "en": "weekday"},
    "month": {"zh": "月份", "en": "month"},
    "days_to_planned": {"zh": "距计划交期天数", "en": "days to planned delivery"},
    "elapsed_hours": {"zh": "已在阶段小时数", "en": "hours in stage"},
    "slack_days": {"zh": "预计余量天数", "en": "slack days"},
}


@dataclass(frozen=True)
class Reason:
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reason:
        return cls(str(data.get("code", "")), dict(data.get("params") or {}))


def feature_label(name: str, lang: str) -> str:
    return _FEATURES.get(name, {}).get(_lang(lang), name)


def _lang(lang: str) -> str:
    return "zh" if str(lang).lower().startswith("zh") else "en"


def render(reason: Reason | Mapping[str, Any], lang: str, stage_label: Callable[[str], str] = str) -> str:
    """One reason in `lang` (zh* or en); an unknown code renders as itself."""
    if not isinstance(reason, Reason):
        reason = Reason.from_json(reason)
    lang = _lang(lang)
    template = _TEXT.get(reason.code, {}).get(lang)
    if template is None:
        return reason.code
    params = dict(reason.params)
    if "stage" in params:
        params["stage"] = stage_label(str(params["stage"]))
    if "stages" in params:
        params["stages"] = (" → " if lang == "en" else "→").join(stage_label(str(s)) for s in params["stages"])
    if "feature" in params:
        params["feature"] = feature_label(str(params["feature"]), lang)
    if "features" in params:
        params["features"] = ", ".join(feature_label(str(f), lang) for f in params["features"])
    if reason.code == "constant_target":
        late = bool(params.get("late"))
        params["which"] = ("都延误了" if late else "都按时完成") if lang == "zh" else ("late" if late else "on time")
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return reason.code
