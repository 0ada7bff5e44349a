"""predtable_0001: the predictions live in foresight_score, not on sales_order.

The upgrade keeps every stored prediction (and the downgrade brings them back); a rule on
`predicted_completion_at` fires from the new table; the order list sorts riskiest first through
it; a scoring job killed between chunks leaves whole chunks, never a half-written row. SQLite and
PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from backend.foresight import batch, scoring
from backend.foresight.models import PREDICTIONS, ForesightScore
from backend.migrate import alembic_config
from backend.orders.models import Order
from tests.conftest import make_test_database
from tests.factories.orders import make_customer, make_order, set_prediction
from tests.factories.people import make_user

AT = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def before_url(request, tmp_path):
    """A database of this test's own at the revision before predtable_0001."""
    url = make_test_database(request.param, tmp_path)
    command.downgrade(alembic_config(url), "score1m_0001")
    return url


def _seconds(value) -> int:
    """A stored timestamp as epoch seconds (SQLite hands back text, PostgreSQL an aware datetime)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value[:19])
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def test_the_upgrade_keeps_the_predictions_and_the_downgrade_brings_them_back(before_url):
    cfg = alembic_config(before_url)
    engine = sa.create_engine(before_url.replace("postgresql://", "postgresql+psycopg://", 1))
    naive = AT.replace(tzinfo=None) if engine.dialect.name == "sqlite" else AT
    done = AT + timedelta(days=3)
    done = done.replace(tzinfo=None) if engine.dialect.name == "sqlite" else done
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO app_user (id, username, display_name, password_hash, is_active, created_at) "
                             "VALUES (1, 'pt', 'PT User', 'x', true, :at)"), {"at": naive})
        conn.execute(sa.text("INSERT INTO customer (id, name, tier, preferred_locale, preferred_channel, "
                             "is_unsubscribed, created_at) VALUES (1, 'PT Co', 'key', 'zh_CN', 'email', false, :at)"),
                     {"at": naive})
        for oid, prob, p90 in ((1, 0.83, 40.5), (2, 0.12, None), (3, None, None)):
            conn.execute(sa.text(
                "INSERT INTO sales_order (id, number, customer_id, owner_id, amount, currency, stage, status, "
                "stage_entered_at, source, data, tags, risk_flags, urge_count, version, created_at, updated_at, "
                "priority_score, churn_signals, predicted_stage_done_at, predicted_completion_at, delay_probability, "
                "stage_p90_hours) VALUES (:id, :n, 1, 1, 10, 'CNY', 'production', 'open', :at, 'manual', '{}', '[]', "
                "'[]', 0, 1, :at, :at, 0, 0, :done, :done, :p, :h)"),
                {"id": oid, "n": f"PT-{oid}", "at": naive, "done": done if prob is not None else None, "p": prob,
                 "h": p90})
        # order 1 has its explanation row already (with reasons), order 2 none
        conn.execute(sa.text("INSERT INTO foresight_score (order_id, basis, reasons, scored_at) "
                             "VALUES (1, 'fallback', :r, :at)"), {"r": '[{"code": "fallback"}]', "at": naive})
    command.upgrade(cfg, "predtable_0001")
    with engine.connect() as conn:
        rows = {r.order_id: r for r in conn.execute(sa.text(
            "SELECT order_id, basis, reasons, delay_probability, stage_p90_hours, predicted_completion_at, "
            "predicted_stage_done_at FROM foresight_score ORDER BY order_id"))}
        columns = {c["name"] for c in sa.inspect(conn).get_columns("sales_order")}
    assert not columns & set(PREDICTIONS)
    assert set(rows) == {1, 2}  # the order without a prediction gets no row
    assert (rows[1].basis, rows[1].delay_probability, rows[1].stage_p90_hours) == ("fallback", 0.83, 40.5)
    assert "fallback" in str(rows[1].reasons)  # its explanation kept
    assert (rows[2].basis, rows[2].delay_probability, rows[2].stage_p90_hours) == ("model", 0.12, None)
    assert {_seconds(rows[i].predicted_completion_at) for i in (1, 2)} == {int((AT + timedelta(days=3)).timestamp())}
    command.downgrade(cfg, "score1m_0001")
    with engine.connect() as conn:
        back = conn.execute(sa.text("SELECT id, delay_probability, stage_p90_hours, predicted_completion_at "
                                    "FROM sales_order ORDER BY id")).all()
    engine.dispose()
    assert [(r.id, r.delay_probability, r.stage_p90_hours) for r in back] == [(1, 0.83, 40.5), (2, 0.12, None),
                                                                            (3, None, None)]
    assert _seconds(back[0].predicted_completion_at) == int((AT + timedelta(days=3)).timestamp())


def test_a_rule_on_the_predicted_completion_fires_from_the_prediction_table(session):
    from backend.rules.context import ORDER_FACTS, fact_context
    from engine.facts import default_catalogue
    from engine.rules.compiler import compile_condition

    rep = make_user(session, username="pt.rule")
    customer = make_customer(session, name="PT Rule Co")
    late = make_order(session, owner=rep, customer=customer, stage="production", planned_delivery=date(2026, 11, 10),
                      predicted_completion_at=datetime(2026, 11, 14, tzinfo=UTC), delay_probability=0.3)
    on_time = make_order(session, owner=rep, customer=customer, stage="production",
                         planned_delivery=date(2026, 11, 10), predicted_completion_at=datetime(2026, 11, 9, tzinfo=UTC))
    unscored = make_order(session, owner=rep, customer=customer, stage="production", planned_delivery=date(2026, 11, 10))
    now = datetime(2026, 11, 5, tzinfo=UTC)
    ctx = fact_context(now, session=session)
    catalogue = default_catalogue()
    mine = Order.customer_id == customer.id
    for condition, expected in (
            ({">": [{"var": "predicted_days_late"}, 0]}, {late.id}),
            ({"<": [{"var": "predicted_days_late"}, 0]}, {on_time.id}),
            ({"==": [{"var": "predicted_completion_at"}, None]}, {unscored.id}),
            ({"and": [{"!=": [{"var": "predicted_completion_at"}, None]}, {">=": [{"var": "delay_probability"}, 0.2]}]},
             {late.id})):
        where = compile_condition(condition, catalogue, ORDER_FACTS, ctx)
        assert set(session.exec(select(Order.id).where(mine, where)).scalars()) == expected, condition
    # the Python rendering (event path, firing) reads the same values off the loaded order
    session.expire_all()
    from backend.rules.context import order_values
    from engine.facts import build_facts
    from engine.jsonlogic import matches

    loaded = session.get(Order, late.id)
    facts = build_facts(order_values(loaded), catalogue, ctx)
    assert matches({">": [{"var": "predicted_days_late"}, 0]}, facts)
    assert order_values(session.get(Order, unscored.id))["predicted_completion_at"] is None


def test_the_classic_delay_rule_scan_selects_the_late_order(session):
    """The rule scan's SQL (scan.py compiles over ORDER_FACTS) and the dry run's count agree."""
    from backend.rules.context import ORDER_FACTS, fact_context
    from engine.facts import default_catalogue
    from engine.rules.classics import classic_rule
    from engine.rules.compiler import compile_condition

    rep = make_user(session, username="pt.classic")
    customer = make_customer(session, name="PT Classic Co")
    risky = make_order(session, owner=rep, customer=customer, stage="production", planned_delivery=date(2026, 11, 30),
                       predicted_completion_at=datetime(2026, 11, 20, tzinfo=UTC), delay_probability=0.75)
    make_order(session, owner=rep, customer=customer, stage="production", planned_delivery=date(2026, 11, 30),
               predicted_completion_at=datetime(2026, 11, 20, tzinfo=UTC), delay_probability=0.2)
    ctx = fact_context(datetime(2026, 11, 5, tzinfo=UTC), session=session)
    where = compile_condition(classic_rule("delay_risk")["condition"], default_catalogue(), ORDER_FACTS, ctx)
    assert set(session.exec(select(Order.id).where(Order.customer_id == customer.id, where)).scalars()) == {risky.id}


def test_the_order_list_sorts_riskiest_first_from_the_prediction_table_both_ways(session):
    from backend.auth.actor import Actor
    from backend.orders import service as orders_service
    from backend.orders.schemas import OrderFilter

    admin = make_user(session, username="pt.list", roles=("admin",))
    customer = make_customer(session, name="PT List Co")
    probabilities = [0.4, None, 0.95, "none-row", 0.4, 0.02, None]
    for p in probabilities:
        o = make_order(session, owner=admin, customer=customer, stage="production")
        if p == "none-row":  # scored but without a probability (no planned delivery): unscored for the sort
            set_prediction(session, o, predicted_stage_done_at=AT)
        elif p is not None:
            set_prediction(session, o, delay_probability=p)
    session.flush()
    actor = Actor(user_id=admin.id, username=admin.username, display_name="A", roles=frozenset({"admin"}))

    def walk(direction: str, limit: int) -> list:
        seen, cursor = [], None
        while True:
            page = orders_service.list_orders(session, actor=actor, filters=OrderFilter(
                customer_id=customer.id, sort="delay_probability", direction=direction, limit=limit, cursor=cursor))
            seen += [(o.delay_probability, o.id) for o in page.items]
            cursor = page.next_cursor
            if not cursor:
                return seen

    for limit in (1, 2, 3, 50):
        down = walk("desc", limit)
        assert [p for p, _ in down] == [0.95, 0.4, 0.4, 0.02, None, None, None], limit
        assert len({i for _, i in down}) == 7
        ties = [i for p, i in down if p == 0.4]
        assert ties == sorted(ties, reverse=True)
        up = walk("asc", limit)
        assert up == list(reversed(down)), limit


def test_a_scoring_job_killed_between_chunks_leaves_whole_chunks(session, connection):
    """Each chunk is its own transaction: a job killed while writing its second chunk leaves the
    first chunk scored (whole rows), the second not at all; the next sweep scores the rest and
    leaves the first chunk alone."""
    from backend.db import new_session
    from engine.foresight import train
    from engine.foresight.batch import score_columns
    from tests.factories import foresight_history

    now = datetime(2026, 12, 1, tzinfo=UTC)
    rep = make_user(session, username="pt.kill")
    customers = {name: make_customer(session, name=f"PTK{name}").id for name in foresight_history.CUSTOMERS}
    foresight_history.store(session, foresight_history.history(60), owner_id=rep.id, customer_ids=customers,
                            prefix="PTK")
    customer = make_customer(session, name="PT Kill Co")
    ids = [make_order(session, owner=rep, customer=customer, stage="production", stage_entered_at=now - timedelta(days=2),
                      planned_delivery=date(2026, 12, 5)).id for _ in range(5)]
    session.commit()
    model = train(foresight_history.history(60), now=now, config=scoring.FALLBACK_ONLY).model

    def chunk(after: int, killed: bool) -> None:
        with new_session(connection, writes=False) as reader:
            cols = batch.read_columns(reader, after_id=after, limit=2)
        with new_session(connection) as writer:
            batch.write_scores(writer, score_columns(model, cols, now), None, now)
            if killed:
                raise KeyboardInterrupt  # the process dies before the chunk commits
            writer.commit()

    chunk(ids[0] - 1, killed=False)
    with pytest.raises(KeyboardInterrupt):
        chunk(ids[1], killed=True)
    session.expire_all()
    rows = {r.order_id: r for r in session.exec(select(ForesightScore).where(
        ForesightScore.order_id.in_(ids))).scalars()}
    assert set(rows) == set(ids[:2])
    for row in rows.values():  # whole rows: every figure of the prediction is there
        assert row.scored_at == now and row.basis == "fallback"
        assert None not in (row.predicted_stage_done_at, row.predicted_completion_at, row.delay_probability,
                            row.stage_p90_hours)
    assert session.get(Order, ids[2]).delay_probability is None
    # the next sweep scores what is missing and leaves the fresh first chunk as it was
    scoring.forget_cache()
    scoring.score_all(connection, now + timedelta(minutes=5), stale_after=timedelta(hours=1))
    session.expire_all()
    rows = {r.order_id: r for r in session.exec(select(ForesightScore).where(
        ForesightScore.order_id.in_(ids))).scalars()}
    assert set(rows) == set(ids)
    assert [rows[i].scored_at for i in ids] == [now, now] + [now + timedelta(minutes=5)] * 3
    assert all(rows[i].delay_probability is not None for i in ids)
