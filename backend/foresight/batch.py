"""Read open orders as columns and write their scores in bulk: the scoring job's data path.

Why this exists: reading each open order as a dictionary of its whole row (the designed `data`
JSON parsed per order) and writing scores with one UPDATE and one INSERT per order cost more than
the model itself at a million orders. Here the read selects only the feature columns (the two
designed fields the features use are picked out of `data` by the database, times and dates
arrive as numbers), keyset page by keyset page; the write is, on PostgreSQL, one binary COPY of
the chunk into a temporary table, then one INSERT ... ON CONFLICT of the narrow foresight_score
(the predictions live there since predtable_0001; reasons stored as JSON null: worked out when
shown, backend/foresight/reasons.py). Other databases (SQLite) upsert the same values.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Date, Float, cast, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.customers.models import Customer
from backend.foresight.history import open_orders
from backend.foresight.models import ForesightScore
from backend.orders.models import Order
from backend.people.models import User
from engine.facts.catalogue import FactType
from engine.facts.sql import JsonValue, ToFloat
from engine.foresight.batch import BASIS, OpenColumns, Scores, epoch_days, epoch_seconds

#: the raw features this reader provides (backend/foresight/history.py:_features reads the same)
LEAN_FEATURES = frozenset({"customer", "region", "owner", "category", "supplier"})
_CATEGORY_KEYS = ("category", "product_category", "product")


def _text(key: str) -> Any:
    return JsonValue(Order.data, key, FactType.STRING)


def _number(key: str) -> Any:
    return JsonValue(Order.data, key, FactType.NUMBER)


def lean_select(after_id: int, limit: int, stale: tuple[datetime, int | None] | None, *,
                numbers: bool = False) -> Any:
    """Only what the features need, in id order. `numbers` (PostgreSQL): stage_entered_at as
    seconds since 1970 (double, microseconds kept: what `epoch_seconds` gives) and the planned
    delivery as days since 1970, worked out by the database, not as a datetime per row."""
    entered, planned = Order.stage_entered_at, Order.planned_delivery
    if numbers:
        entered = func.date_part("epoch", Order.stage_entered_at, type_=Float())
        planned = (Order.planned_delivery - cast(literal("1970-01-01"), Date)).label("planned_days")
    query = (select(Order.id, Order.stage, entered, planned, ToFloat(Order.amount),
                    Customer.name, Customer.region, User.display_name,
                    *(_text(k) for k in _CATEGORY_KEYS), *(_number(k) for k in _CATEGORY_KEYS), _text("supplier"))
             .join(Customer, Customer.id == Order.customer_id)
             .join(User, User.id == Order.owner_id)
             .where(Order.status == "open", Order.id > after_id))
    if stale is not None:
        before, model_id = stale
        query = query.outerjoin(ForesightScore, ForesightScore.order_id == Order.id).where(or_(
            ForesightScore.order_id.is_(None), ForesightScore.scored_at < before,
            ForesightScore.model_id.is_distinct_from(model_id)))
    return query.order_by(Order.id).limit(limit)


def _category(texts: tuple[Any, ...], numbers: tuple[Any, ...]) -> str | None:
    """history._features' category: the first of the keys holding a non-blank text or an integer."""
    for text, number in zip(texts, numbers, strict=True):
        if text is not None:
            if text.strip():
                return text[:80]
        elif number is not None and float(number).is_integer():
            return str(int(number))[:80]
    return None


def _supplier(value: Any) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[:80] if value else None


def read_columns(session: Session, *, after_id: int, limit: int,
                 stale: tuple[datetime, int | None] | None = None) -> OpenColumns:
    """The next `limit` open orders above `after_id` as columns (see the module doc)."""
    conn = session.connection()
    numbers = conn.dialect.name == "postgresql"
    query = lean_select(after_id, limit, stale, numbers=numbers)
    if numbers:
        # every column arrives as the value used (numbers, texts): psycopg's tuples as they are,
        # without SQLAlchemy's row objects and result processing
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        with conn.connection.driver_connection.cursor() as cur:
            cur.execute(str(compiled), compiled.params)
            rows = cur.fetchall()
    else:
        rows = conn.execute(query).all()
    n = len(rows)
    if not n:
        return OpenColumns(np.zeros(0, dtype=np.int64), [], np.zeros(0), np.zeros(0), np.zeros(0), {})
    ids, stages, entered, planned, amount, customer, region, owner, t1, t2, t3, n1, n2, n3, supplier = zip(*rows,
                                                                                                      strict=True)
    # the same few (texts, numbers) combinations repeat over a chunk: each worked out once
    memo: dict[tuple[Any, ...], str | None] = {}
    category = [memo[k] if k in memo else memo.setdefault(k, _category(k[:3], k[3:]))
                for k in zip(t1, t2, t3, n1, n2, n3, strict=True)]
    suppliers: dict[Any, str | None] = {}
    if numbers:
        entered_s = np.array(entered, dtype=np.float64)
        planned_d = np.array([np.nan if p is None else p for p in planned], dtype=np.float64)
    else:
        entered_s = np.fromiter((epoch_seconds(e) for e in entered), dtype=np.float64, count=n)
        planned_d = np.fromiter((epoch_days(_day(p)) for p in planned), dtype=np.float64, count=n)
    return OpenColumns(
        np.fromiter(ids, dtype=np.int64, count=n), list(stages), entered_s, planned_d,
        np.array([np.nan if a is None else a for a in amount], dtype=np.float64),
        {"customer": list(customer), "region": list(region), "owner": list(owner), "category": category,
         "supplier": [suppliers[s] if s in suppliers else suppliers.setdefault(s, _supplier(s)) for s in supplier]})


def read_columns_slowly(session: Session, *, after_id: int, limit: int,
                        stale: tuple[datetime, int | None] | None = None) -> OpenColumns:
    """The same through history.open_orders (every feature _features knows): for a model with a
    raw feature this module's lean query does not read."""
    orders = open_orders(session, after_id=after_id, batch=limit, stale=stale)
    names = sorted({k for o in orders for k in o.features} - {"amount"})
    return OpenColumns(
        np.array([o.order_id for o in orders], dtype=np.int64), [o.stage for o in orders],
        np.array([epoch_seconds(o.stage_entered_at) for o in orders], dtype=np.float64),
        np.array([epoch_days(o.planned_delivery) for o in orders], dtype=np.float64),
        np.array([np.nan if o.features.get("amount") is None else float(o.features["amount"]) for o in orders],
                 dtype=np.float64),
        {name: [o.features.get(name) for o in orders] for name in names})


def _day(value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value.date() if isinstance(value, datetime) else value
    return datetime.fromisoformat(value[:10]).date()


# --- writing ---------------------------------------------------------------------------------

_PG_COLUMNS = ("oid", "basis", "stage_done", "stage_done_p90", "completion", "completion_p90", "prob", "p90")


def _binary_copy(scores: Scores) -> bytes:
    """PostgreSQL binary COPY of the chunk: oid bigint, then float8 columns (NaN for none)."""
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for name in _PG_COLUMNS:
        fields += [(f"len_{name}", ">i4"), (name, ">i8" if name == "oid" else ">f8")]
    rows = np.zeros(len(scores.order_id), dtype=np.dtype(fields))
    rows["n"] = len(_PG_COLUMNS)
    values = {"oid": scores.order_id, "basis": scores.basis.astype(np.float64), "stage_done": scores.stage_done,
              "stage_done_p90": scores.stage_done_p90, "completion": scores.completion,
              "completion_p90": scores.completion_p90, "prob": scores.probability, "p90": scores.stage_p90_hours}
    for name in _PG_COLUMNS:
        rows[f"len_{name}"] = 8
        rows[name] = values[name]
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return header + rows.tobytes() + (-1).to_bytes(2, "big", signed=True)


def _write_postgresql(session: Session, scores: Scores, model_id: int | None, now: datetime) -> None:
    conn = session.connection()
    conn.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS foresight_chunk (oid bigint, basis float8, "
                         "stage_done float8, stage_done_p90 float8, completion float8, completion_p90 float8, "
                         "prob float8, p90 float8) ON COMMIT DELETE ROWS")
    conn.exec_driver_sql("TRUNCATE foresight_chunk")  # a savepoint's release (tests' sessions) keeps the rows
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy("COPY foresight_chunk FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(_binary_copy(scores))

    def ts(column: str) -> str:
        # whole seconds: a prediction that did not move stores the same value, and its row is not written
        return f"CASE WHEN c.{column} = 'NaN' THEN NULL ELSE to_timestamp(round(c.{column})) END"

    # one statement into the narrow table (two indexes), sales_order is not written at all
    basis = "CASE " + " ".join(f"WHEN c.basis = {i} THEN '{b}'" for i, b in enumerate(BASIS)) + " END"
    insert = ("INSERT INTO foresight_score (order_id, basis, model_id, stage_done_p90_at, completion_p90_at, reasons, "
              "scored_at, predicted_stage_done_at, predicted_completion_at, delay_probability, stage_p90_hours) "
              f"SELECT c.oid, {basis}, %(model)s, " + ts("stage_done_p90") + ", " + ts("completion_p90")
              + ", 'null'::jsonb, %(now)s, " + ts("stage_done") + ", " + ts("completion")
              + ", NULLIF(c.prob, 'NaN'), NULLIF(c.p90, 'NaN') FROM foresight_chunk c")
    params = {"model": model_id, "now": now}
    ids = scores.order_id
    if not conn.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM foresight_score WHERE order_id BETWEEN %(lo)s AND "
                                "%(hi)s)", {"lo": int(ids.min()), "hi": int(ids.max())}).scalar():
        # none of the chunk's orders has a row (the first scoring, new orders): a plain INSERT, no
        # conflict arbitration; a row the pipeline's re-scoring added meanwhile sends it to the upsert
        try:
            with session.begin_nested():
                conn.exec_driver_sql(insert, params)
            return
        except IntegrityError:
            pass
    conn.exec_driver_sql(
        insert + " ON CONFLICT (order_id) DO UPDATE SET basis = excluded.basis, model_id = excluded.model_id, "
        "stage_done_p90_at = excluded.stage_done_p90_at, completion_p90_at = excluded.completion_p90_at, "
        "reasons = excluded.reasons, scored_at = excluded.scored_at, "
        "predicted_stage_done_at = excluded.predicted_stage_done_at, "
        "predicted_completion_at = excluded.predicted_completion_at, "
        "delay_probability = excluded.delay_probability, stage_p90_hours = excluded.stage_p90_hours", params)


def _dt(seconds: float) -> datetime | None:
    """Whole seconds, as on PostgreSQL."""
    return None if math.isnan(seconds) else datetime.fromtimestamp(round(seconds), UTC)


def _num(value: float) -> float | None:
    return None if math.isnan(value) else value


def _write_rows(session: Session, scores: Scores, model_id: int | None, now: datetime) -> None:
    ids = scores.order_id.tolist()
    upsert(session, [
        {"order_id": oid, "basis": BASIS[b], "model_id": model_id, "stage_done_p90_at": _dt(sd90),
         "completion_p90_at": _dt(c90), "reasons": None, "scored_at": now, "predicted_stage_done_at": _dt(sd),
         "predicted_completion_at": _dt(c), "delay_probability": _num(p), "stage_p90_hours": _num(h)}
        for oid, b, sd90, c90, sd, c, p, h in zip(
            ids, scores.basis.tolist(), scores.stage_done_p90.tolist(), scores.completion_p90.tolist(),
            scores.stage_done.tolist(), scores.completion.tolist(), scores.probability.tolist(),
            scores.stage_p90_hours.tolist(), strict=True)])


def upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or replace whole foresight_score rows (one statement for the chunk)."""
    if not rows:
        return
    table = ForesightScore.__table__
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert_insert
    stmt = upsert_insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.order_id],
                                      set_={c.name: stmt.excluded[c.name] for c in table.c if c.name != "order_id"})
    session.connection().execute(stmt, rows)


def write_scores(session: Session, scores: Scores, model_id: int | None, now: datetime) -> None:
    """Store a chunk's numbers (flush only; the caller commits); reasons are left to be worked out
    when shown (JSON null)."""
    if not len(scores.order_id):
        return
    if session.connection().dialect.name == "postgresql":
        _write_postgresql(session, scores, model_id, now)
    else:
        _write_rows(session, scores, model_id, now)

