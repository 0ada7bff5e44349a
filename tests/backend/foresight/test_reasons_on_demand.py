"""The scoring job stores numbers only; the reasons (drivers included) are worked out when the order
page or an alert shows them, and say what the job used to store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from backend import i18n
from backend.customers.models import Customer
from backend.foresight import history, reasons, scoring, service, words
from backend.foresight.models import ForesightScore
from backend.orders.models import Order
from backend.rules import bulk
from backend.rules.context import template_extras
from engine.foresight import TrainConfig
from frontend.pages.foresight import order_prediction
from tests.factories import foresight_history
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LATER = NOW + timedelta(hours=5)


def _seed(session, prefix):
    rep = make_user(session, roles=("sales",))
    customers = {name: make_customer(session, name=f"{prefix}{name}").id for name in foresight_history.CUSTOMERS}
    foresight_history.store(session, foresight_history.history(260), owner_id=rep.id, customer_ids=customers,
                            prefix=prefix)
    orders = [make_order(session, owner=rep, customer=session.get(Customer, customers[name]), stage=stage,
                         stage_entered_at=NOW - timedelta(days=days), planned_delivery=(NOW + timedelta(days=due)).date(),
                         data={"supplier": f"{prefix} parts"})
              for name, stage, days, due in (("Slowco", "production", 6, 1), ("Acme", "production", 0.8, 20),
                                             ("Beta", "shipping", 1, 2), ("Slowco", "tech_confirm", 3, 4))]
    session.commit()
    return [o.id for o in orders]


def test_reasons_are_worked_out_when_shown_and_match_what_was_stored_before(session, connection):
    ids = _seed(session, "RD1")
    scoring.forget_cache()
    run = service.train_now(connection, trigger="command", user_id=None, now=NOW, config=TrainConfig(rounds=40))
    assert run.state == "done" and run.went_live, run.error
    # the job (run again later, as the sweep does): numbers stored, reasons left for when they are shown
    assert scoring.score_all(connection, LATER) >= len(ids)
    session.expire_all()
    rows = {r.order_id: r for r in session.exec(select(ForesightScore).where(ForesightScore.order_id.in_(ids)))
            .scalars()}
    assert set(rows) == set(ids) and all(r.reasons is None and r.model_id == run.model_id for r in rows.values())
    stored = {i: (o.delay_probability, o.predicted_completion_at) for i in ids
              for o in [session.get(Order, i)]}
    on_demand = reasons.reasons_by_order(session, ids)
    alert_texts = words.reasons_by_order(session, ids)
    token = i18n.set_locale("en")
    try:
        card = order_prediction(session, session.get(Order, ids[0]))
    finally:
        i18n.reset_locale(token)

    # what the job wrote before this change: the same model's predict_many at the same moment, stored
    _model_id, model = scoring.current_model(session, LATER)
    before = model.predict_many(history.open_orders_by_id(session, ids), LATER)
    scoring.store(session, before, run.model_id, LATER)
    session.commit()
    session.expire_all()
    for p in before:
        assert on_demand[p.order_id] == session.get(ForesightScore, p.order_id).reasons == \
            [r.to_json() for r in p.reasons]
        probability, completion = stored[p.order_id]
        assert abs(probability - p.delay_probability) < 1e-4
        assert abs((completion - p.completion_at).total_seconds()) <= 0.5  # stored in whole seconds
    assert words.reasons_by_order(session, ids) == alert_texts
    codes = [r["code"] for r in on_demand[ids[0]]]
    assert "stage_long" in codes and "late_by" in codes and "driver" in codes  # TreeSHAP, worked out on demand
    assert "Slowco" in alert_texts[ids[0]]["en"] and alert_texts[ids[0]]["zh"]
    # the order page's card shows the same reasons (one line each)
    assert len(card["reasons"]) == len(on_demand[ids[0]])
    assert any(line.startswith("Production already") for line in card["reasons"])
    assert any(line.startswith("Orders with customer RD1Slowco") for line in card["reasons"])


def test_alerts_read_the_reasons_worked_out_on_demand(session, connection):
    ids = _seed(session, "RD2")
    scoring.forget_cache()
    service.train_now(connection, trigger="command", user_id=None, now=NOW, config=TrainConfig(rounds=40))
    session.expire_all()
    assert session.get(ForesightScore, ids[0]).reasons is None
    one = template_extras(session, session.get(Order, ids[0])).delay_reasons
    many = bulk.template_extras_many(session, [session.get(Order, i) for i in ids])
    assert one == many[ids[0]].delay_reasons and "Production already" in one["en"] and "生产" in one["zh"]
    assert all(many[i].delay_reasons["en"] for i in ids)
