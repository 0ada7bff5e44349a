"""An order whose stage or planned delivery changes is re-scored at once by the order pipeline's
`foresight` stage (backend/foresight/on_change.py), on SQLite and PostgreSQL: no scoring job runs."""

from __future__ import annotations

from datetime import timedelta

from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.foresight import scoring, service
from backend.foresight.models import ForesightScore
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderUpdate
from engine.facts import scores
from tests.backend.foresight.test_foresight_backend import FAST, NOW, seed
from tests.factories.orders import make_order


def _actor(user):
    return Actor(user_id=user.id, username=user.username, display_name="R", roles=frozenset({"admin"}))


def _change(session, order, now, **values):
    session.refresh(order)
    orders_service.update_order(session, actor=session.info["actor"],
                                order_id=order.id, now=now, payload=OrderUpdate(version=order.version, **values))
    session.expire_all()
    return session.get(Order, order.id)


def test_a_stage_change_is_rescored_with_the_live_model_at_once(session, connection):
    rep, customers = seed(session, 260, "RS1")
    session.info["actor"] = _actor(rep)
    order = make_order(session, owner=rep, customer=session.get(Customer, customers["Slowco"]), stage="tech_confirm",
                       stage_entered_at=NOW - timedelta(hours=10), planned_delivery=(NOW + timedelta(days=4)).date())
    session.commit()
    scoring.forget_cache()
    run = service.train_now(connection, trigger="command", user_id=None, now=NOW, config=FAST)
    assert run.went_live and run.state == "done", run.error
    session.expire_all()
    before = session.get(Order, order.id)
    stage_done, prob = before.predicted_stage_done_at, before.delay_probability
    assert stage_done is not None and prob is not None
    later = NOW + timedelta(hours=2)
    after = _change(session, order, later, stage="production")
    # production at Slowco takes days: the stage's predicted end moves, the risk with it
    assert after.predicted_stage_done_at is not None and after.predicted_stage_done_at > stage_done
    assert after.delay_probability is not None and after.delay_probability != prob
    assert session.get(ForesightScore, order.id).scored_at is not None
    explained = session.get(ForesightScore, order.id)
    assert explained.model_id == run.model_id
    assert scores.priority_score({c.key: getattr(after, c.key) for c in Order.__table__.columns},
                                 session.get(Customer, after.customer_id).tier, later,
                                 after.delay_probability) == after.priority_score
    # a later planned delivery lowers the risk, again without the job
    risky = after.delay_probability
    relaxed = _change(session, after, later + timedelta(minutes=5),
                      planned_delivery=(NOW + timedelta(days=60)).date())
    assert relaxed.delay_probability < risky


def test_without_a_model_the_change_is_scored_with_stage_medians(session, connection):
    rep, customers = seed(session, 30, "RS2")
    session.info["actor"] = _actor(rep)
    order = make_order(session, owner=rep, customer=session.get(Customer, customers["Acme"]), stage="tech_confirm",
                       stage_entered_at=NOW - timedelta(hours=10), planned_delivery=(NOW + timedelta(days=4)).date())
    session.commit()
    scoring.forget_cache()
    assert order.predicted_stage_done_at is None
    after = _change(session, order, NOW, stage="production")
    assert after.predicted_stage_done_at is not None and after.predicted_completion_at is not None
    assert session.get(ForesightScore, order.id).basis == "fallback"
    # other fields leave the prediction alone
    scored_at = session.get(ForesightScore, order.id).scored_at
    untouched = _change(session, after, NOW + timedelta(hours=1), tags=["x"])
    assert untouched.predicted_stage_done_at == after.predicted_stage_done_at
    assert session.get(ForesightScore, order.id).scored_at == scored_at


def test_a_lost_race_with_the_scoring_job_never_refuses_the_change(session, connection, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    rep, customers = seed(session, 30, "RS3")
    session.info["actor"] = _actor(rep)
    order = make_order(session, owner=rep, customer=session.get(Customer, customers["Acme"]), stage="tech_confirm",
                       stage_entered_at=NOW - timedelta(hours=10), planned_delivery=(NOW + timedelta(days=4)).date())
    session.commit()
    scoring.forget_cache()

    def collide(*_args, **_kw):
        raise IntegrityError("INSERT INTO foresight_score", {}, Exception("duplicate key"))

    monkeypatch.setattr(scoring, "store", collide)
    after = _change(session, order, NOW, stage="production")
    assert after.stage == "production" and after.predicted_stage_done_at is None
    assert session.get(ForesightScore, order.id) is None
