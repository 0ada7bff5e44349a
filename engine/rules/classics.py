"""The five classic rules every installation starts from (templates in the rule designer).

Plain JSON definitions (as stored), so the designer can load one, let the admin adjust it, and
save it as a draft. `delay_risk` reads Foresight's predicted completion and delay probability
(docs/foresight.md), so it works on any installation with some closed orders.
Every text ships in Chinese and English; the reader gets their own language.
"""

from __future__ import annotations

import copy
from typing import Any

_DETAILS = {
    "zh": "{{ order.number }} · {{ order.customer_name }} · {{ order.amount | money }}"
    "{% if order.planned_delivery %} · 计划交期 {{ order.planned_delivery | date }}{% endif %}",
    "en": "{{ order.number }} · {{ order.customer_name }} · {{ order.amount | money }}"
    "{% if order.planned_delivery %} · planned delivery {{ order.planned_delivery | date }}{% endif %}",
}

CLASSIC_RULES: dict[str, dict[str, Any]] = {
    "approval_timeout": {
        "key": "approval_timeout",
        "name": {"zh": "审批超时升级", "en": "Approval time-out with escalation"},
        "description": {
            "zh": "审批超过 24 个工作小时：给审批人高优先级待办，并抄送其主管。",
            "en": "Pending approval for more than 24 working hours: a high-priority to-do for the "
            "approver, copied to their manager.",
        },
        "trigger": {"kind": "time", "every_minutes": 1},
        "condition": {
            "and": [
                {"==": [{"var": "stage"}, "approval"]},
                {">": [{"var": "working_hours_in_stage"}, 24]},
            ]
        },
        "actions": [
            {
                "type": "create_todo",
                "assignee": {"kind": "current_approver"},
                "cc": [{"kind": "current_approver_manager"}],
                "priority": "high",
                "due_in_hours": 4,
                "title_template": {
                    "zh": "审批已等待 {{ order.working_hours_in_stage | round | int }} 小时：{{ order.number }}",
                    "en": "Approval waiting {{ order.working_hours_in_stage | round | int }} h: {{ order.number }}",
                },
                "body_template": _DETAILS,
            }
        ],
        "firing": {"mode": "once_per_episode"},
    },
    "delay_risk": {
        "key": "delay_risk",
        "name": {"zh": "交期延误风险", "en": "Delivery delay risk"},
        "description": {
            "zh": "系统预测的完成（交付）时间晚于计划交期，或延误概率达到 60%：标记风险并通知负责人。",
            "en": "The system's predicted completion (delivery) is after the planned delivery, or the delay "
            "probability is 60% or more: flag the risk and tell the owner.",
        },
        "trigger": {"kind": "time", "every_minutes": 15},
        # Foresight's stored scores (docs/foresight.md): they work on the per-stage medians when there is
        # too little history for a model, and stay empty (the rule does not fire) with none at all
        "condition": {
            "and": [
                {"!!": [{"var": "planned_delivery"}]},
                {"or": [
                    {">": [{"var": "predicted_days_late"}, 0]},
                    {">=": [{"var": "delay_probability"}, 0.6]},
                ]},
            ]
        },
        "actions": [
            {
                "type": "add_risk_flag",
                "flag": "delay_risk",
                "reason_template": {
                    "zh": "预计 {{ order.predicted_completion_at | date }} 完成，计划交期 "
                    "{{ order.planned_delivery | date }}",
                    "en": "predicted {{ order.predicted_completion_at | date }}, planned "
                    "{{ order.planned_delivery | date }}",
                },
            },
            {
                "type": "notify",
                "recipients": [{"kind": "owner"}, {"kind": "owner_manager"}],
                "channels": ["in_app", "email"],
                "title_template": {"zh": "交期延误风险：{{ order.number }}", "en": "Delay risk: {{ order.number }}"},
                "body_template": {
                    "zh": "预计 {{ order.predicted_completion_at | date }} 完成，"
                    "计划交期为 {{ order.planned_delivery | date }}；延误概率 "
                    "{{ ((order.delay_probability or 0) * 100) | round | int }}%。{{ order.delay_reasons }}",
                    "en": "Completion is predicted on {{ order.predicted_completion_at | date }}, "
                    "delivery is planned for {{ order.planned_delivery | date }}; delay probability "
                    "{{ ((order.delay_probability or 0) * 100) | round | int }}%. {{ order.delay_reasons }}",
                },
            },
        ],
        "firing": {"mode": "once_per_episode"},
    },
    "not_shipped_3_days": {
        "key": "not_shipped_3_days",
        "name": {"zh": "3 天未发货", "en": "Not shipped within 3 days"},
        "description": {
            "zh": "进入发货阶段 3 天仍未交给承运商：给仓库一条带订单详情的待办。",
            "en": "In shipping for 3 days and not handed to a carrier: a to-do for the warehouse with the order's details.",
        },
        "trigger": {"kind": "time", "every_minutes": 5},
        "condition": {
            # in shipping and not handed over yet (no carrier + tracking number): an order travelling to
            # the customer stays in shipping until sign-off and is not late for the warehouse
            "and": [{"==": [{"var": "stage"}, "shipping"]}, {"!": [{"var": "shipped_at"}]},
                    {">=": [{"var": "hours_in_stage"}, 72]}]
        },
        "actions": [
            {
                "type": "create_todo",
                "assignee": {"kind": "role", "role": "warehouse"},
                "priority": "high",
                "due_in_hours": 24,
                "title_template": {
                    "zh": "请发货 {{ order.number }}（已等待 {{ (order.hours_in_stage / 24) | int }} 天）",
                    "en": "Ship {{ order.number }} (waiting {{ (order.hours_in_stage / 24) | int }} days)",
                },
                "body_template": _DETAILS,
            }
        ],
        "firing": {"mode": "once_per_episode"},
    },
    "follow_up_after_sign_off": {
        "key": "follow_up_after_sign_off",
        "name": {"zh": "签收后一天回访", "en": "Follow up 1 day after sign-off"},
        "description": {
            "zh": "客户签收一天后（按签收时间，含物流自动签收）：给销售一条回访任务。",
            "en": "One day after the customer signed for the order (its signed_at, also when the carrier's "
            "feed said so): a follow-up task for the sales rep.",
        },
        "trigger": {"kind": "time", "every_minutes": 15},
        # counted from signed_at, not from entering a stage; signed more than a week ago is history
        # (an import of old orders must not bring a follow-up for each)
        "condition": {
            "and": [{"!!": [{"var": "signed_at"}]}, {"<=": [1, {"var": "days_since_signed"}, 6]}]
        },
        "actions": [
            {
                "type": "create_todo",
                "assignee": {"kind": "owner"},
                "priority": "normal",
                "due_in_hours": 48,
                "title_template": {
                    "zh": "回访 {{ order.number }} 的客户 {{ order.customer_name }}",
                    "en": "Follow up with {{ order.customer_name }}, the customer of {{ order.number }}",
                },
                "body_template": _DETAILS,
            }
        ],
        "firing": {"mode": "once_per_order"},
    },
    "payment_due_reminder": {
        "key": "payment_due_reminder",
        "name": {"zh": "到期前 3 天催款提醒", "en": "Payment due in 3 days"},
        "description": {
            "zh": "付款到期前 3 天：给客户发一封友好的邮件，并提醒销售。",
            "en": "Three days before payment is due: a friendly email to the customer and a reminder "
            "to the sales rep.",
        },
        "trigger": {"kind": "time", "every_minutes": 60},
        # the guard matters: JSON-logic reads a missing date's days_until as 0 in comparisons
        "condition": {
            "and": [{"!!": [{"var": "payment_due"}]}, {"<=": [0, {"var": "days_until_payment_due"}, 3]}]
        },
        "actions": [
            {
                "type": "message_customer",
                "channel": "email",
                "subject_template": {
                    "zh": "订单 {{ order.number }} 付款提醒",
                    "en": "Payment reminder for order {{ order.number }}",
                },
                "body_template": {
                    "zh": "尊敬的{{ order.customer_name }}：温馨提醒，订单 {{ order.number }} 的货款 "
                    "{{ order.amount | money }} 将于 {{ order.payment_due | date }} 到期。谢谢！",
                    "en": "Dear {{ order.customer_name }}, a friendly reminder that payment of "
                    "{{ order.amount | money }} for order {{ order.number }} is due on "
                    "{{ order.payment_due | date }}. Thank you!",
                },
            },
            {
                "type": "create_todo",
                "assignee": {"kind": "owner"},
                "priority": "normal",
                "title_template": {
                    "zh": "{{ order.payment_due | date }} 到期收款：{{ order.number }}",
                    "en": "Payment due {{ order.payment_due | date }}: {{ order.number }}",
                },
                "body_template": _DETAILS,
            },
        ],
        "firing": {"mode": "once_per_order"},
    },
}


def classic_rule(key: str) -> dict[str, Any]:
    """A fresh copy of one classic rule's JSON (KeyError for an unknown key)."""
    return copy.deepcopy(CLASSIC_RULES[key])
