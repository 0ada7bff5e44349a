"""backend/foresight on SQLite and PostgreSQL: a training run, the live model, stored scores that the
facts and the rule scan read, the fallback with too little history, a model that fails to load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from backend.customers.models import Customer
from backend.foresight import reasons as foresight_reasons
from backend.foresight import scoring, service, tasks
from backend.foresight.models import ForesightModel, ForesightRun, ForesightScore
from backend.orders.models import Order, fact_columns
from backend.rules.context import fact_context
from engine.facts import default_catalogue
from engine.foresight import TrainConfig
from engine.rules.classics import classic_rule
from engine.rules.compiler import compile_condition
from tests.factories import foresight_history
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

NOW = datetime(2026, 12, 1, tzinfo=UTC)
FAST = TrainConfig(rounds=40)


def seed(session, count, prefix, **kw):
    rep = make_user(session, roles=("sales",))
    customers = {name: make_customer(session, name=f"{prefix}{name}").id for name in foresight_history.CUSTOMERS}
    foresight_history.store(session, foresight_history.history(count, **kw), owner_id=rep.id,
                            customer_ids=customers, prefix=prefix)
    session.flush()
    return rep, customers


def open_orders(session, rep, customers):
    slow = make_order(session, owner=rep, customer=session.get(Customer, customers["Slowco"]),
                      stage="production", stage_entered_at=NOW - timedelta(days=6),
                      planned_delivery=(NOW + timedelta(days=1)).date())
    fast = make_order(session, owner=rep, customer=session.get(Customer, customers["Acme"]),
                      stage="production", stage_entered_at=NOW - timedelta(hours=20),
                      planned_delivery=(NOW + timedelta(days=20)).date())
    session.flush()
    return slow, fast


def test_training_makes_a_live_model_and_scores_open_orders(session, connection):
    rep, customers = seed(session, 260, "FB1")
    slow, fast = open_orders(session, rep, customers)
    session.commit()
    scoring.forget_cache()
    run = service.train_now(connection, trigger="command", user_id=None, now=NOW, config=FAST)
    assert run.state == "done" and run.progress == 100 and run.went_live, run.error
    model = session.get(ForesightModel, run.model_id)
    assert model.live and model.closed_orders == 260 and model.trained_from is not None
    chosen = model.report["chosen"]
    assert {"auc", "brier", "precision_at_10", "reliability"} <= set(chosen)
    session.expire_all()
    slow, fast = session.get(Order, slow.id), session.get(Order, fast.id)
    assert slow.delay_probability > fast.delay_probability
    assert slow.predicted_completion_at is not None and slow.predicted_stage_done_at is not None
    assert slow.stage_p90_hours > 0
    explained = session.get(ForesightScore, slow.id)
    shown = foresight_reasons.reasons_by_order(session, [slow.id])[slow.id]  # worked out when shown
    assert explained.basis in ("model", "fallback") and any(r["code"] == "stage_long" for r in shown)
    # the rule scan's SQL reads the stored scores: the classic delay-risk rule selects the slow order
    ctx = fact_context(NOW, session=session)
    where = compile_condition(classic_rule("delay_risk")["condition"], default_catalogue(), fact_columns(), ctx)
    flagged = set(session.exec(select(Order.id).where(where, Order.id.in_([slow.id, fast.id]))).scalars())
    assert slow.id in flagged and fast.id not in flagged


def test_too_little_history_scores_with_the_fallback_and_says_so(session, connection):
    rep, customers = seed(session, 30, "FB2")
    slow, fast = open_orders(session, rep, customers)
    session.commit()
    scoring.forget_cache()
    run = service.train_now(connection, trigger="button", user_id=rep.id, now=NOW, config=FAST)
    assert run.state == "done"
    model = session.get(ForesightModel, run.model_id)
    assert model.kind == "fallback" and model.report["notes"][0]["code"] == "fallback"
    explained = session.get(ForesightScore, slow.id)
    shown = foresight_reasons.reasons_by_order(session, [slow.id])[slow.id]
    assert explained.basis == "fallback" and shown[0]["code"] == "fallback"
    session.expire_all()
    assert session.get(Order, slow.id).predicted_completion_at is not None


def test_a_model_that_fails_to_load_scores_with_stage_medians(session, connection):
    rep, customers = seed(session, 30, "FB3")
    slow, _fast = open_orders(session, rep, customers)
    session.add(ForesightModel(kind="lightgbm", live=True, model="{not json", report={}, created_at=NOW))
    session.commit()
    scoring.forget_cache()
    assert scoring.score_all(connection, NOW) >= 2
    explained = session.get(ForesightScore, slow.id)
    assert explained.basis == "fallback" and explained.reasons[0]["code"] == "model_unreadable"
    session.expire_all()
    assert session.get(Order, slow.id).predicted_stage_done_at is not None


def test_the_schedule_queues_one_run_and_a_button_joins_it(session, connection):
    session.execute(update(ForesightRun).where(ForesightRun.state.in_(("queued", "running"))).values(state="done"))
    session.commit()
    first = service.request_training(session, trigger="button", user_id=None, now=NOW)
    again = service.request_training(session, trigger="command", user_id=None, now=NOW)
    assert first.id == again.id and first.state == "queued"
    assert tasks.train_due(connection, NOW) == 1
    session.expire_all()
    assert session.get(ForesightRun, first.id).state in ("done", "failed")
    # a run "running" for longer than the timeout died with its worker
    stuck = ForesightRun(trigger="button", state="running", started_at=NOW - timedelta(hours=2), created_at=NOW)
    session.add(stuck)
    session.commit()
    assert service.claim_next(connection, NOW) is None
    session.expire_all()
    assert session.get(ForesightRun, stuck.id).error["code"] == "foresight.run_timed_out"


def test_the_order_list_sorts_riskiest_first_across_pages(session):
    from backend.auth.actor import Actor
    from backend.orders import service as orders_service
    from backend.orders.schemas import OrderFilter

    admin = make_user(session, roles=("admin",))
    customer = make_customer(session, name="FB5Risk")
    probabilities = [0.2, None, 0.9, 0.55, 0.9, 0.01]
    ids = []
    for p in probabilities:
        o = make_order(session, owner=admin, customer=customer, stage="production", delay_probability=p)
        ids.append(o.id)
    session.flush()
    actor = Actor(user_id=admin.id, username=admin.username, display_name="A", roles=frozenset({"admin"}))
    seen, cursor = [], None
    while True:
        page = orders_service.list_orders(session, actor=actor, filters=OrderFilter(
            customer_id=customer.id, sort="delay_probability", direction="desc", limit=2, cursor=cursor))
        seen += [(o.id, o.delay_probability) for o in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert [p for _, p in seen] == [0.9, 0.9, 0.55, 0.2, 0.01, None]
    risky = orders_service.list_orders(session, actor=actor, filters=OrderFilter(customer_id=customer.id, delay_min=0.5))
    assert {o.id for o in risky.items} == {ids[2], ids[3], ids[4]}


def test_the_delay_risk_alert_says_why(session, connection):
    from backend.rules.context import template_extras
    from engine.facts import FactContext, build_facts
    from engine.rules.template_context import build_context
    from engine.rules.templates import render_template

    rep, customers = seed(session, 30, "FB6")
    slow, _fast = open_orders(session, rep, customers)
    session.commit()
    scoring.forget_cache()
    scoring.score_all(connection, NOW)
    session.expire_all()
    order = session.get(Order, slow.id)
    from backend.rules.context import order_values

    facts = build_facts(order_values(order), default_catalogue(), FactContext(now=NOW))
    body = classic_rule("delay_risk")["actions"][1]["body_template"]
    for lang, words in (("en", "Production already"), ("zh", "生产已")):
        context = build_context(facts, lang=lang, extras=template_extras(session, order), rule_key="delay_risk",
                                rule_name={"zh": "r", "en": "r"}, now=NOW)
        assert words in render_template(body[lang], context)


def test_the_sweep_scores_new_stale_and_other_model_orders_only(session, connection):
    # the worker's sweep follows new orders and the clock, not the whole book every round: an
    # order's own change re-scores it at once (backend/foresight/on_change.py)
    rep, customers = seed(session, 30, "SW1")
    slow, fast = open_orders(session, rep, customers)
    session.commit()
    scoring.forget_cache()
    assert tasks.score_open_orders(connection, NOW) >= 2
    assert tasks.score_open_orders(connection, NOW + timedelta(minutes=5)) == 0  # all fresh
    newcomer = make_order(session, owner=rep, customer=session.get(Customer, customers["Acme"]),
                          stage="production", stage_entered_at=NOW, planned_delivery=(NOW + timedelta(days=9)).date())
    session.commit()
    assert tasks.score_open_orders(connection, NOW + timedelta(minutes=10)) == 1
    assert session.get(ForesightScore, newcomer.id) is not None
    # scored by another model than the one now live (none here: the medians): scored again
    old_model = ForesightModel(kind="lightgbm", live=False, model="{}", report={}, created_at=NOW)
    session.add(old_model)
    session.flush()
    session.execute(update(ForesightScore).where(ForesightScore.order_id == slow.id).values(model_id=old_model.id))
    session.commit()
    assert tasks.score_open_orders(connection, NOW + timedelta(minutes=15)) == 1
    session.expire_all()
    assert session.get(ForesightScore, slow.id).model_id is None
    # past RESCORE_AFTER, the orders scored that long ago are due again; the newcomer is not yet
    later = NOW + timedelta(minutes=15) + tasks.RESCORE_AFTER + timedelta(minutes=1)
    assert tasks.score_open_orders(connection, later - timedelta(minutes=15)) == 1  # fast only
    assert tasks.score_open_orders(connection, later) >= 2
