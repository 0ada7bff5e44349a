"""Back-test of an approval node's auto-approval: past orders replayed through its condition.

Why this exists: before switching auto-approval on, a manager wants to know how many orders it
would have approved and how those orders turned out. For each order whose flow (this flow key)
entered the node in the last N weeks (bounded), the condition is evaluated by the engine's own
`engine.flows.auto.decide` over the order's facts *as they were when it reached the node*:

- the order's columns at that moment: today's row with every later change undone, newest first,
  from the `before` values of its order events (fields changed outside the event log — none in
  this product — would show today's value);
- the stored scores at that moment, recomputed with engine/facts/scores.py at that moment: on-time
  rates over the orders closed in the year before it (their planned delivery as it is today),
  priority from the rewound columns, churn signals from the urge events and contacts before it.

Outcome of each order, today: late (closed after its planned delivery day, or open with the planned
delivery day passed), cancelled, unpaid (payment due date passed and no `data.paid_on`, not
cancelled), still open. Reads only; nothing is written.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.flows.models import FlowInstance
from backend.flows.service import FLOWS, error, require_designer
from backend.logistics.models import Shipment
from backend.orders.models import Order, OrderEvent
from engine.facts import scores
from engine.facts.sql import DataText
from engine.flows import auto as auto_rules
from engine.flows.definition import AutoApprove
from engine.flows.logic import variables
from engine.flows.state import FlowState

MAX_WEEKS = 26
MAX_INSTANCES = 3000  # newest flow instances of the key read (each a JSON state)
MAX_ORDERS = 1000  # orders replayed
MAX_HISTORY_ROWS = 50_000  # closed orders read to rebuild the on-time rates
EXAMPLES = 10


def _reached(session: Session, key: str, node_key: str, since: datetime, now: datetime) -> dict[int, datetime]:
    """order id -> when its flow first entered `node_key` inside the window (newest instances first)."""
    rows = session.exec(select(FlowInstance.order_id, FlowInstance.state).where(FlowInstance.flow_key == key)
                        .order_by(FlowInstance.id.desc()).limit(MAX_INSTANCES)).all()
    out: dict[int, datetime] = {}
    for order_id, raw in rows:
        if order_id in out or len(out) >= MAX_ORDERS:
            continue
        try:
            state = FlowState.from_json(raw)
        except Exception:  # noqa: BLE001 - a state this version cannot read is left out
            continue
        for entry in state.history:
            if entry.action == "node_entered" and entry.node_key == node_key and since <= entry.at <= now:
                out[order_id] = entry.at
                break
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def _rewind(order: Order, events: list[OrderEvent], at: datetime) -> dict[str, Any]:
    """The order's columns at `at`: later changes undone from their `before` values, newest first."""
    row = {c.key: getattr(order, c.key) for c in Order.__table__.columns}
    row["data"] = dict(order.data or {})
    for event in sorted(events, key=lambda e: (e.at, e.id or 0), reverse=True):
        if event.at <= at or not isinstance(event.before, dict):
            continue
        for name, value in event.before.items():
            if name == "data" and isinstance(value, dict):
                row["data"] = dict(value)
            elif name.startswith("data."):
                if value is None:
                    row["data"].pop(name[5:], None)
                else:
                    row["data"][name[5:]] = value
            elif name in row:
                row[name] = value
    if isinstance(row.get("amount"), str):
        try:
            row["amount"] = float(row["amount"])
        except ValueError:
            row["amount"] = None
    return {k: _plain(v) for k, v in row.items()}


def _outcome(order: Order, today) -> list[str]:
    out = []
    if order.status == "cancelled":
        out.append("cancelled")
    else:
        if order.status == "completed":
            row = {c.key: getattr(order, c.key) for c in Order.__table__.columns}
            closed = order.closed_at
            if closed is not None and order.planned_delivery is not None:
                if scores.on_time(row, closed) is False:
                    out.append("late")
        elif order.planned_delivery is not None and order.planned_delivery < today:
            out.append("late")
        if order.payment_due is not None and order.payment_due < today and not (order.data or {}).get("paid_on"):
            out.append("unpaid")
    if order.status == "open":
        out.append("open")
    return out


def _history(session: Session, orders: list[Order], needs: set[str], until: datetime) -> list[dict[str, Any]]:
    """Closed orders the rates at the replayed moments may count (bounded)."""
    if not needs & {"customer_on_time_rate", "supplier_on_time_rate", "carrier_on_time_rate", "churn_signals"}:
        return []
    oldest = min((o["_at"] for o in orders), default=until) - timedelta(days=scores.WINDOW_DAYS)
    customer_ids = sorted({o["customer_id"] for o in orders})
    suppliers = sorted({o["supplier"] for o in orders if o.get("supplier")})
    clauses = [Order.customer_id.in_(customer_ids)]
    if suppliers and "supplier_on_time_rate" in needs:
        clauses.append(DataText(Order.__table__.c.data, "supplier").in_(suppliers))  # indexed (mendsb_0001)
    if "carrier_on_time_rate" in needs:
        clauses.append(Order.status == "completed")  # carriers are few: all closed orders of the window
    rows = session.exec(select(Order).where(or_(*clauses), Order.created_at <= until,
                                            or_(Order.closed_at.is_(None), Order.closed_at > oldest))
                        .order_by(Order.id.desc()).limit(MAX_HISTORY_ROWS)).scalars().all()
    carriers = _carriers(session, [o.id for o in rows])
    return [_with_parties({c.key: getattr(o, c.key) for c in Order.__table__.columns}, carriers) for o in rows]


def _carriers(session: Session, order_ids: list[int]) -> dict[int, str]:
    """order id -> the carrier of its latest shipment (in chunks)."""
    out: dict[int, str] = {}
    for start in range(0, len(order_ids), 1000):
        chunk = order_ids[start:start + 1000]
        for order_id, carrier in session.exec(select(Shipment.order_id, Shipment.carrier)
                                              .where(Shipment.order_id.in_(chunk)).order_by(Shipment.id)).all():
            out[order_id] = carrier
    return out


def _with_parties(row: dict[str, Any], carriers: dict[int, str]) -> dict[str, Any]:
    """The row plus its supplier and carrier, resolved as engine/facts/scores.py says."""
    data = row.get("data") or {}
    supplier = data.get("supplier") if isinstance(data, dict) else None
    row["supplier"] = supplier if isinstance(supplier, str) and supplier else None
    carrier = carriers.get(row["id"])
    carrier = carrier if carrier is not None else (data.get("carrier") if isinstance(data, dict) else None)
    row["carrier"] = carrier if isinstance(carrier, str) and carrier else None
    return row


class _History:
    """The history orders grouped by customer, supplier and carrier (each replayed order reads only
    its own groups)."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.groups: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            for key in ("customer_id", "supplier", "carrier"):
                if row.get(key) is not None:
                    self.groups[(key, row[key])].append(row)

    def before(self, key: str, value: Any, at: datetime) -> list[dict[str, Any]]:
        if value is None:
            return []
        return [h for h in self.groups.get((key, value), ()) if h.get("created_at") is not None
                and h["created_at"] <= at]


def _scores_then(row: dict[str, Any], history: _History, needs: set[str], tier: str | None,
                 urges: list[tuple[int, Any]]) -> dict[str, Any]:
    """The stored scores the condition reads, as they were when the order reached the step."""
    at, cid = row["_at"], row["customer_id"]
    out: dict[str, Any] = {"priority_score": scores.priority_score({**row, "status": "open"}, tier, at)}
    if needs & {"customer_on_time_rate", "churn_signals"}:
        mine = history.before("customer_id", cid, at)
        out["customer_on_time_rate"] = scores.on_time_rates(mine, "customer_id", at).get(cid)
        signals = scores.customer_signals([*mine, row], [u for u in urges if u[0] == cid and u[1] <= at], at)
        out["churn_signals"] = scores.churn_signals(signals.get(cid))
    for fact, key in (("supplier_on_time_rate", "supplier"), ("carrier_on_time_rate", "carrier")):
        if fact in needs and row.get(key):
            out[fact] = scores.on_time_rates(history.before(key, row[key], at), key, at).get(row[key])
        else:
            out[fact] = None if fact in needs else row.get(fact)
    return out


def backtest(session: Session, *, actor: Actor, key: str, node_key: str, condition: Any, weeks: int,
             now: datetime) -> dict[str, Any]:
    """How many orders that reached `node_key` in the last `weeks` weeks the condition would have
    auto-approved, and how they (and the others) turned out."""
    require_designer(actor)
    row = FLOWS.working_copy(session, key)
    if row is None:
        raise error("flow.not_found", key=key)
    check_node((row.definition or {}).get("nodes") or [], node_key)
    found = auto_rules.problems(condition)
    if found:
        raise GendanError("flow.auto_condition_invalid", {"problems": found}, status=422)
    weeks = max(1, min(int(weeks), MAX_WEEKS))
    since = now - timedelta(weeks=weeks)
    reached = _reached(session, key, node_key, since, now)
    auto = AutoApprove(enabled=True, condition=condition)
    needs = variables(condition)
    orders = session.exec(select(Order).where(Order.id.in_(list(reached)))).scalars().all() if reached else []
    events: dict[int, list[OrderEvent]] = defaultdict(list)
    if orders:
        for event in session.exec(select(OrderEvent).where(OrderEvent.order_id.in_([o.id for o in orders]))).scalars():
            events[event.order_id].append(event)
    rows = []
    carriers = _carriers(session, [o.id for o in orders])
    for order in orders:
        row = _with_parties(_rewind(order, events[order.id], reached[order.id]), carriers)
        row["_at"] = reached[order.id]
        rows.append(row)
    history = _History(_history(session, rows, needs, now))
    customer_ids = sorted({r["customer_id"] for r in rows})
    tiers = dict(session.exec(select(Customer.id, Customer.tier).where(Customer.id.in_(customer_ids))).all()) \
        if customer_ids else {}
    urges: list[tuple[int, Any]] = []
    if customer_ids and "churn_signals" in needs:
        urges = list(session.exec(
            select(Order.customer_id, OrderEvent.at).join(Order, Order.id == OrderEvent.order_id)
            .where(Order.customer_id.in_(customer_ids), OrderEvent.type.in_(scores.URGE_EVENTS),
                   OrderEvent.at >= since - timedelta(days=scores.URGE_DAYS))).all())
    today = now.date()
    by_id = {o.id: o for o in orders}
    tally = {"auto": defaultdict(int), "people": defaultdict(int)}
    examples: list[dict[str, Any]] = []
    failed = 0
    for row in sorted(rows, key=lambda r: r["_at"], reverse=True):
        facts = {k: v for k, v in row.items() if not k.startswith("_") and k not in ("supplier", "carrier")}
        facts.update(_scores_then(row, history, needs, tiers.get(row["customer_id"]), urges))
        outcome = auto_rules.decide(auto, facts)
        failed += outcome.problem is not None
        side = "auto" if outcome.approve else "people"
        order = by_id[row["id"]]
        result = _outcome(order, today)
        tally[side]["orders"] += 1
        for name in result:
            tally[side][name] += 1
        if outcome.approve and len(examples) < EXAMPLES:
            examples.append({"order_id": order.id, "number": order.number, "reached_at": row["_at"].isoformat(),
                             "outcome": result})
    keys = ("orders", "late", "cancelled", "unpaid", "open")
    return {
        "flow_key": key, "node_key": node_key, "weeks": weeks, "reached": len(rows),
        "capped": len(reached) >= MAX_ORDERS,
        "auto": {k: tally["auto"][k] for k in keys}, "people": {k: tally["people"][k] for k in keys},
        "failed": failed, "examples": examples, "condition_words": auto_rules.condition_words(condition),
    }


def check_node(defn_nodes: list[dict[str, Any]], node_key: str) -> None:
    if not any(n.get("key") == node_key and n.get("type") == "approval" for n in defn_nodes):
        raise error("flow.backtest_node_invalid", node_key=node_key)
