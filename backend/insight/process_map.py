"""The real process map's queries: each visible order's stage sequence, read from the event log.

Orders are chosen by creation date, customer and owner, under the same row-level clause as the order
list, and read in id order in batches (at most `MAX_ORDERS`, the newest; `truncated` says when the cap cut it).
A stage sequence is the order's first stage (at its creation) followed by every event whose `after`
carries a stage different from the current one — `created`, `stage_entered`, replayed `history`, or
any other type alike. The directly-follows graph itself is computed in engine/insight/process_map.py.
Built maps are kept in a bounded in-process LRU (backend/insight/map_cache.py), keyed so that a new
event or order, another viewer, other filters or another published flow version never reuse one.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.flows.models import FlowDefinitionRow
from backend.insight.map_cache import LruCache
from backend.orders import access
from backend.orders.models import Order, OrderEvent
from engine.flows.definition import load_definition
from engine.insight import process_map as pm

MAX_ORDERS = 50_000
BATCH = 2_000
CACHE_SIZE = 32
# the default stage order when no published flow sets stages (frontend STAGE_LABELS, main line)
DEFAULT_STAGES = ("draft", "approval", "tech_confirm", "production", "shipping", "delivered", "invoicing",
                  "payment", "completed")


@dataclass(frozen=True)
class MapFilter:
    created_from: date | None = None
    created_to: date | None = None  # inclusive
    customer_id: int | None = None
    owner_id: int | None = None


@dataclass(frozen=True)
class MapResult:
    map: pm.ProcessMap
    drawn: pm.DrawnFlow
    drawn_from: list[tuple[str, int]]  # (flow key, version) of the published flows used; [] = default order
    truncated: bool


# the merged drawing of the published flows, per database and published (key, version) list: a
# published version never changes, so that list (one cheap query) stands for the definitions, and a
# report run or map reads the drawing without parsing every flow again (bounded: a few databases)
DRAWN_CACHE: LruCache[tuple[pm.DrawnFlow, list[tuple[str, int]]]] = LruCache(8)


def _database(session: Session) -> str:
    """Which database this session reads (tests and installations may run several in one process)."""
    return session.connection().engine.url.render_as_string(hide_password=True)


def published_versions(session: Session) -> tuple[tuple[int, str, int], ...]:
    """(id, key, version) of every published flow, by key: one query, no definitions read."""
    return tuple(tuple(r) for r in session.connection().execute(
        select(FlowDefinitionRow.id, FlowDefinitionRow.key, FlowDefinitionRow.version)
        .where(FlowDefinitionRow.status == "published").order_by(FlowDefinitionRow.key, FlowDefinitionRow.id)))


def drawn_flow(session: Session) -> tuple[pm.DrawnFlow, list[tuple[str, int]]]:
    """The published flows' stages merged into one drawing ([] used = the built-in order), cached
    by the published versions."""
    versions = published_versions(session)
    drawn, used = DRAWN_CACHE.get_or_compute((_database(session), versions), lambda: _draw(session, versions))
    return drawn, list(used)


def _draw(session: Session, versions: tuple[tuple[int, str, int], ...]) -> tuple[pm.DrawnFlow, list[tuple[str, int]]]:
    ids = [row_id for row_id, _key, _version in versions]
    rows = session.exec(select(FlowDefinitionRow).where(FlowDefinitionRow.id.in_(ids))
                        .order_by(FlowDefinitionRow.key, FlowDefinitionRow.id)).scalars().all() if ids else []
    flows, used = [], []
    for row in rows:
        try:
            drawn = pm.drawn_from_flow(load_definition(row.definition))
        except Exception:  # noqa: BLE001 - a stored flow that no longer loads is left out, not a 500
            continue
        if drawn.order:
            flows.append(drawn)
            used.append((row.key, row.version))
    if not flows:
        return pm.chain(DEFAULT_STAGES), []
    return pm.merge(flows), used


def _order_ids(session: Session, actor: Actor, f: MapFilter) -> tuple[list[int], bool]:
    stmt = select(Order.id).where(access.visible_orders_clause(session, actor))
    if f.created_from:
        stmt = stmt.where(Order.created_at >= datetime.combine(f.created_from, time(), UTC))
    if f.created_to:
        stmt = stmt.where(Order.created_at < datetime.combine(f.created_to + timedelta(days=1), time(), UTC))
    if f.customer_id is not None:
        stmt = stmt.where(Order.customer_id == f.customer_id)
    if f.owner_id is not None:
        stmt = stmt.where(Order.owner_id == f.owner_id)
    # the newest orders when the cap cuts (ids follow creation), read back in ascending id order
    ids = list(session.exec(stmt.order_by(Order.id.desc()).limit(MAX_ORDERS + 1)).scalars())
    return sorted(ids[:MAX_ORDERS]), len(ids) > MAX_ORDERS


def traces(session: Session, order_ids: list[int]) -> Iterator[list[tuple[str, datetime]]]:
    """Each order's [(stage, entered_at), ...], batch by batch (orders without a stage event still
    give their creation stage)."""
    return (trace for _order_id, trace in order_traces(session, order_ids))


def order_traces(session: Session, order_ids: list[int]) -> Iterator[tuple[int, list[tuple[str, datetime]]]]:
    """(order id, its trace) for the orders of `order_ids` that have a stage event, in their order
    (also read by backend/foresight/history.py)."""
    for i in range(0, len(order_ids), BATCH):
        batch = order_ids[i:i + BATCH]
        firsts = dict(session.connection().execute(select(Order.id, Order.created_at).where(Order.id.in_(batch))).all())
        after = OrderEvent.after["stage"].as_string()
        rows = session.connection().execute(
            select(OrderEvent.order_id, OrderEvent.at, OrderEvent.before["stage"].as_string(), after)
            # the id range lets the planner walk the (order_id, at, id) index instead of scanning the table
            .where(OrderEvent.order_id.between(batch[0], batch[-1]), OrderEvent.order_id.in_(batch),
                   after.is_not(None))
            .order_by(OrderEvent.order_id, OrderEvent.at, OrderEvent.id))
        by_order: dict[int, list[tuple[str, datetime]]] = {}
        for order_id, at, prior, stage in rows:
            seq = by_order.get(order_id)
            if seq is None:
                seq = by_order[order_id] = []
                if prior is not None and prior != stage:
                    seq.append((prior, min(firsts.get(order_id, at), at)))
            if not seq or seq[-1][0] != stage:
                seq.append((stage, at))
        for order_id in batch:
            if order_id in by_order:
                yield order_id, by_order[order_id]


CACHE: LruCache[MapResult] = LruCache(CACHE_SIZE)


def data_version(session: Session) -> tuple[int, int]:
    """(newest event id, number of orders) in one query: any new event or order changes it."""
    newest, orders = session.connection().execute(
        select(func.coalesce(func.max(OrderEvent.id), 0), select(func.count(Order.id)).scalar_subquery())).one()
    return int(newest), int(orders)


def build(session: Session, *, actor: Actor, filters: MapFilter) -> MapResult:
    ids, truncated = _order_ids(session, actor, filters)
    drawn, used = drawn_flow(session)
    # the viewer's scope twice over: who they are, and exactly which orders they may see (a digest)
    scope = (actor.user_id, tuple(sorted(actor.roles)), hashlib.blake2b(array("q", ids).tobytes()).hexdigest(),
             len(ids), truncated)
    key = (_database(session), scope, filters, tuple(used),
           data_version(session))
    return CACHE.get_or_compute(key, lambda: MapResult(map=pm.build_map(traces(session, ids), drawn), drawn=drawn,
                                                       drawn_from=used, truncated=truncated))
