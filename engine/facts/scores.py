"""Stored scores of an order: on-time rates, priority score, churn signals (Python rendering).

Why this exists: "customer on time ≥ 95%" or "most important first" need the history of other
orders (a customer's closed orders of the last year), too costly to compute per order inside a
rule scan. The worker job `order_scores` computes them set-based (engine/facts/scores_sql.py) and
stores them on `sales_order`; rules, the order list and auto-decisions read the stored columns.
This module is the definition both renderings follow; tests hold them equal. Pure: `now` comes in.

Definitions (docs/decisions-auto.md has the same in prose):
- A *closed sample* is an order with status `completed`, `closed_at` in (now - 365 days, now] and a
  `planned_delivery`. It was *on time* when it was delivered — `signed_at`, else `closed_at` —
  before the end (UTC) of its planned delivery day. Cancelled orders are not delivered: left out.
- `customer_on_time_rate`: on-time closed samples ÷ closed samples of the order's customer; None
  without any sample. `supplier_on_time_rate`: the same over orders with the same designed field
  `data.supplier` (text). `carrier_on_time_rate`: the same over orders with the same carrier (the
  order's latest shipment's carrier, else the designed field `data.carrier`).
- `priority_score` (open orders; 0 once closed), 0..100 =
  value (amount ≥ 500,000: 40; ≥ 100,000: 30; ≥ 20,000: 20; ≥ 5,000: 10; else 5)
  + customer tier (key 20, standard 10, other 0)
  + urgency by days until planned delivery, on the UTC date of `now` (overdue 25; ≤ 3: 20;
    ≤ 7: 15; ≤ 14: 8; later or none: 0)
  + risk: max(5 × number of risk flags capped at 15, floor(15 × delay_probability + 0.5)), the
    stored `delay_probability` (the foresight prediction, clamped to 0..1) rounded half up; while
    an order has no stored probability only its risk flags count.
- `churn_signals` of the order's customer, 0..3, one for each of: at least URGE_SIGNAL urges
  (`urged` / `flow.urged` events) on the customer's orders in the last 30 days; more than
  SILENCE_DAYS days since the last customer contact (the latest `last_customer_contact_at` of the
  customer's orders, else their latest `created_at`); at least LATE_SIGNAL late closed samples
  in the last 365 days.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from engine.facts.catalogue import as_utc, epoch_seconds

__all__ = [
    "LATE_SIGNAL",
    "SILENCE_DAYS",
    "URGE_SIGNAL",
    "WINDOW_DAYS",
    "CustomerSignals",
    "on_time_rates",
    "priority_score",
    "churn_signals",
    "scores",
]

WINDOW_DAYS = 365
URGE_DAYS = 30
URGE_SIGNAL = 2
SILENCE_DAYS = 30
LATE_SIGNAL = 2
VALUE_BANDS = ((500_000, 40), (100_000, 30), (20_000, 20), (5_000, 10))
VALUE_FLOOR = 5
TIER_POINTS = {"key": 20, "standard": 10}
URGENCY = ((3, 20), (7, 15), (14, 8))
URGENCY_OVERDUE = 25
RISK_PER_FLAG, RISK_CAP = 5, 15
URGE_EVENTS = ("urged", "flow.urged")


def _seconds(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return epoch_seconds(as_utc(value))


def _day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def on_time(order: Mapping[str, Any], now: datetime) -> bool | None:
    """Whether a closed sample was on time; None when the order is not a closed sample."""
    closed = _seconds(order.get("closed_at"))
    planned = _day(order.get("planned_delivery"))
    now_s = epoch_seconds(now)
    if order.get("status") != "completed" or closed is None or planned is None:
        return None
    if not (now_s - WINDOW_DAYS * 86400 < closed <= now_s):
        return None
    delivered = _seconds(order.get("signed_at"))
    delivered = closed if delivered is None else delivered
    end_of_day = (planned.toordinal() - date(1970, 1, 1).toordinal() + 1) * 86400
    return delivered < end_of_day


def _rate(samples: list[bool]) -> float | None:
    return sum(samples) / len(samples) if samples else None


def on_time_rates(orders: Iterable[Mapping[str, Any]], key: str, now: datetime) -> dict[Any, float]:
    """Group key value -> on-time rate over the closed samples (groups without samples left out).
    `key` names the order's grouping value: customer_id, supplier or carrier (already resolved)."""
    groups: dict[Any, list[bool]] = defaultdict(list)
    for order in orders:
        group = order.get(key)
        if group is None or group == "":
            continue
        result = on_time(order, now)
        if result is not None:
            groups[group].append(result)
    return {group: _rate(samples) for group, samples in groups.items()}


def priority_score(order: Mapping[str, Any], tier: str | None, now: datetime,
                   delay_probability: float | None = None) -> int:
    """0..100, see the module doc. `delay_probability`: the prediction's P(late), when stored."""
    if order.get("status") != "open":
        return 0
    amount = float(order.get("amount") or 0)
    value = next((points for bound, points in VALUE_BANDS if amount >= bound), VALUE_FLOOR)
    tier_points = TIER_POINTS.get(tier or "", 0)
    planned = _day(order.get("planned_delivery"))
    urgency = 0
    if planned is not None:
        days = planned.toordinal() - as_utc(now).date().toordinal()
        if days < 0:
            urgency = URGENCY_OVERDUE
        else:
            urgency = next((points for bound, points in URGENCY if days <= bound), 0)
    flags = order.get("risk_flags") or []
    risk = min(RISK_CAP, RISK_PER_FLAG * (len(flags) if isinstance(flags, list) else 0))
    if delay_probability is not None and delay_probability == delay_probability:  # not NaN
        risk = max(risk, math.floor(RISK_CAP * min(1.0, max(0.0, float(delay_probability))) + 0.5))
    return min(100, value + tier_points + urgency + risk)


@dataclass(frozen=True)
class CustomerSignals:
    urges: int
    silent_days: int | None
    late: int


def customer_signals(orders: Iterable[Mapping[str, Any]], urges: Iterable[tuple[int, Any]],
                     now: datetime) -> dict[int, CustomerSignals]:
    """customer_id -> its signal inputs. `urges`: (customer_id, at) of urge events."""
    now_s = epoch_seconds(now)
    urge_count: dict[int, int] = defaultdict(int)
    for customer_id, at in urges:
        at_s = _seconds(at)
        if at_s is not None and now_s - URGE_DAYS * 86400 < at_s <= now_s:
            urge_count[customer_id] += 1
    contact: dict[int, int] = {}
    created: dict[int, int] = {}
    late: dict[int, int] = defaultdict(int)
    for order in orders:
        cid = order.get("customer_id")
        if cid is None:
            continue
        last = _seconds(order.get("last_customer_contact_at"))
        if last is not None:
            contact[cid] = max(contact.get(cid, last), last)
        made = _seconds(order.get("created_at"))
        if made is not None:
            created[cid] = max(created.get(cid, made), made)
        if on_time(order, now) is False:
            late[cid] += 1
        late.setdefault(cid, 0)
    out = {}
    for cid in late:
        since = contact.get(cid, created.get(cid))
        silent = None if since is None else (now_s - since) // 86400
        out[cid] = CustomerSignals(urge_count.get(cid, 0), silent, late[cid])
    return out


def churn_signals(signals: CustomerSignals | None) -> int:
    if signals is None:
        return 0
    return (int(signals.urges >= URGE_SIGNAL) + int(signals.silent_days is not None and signals.silent_days > SILENCE_DAYS)
            + int(signals.late >= LATE_SIGNAL))


def scores(orders: list[Mapping[str, Any]], *, tiers: Mapping[int, str], urges: Iterable[tuple[int, Any]],
           now: datetime) -> dict[int, dict[str, Any]]:
    """Order id -> its five stored scores. Each order mapping holds the sales_order columns (with the
    stored `delay_probability`) plus
    `supplier` and `carrier` (resolved as the module doc says)."""
    by_customer = on_time_rates(orders, "customer_id", now)
    by_supplier = on_time_rates(orders, "supplier", now)
    by_carrier = on_time_rates(orders, "carrier", now)
    signals = customer_signals(orders, urges, now)
    out = {}
    for order in orders:
        cid = order.get("customer_id")
        out[order["id"]] = {
            "customer_on_time_rate": by_customer.get(cid),
            "supplier_on_time_rate": by_supplier.get(order.get("supplier")) if order.get("supplier") else None,
            "carrier_on_time_rate": by_carrier.get(order.get("carrier")) if order.get("carrier") else None,
            "priority_score": priority_score(order, tiers.get(cid), now, order.get("delay_probability")),
            "churn_signals": churn_signals(signals.get(cid)),
        }
    return out


def horizon(now: datetime) -> datetime:
    """The oldest `closed_at` a closed sample may have (exclusive)."""
    return now - timedelta(days=WINDOW_DAYS)
