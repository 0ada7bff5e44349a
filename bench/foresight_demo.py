"""Foresight on the demo company and scoring throughput (run by hand; figures go to docs/benchmarks.md).

    .venv/bin/python bench/foresight_demo.py [orders=3000] [score_orders=100000]

1. Loads the demo (backend/demo.py) into a fresh SQLite database of its own, trains (`train_now`, as
   `gendan foresight train` does), prints the hold-out figures, scores the open orders and counts how
   many the classic delay-risk rule selects through the rule scan's SQL.
2. Scores `score_orders` synthetic open orders with the trained engine model in memory (the worker's
   hot loop without the database) and prints orders per second.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from backend.db import make_engine, new_session  # noqa: E402
from backend.demo import SLOW_SUPPLIER, load_demo  # noqa: E402
from backend.foresight import service  # noqa: E402
from backend.foresight.models import ForesightModel, ForesightScore  # noqa: E402
from backend.migrate import upgrade  # noqa: E402
from backend.orders.models import Order, fact_columns  # noqa: E402
from backend.pipeline_assembly import assemble  # noqa: E402
from backend.rules.context import fact_context  # noqa: E402
from engine.facts import default_catalogue  # noqa: E402
from engine.foresight import OpenOrder  # noqa: E402
from engine.foresight.explain import render  # noqa: E402
from engine.rules.classics import classic_rule  # noqa: E402
from engine.rules.compiler import compile_condition  # noqa: E402


def main(orders: int = 3000, score_orders: int = 100_000) -> None:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/foresight_bench.db"
        upgrade(url)
        engine = assemble(make_engine(url))
        t = time.perf_counter()
        load_demo(engine, orders=orders, now=now)
        print(f"demo: {orders} orders loaded in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        run = service.train_now(engine, trigger="command", user_id=None, now=now)
        print(f"train + score: {time.perf_counter() - t:.1f} s, run {run.state} {run.error or ''}")
        with new_session(engine, writes=False) as session:
            row = session.get(ForesightModel, run.model_id)
            r = row.report
            print(f"closed orders {r['closed_orders']} (train {r.get('train_orders')}, hold-out {r.get('holdout_orders')})"
                  f", kind {row.kind}, notes {[n['code'] for n in r.get('notes', [])]}")
            for name in ("lightgbm", "fallback"):
                m = r.get(name) or {}
                print(f"  {name:9s} AUC {m.get('auc')} Brier {m.get('brier')} p@10% {m.get('precision_at_10')} "
                      f"base {m.get('base_rate')} n {m.get('snapshots')} durations {m.get('durations')}")
            scored = session.execute(select(func.count()).where(Order.status == "open",
                                                                Order.predicted_completion_at.is_not(None))).scalar()
            ctx = fact_context(now, session=session)
            where = compile_condition(classic_rule("delay_risk")["condition"], default_catalogue(),
                                      fact_columns(), ctx)
            flagged = session.execute(select(func.count()).where(Order.status == "open", where)).scalar()
            print(f"open orders with a predicted completion: {scored}; the classic delay-risk rule selects {flagged}")
            shown = (r.get("lightgbm") or {}).get("importances") or []
            print("feature importances (LightGBM gain share):", ", ".join(f"{n} {g:.3f}" for n, g in shown[:8]))
            example = session.execute(
                select(ForesightScore.reasons).join(Order, Order.id == ForesightScore.order_id)
                .where(Order.status == "open", Order.stage == "production", Order.data["supplier"].as_string() == SLOW_SUPPLIER)
                .limit(1)).scalar()
            for lang in ("en", "zh"):
                print(f"explained ({SLOW_SUPPLIER}, production, {lang}):",
                      " ".join(render(reason, lang) for reason in example or []))
            model = service.load_model(row)
        engine.dispose()
    stages = ["approval", "tech_confirm", "production", "shipping"]
    fake = [OpenOrder(i, stages[i % 4], now - timedelta(hours=i % 200), (now + timedelta(days=i % 30)).date(),
                      {"customer": f"c{i % 300}", "owner": f"o{i % 20}", "amount": 1000 + i % 90000})
            for i in range(score_orders)]
    t = time.perf_counter()
    for i in range(0, len(fake), 2000):
        model.predict_many(fake[i:i + 2000], now)
    took = time.perf_counter() - t
    print(f"engine scoring ({model.kind}): {score_orders} orders in {took:.1f} s = {score_orders / took:,.0f} orders/s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
