"""Foresight's pages without a browser: the order page's prediction card (the sales rep's own order),
the admin model page with both models' figures, the Retrain button and its progress partial."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from backend.foresight import scoring, service
from backend.foresight.models import ForesightRun
from engine.foresight import TrainConfig
from tests.conftest import bearer, login
from tests.factories import foresight_history
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _seed(session, prefix, count=230):
    rep = make_user(session, username=f"{prefix.lower()}.rep", roles=["sales"], locale="en")
    make_user(session, username=f"{prefix.lower()}.admin", roles=["admin"], locale="en")
    customers = {n: make_customer(session, name=f"{prefix}{n}").id for n in foresight_history.CUSTOMERS}
    foresight_history.store(session, foresight_history.history(count), owner_id=rep.id, customer_ids=customers,
                            prefix=prefix)
    from backend.customers.models import Customer

    order = make_order(session, owner=rep, customer=session.get(Customer, customers["Slowco"]), stage="production",
                       stage_entered_at=NOW - timedelta(days=6), planned_delivery=(NOW + timedelta(days=1)).date())
    session.commit()
    return rep, order


def test_the_sales_rep_sees_the_risk_and_its_explanation(client, session, connection):
    rep, order = _seed(session, "FP1")
    scoring.forget_cache()
    service.train_now(connection, trigger="command", user_id=None, now=NOW, config=TrainConfig(rounds=30))
    login(client, rep.username)
    html = client.get(f"/orders/{order.id}").text
    assert 'id="foresight-panel"' in html and 'id="foresight-risk"' in html
    assert "Predicted completion" in html and "Production already 6.0 days" in html
    client.post("/lang", data={"lang": "zh_CN", "next": "/orders", "csrf_token": client.headers["X-CSRF-Token"]})
    html = client.get(f"/orders/{order.id}").text
    assert "延误风险" in html and "生产已 6.0 天" in html


def test_the_admin_model_page_shows_figures_and_retrain_queues_a_run(client, session, connection):
    _rep, _order = _seed(session, "FP2")
    scoring.forget_cache()
    service.train_now(connection, trigger="command", user_id=None, now=NOW, config=TrainConfig(rounds=30))
    service.train_now(connection, trigger="command", user_id=None, now=NOW, config=TrainConfig(rounds=30))
    login(client, "fp2.admin")
    html = client.get("/admin/foresight").text
    assert 'id="foresight-newest"' in html and 'id="foresight-previous"' in html
    assert "AUC" in html and "Brier" in html and "Precision at the riskiest 10%" in html
    assert "echarts.min.js" in html and 'data-chart="reliability"' in html and '"importances"' in html
    resp = client.post("/admin/foresight/retrain", data={"csrf_token": client.headers["X-CSRF-Token"]},
                       headers={"HX-Request": "true"})
    assert resp.status_code == 200 and 'id="foresight-progress-bar"' in resp.text and "every 1s" in resp.text
    run = session.exec(select(ForesightRun).where(ForesightRun.state == "queued")).first()
    assert run is not None and run.trigger == "button"
    assert client.get(f"/admin/foresight/runs/{run.id}").status_code == 200
    assert client.get("/admin/foresight/runs/999999").status_code == 404


def test_a_sales_rep_cannot_open_the_model_page(client, session):
    make_user(session, username="fp3.rep", roles=["sales"], locale="en")
    session.commit()
    login(client, "fp3.rep")
    assert client.get("/admin/foresight").status_code == 403


def test_the_order_list_shows_the_riskiest_first(client, session):
    rep = make_user(session, username="fp4.rep", roles=["sales"], locale="en")
    customer = make_customer(session, name="FP4 Co")
    for number, p in (("FP4-LOW", 0.05), ("FP4-HIGH", 0.93), ("FP4-NONE", None), ("FP4-MID", 0.4)):
        make_order(session, owner=rep, customer=customer, number=number, stage="production", delay_probability=p)
    session.commit()
    login(client, "fp4.rep")
    html = client.get(f"/orders?customer_id={customer.id}&sort=delay_probability&direction=desc").text
    positions = [html.index(n) for n in ("FP4-HIGH", "FP4-MID", "FP4-LOW", "FP4-NONE")]
    assert positions == sorted(positions) and "93%" in html and "Riskiest first" in html
    only = client.get(f"/orders?customer_id={customer.id}&delay_min=0.6").text
    assert "FP4-HIGH" in only and "FP4-MID" not in only


def test_the_order_page_the_list_and_the_api_still_show_a_stored_risk(client, session):
    """The prediction is deferred on Order (loaded only where read): the pages that read it still do."""
    rep = make_user(session, username="fp5.rep", roles=["sales"], locale="en")
    customer = make_customer(session, name="FP5 Co")
    order = make_order(session, owner=rep, customer=customer, number="FP5-RISK", stage="production",
                       delay_probability=0.87, predicted_completion_at=NOW + timedelta(days=9))
    session.commit()
    login(client, "fp5.rep")
    html = client.get(f"/orders/{order.id}").text
    assert 'id="foresight-risk"' in html and "87%" in html
    listed = client.get(f"/orders?customer_id={customer.id}").text
    assert "FP5-RISK" in listed and "87%" in listed
    auth = bearer(client, "fp5.rep")
    body = client.get(f"/api/v1/orders/{order.id}", headers=auth).json()
    assert body["delay_probability"] == 0.87 and body["predicted_completion_at"].startswith("2026-12-10")
    items = client.get(f"/api/v1/orders?customer_id={customer.id}", headers=auth).json()["items"]
    assert [i["delay_probability"] for i in items] == [0.87]
