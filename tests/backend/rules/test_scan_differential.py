"""The worker's scan agrees with the in-process evaluator, on SQLite and PostgreSQL.

The compiler's own differential tests (tests/engine/rules) hold each compiled condition to the
evaluator. This holds the scan's assembly to it: conditions wrapped in one CASE per rule, summed
into words, compared with stored words across scans. Orders carry nulls, missing and wrongly typed
designed values; between scans some orders change, so the second scan's diff must be right too.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from backend.forms.models import FormDefinitionRow
from backend.orders.models import Order
from backend.rules import context, matching, tasks
from backend.rules.models import RuleDefinitionRow, RuleFiring, RuleOrderMask
from engine.facts import build_facts
from engine.jsonlogic import matches
from engine.rules.words import WORD_BITS, parse_words
from tests.backend.rules.test_service import publish_and_enable
from tests.factories.orders import make_order

FORM = {"key": "diff_form", "fields": [
    {"key": "weight", "type": "number"}, {"key": "incoterm", "type": "text"},
    {"key": "ship_by", "type": "date"}, {"key": "urgent", "type": "checkbox"},
]}
STAGES = ["draft", "approval", "production", "shipping", "payment"]
CONDITIONS = [
    {"==": [{"var": "stage"}, "approval"]},
    {"and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "hours_in_stage"}, 24]}]},
    {">": [{"var": "working_hours_in_stage"}, 16]},
    {"and": [{"!!": [{"var": "payment_due"}]}, {"<=": [{"var": "days_until_payment_due"}, 3]}]},
    {"<=": [{"var": "days_until_payment_due"}, 3]},  # a missing date counts as 0 (JavaScript)
    {">": [{"var": "days_overdue_planned_delivery"}, 0]},
    {">=": [{"var": "amount"}, 5000]},
    {"<": [{"var": "amount"}, 1000.5]},
    {"in": [{"var": "stage"}, ["production", "shipping"]]},
    {"==": [{"var": "data.incoterm"}, "FOB"]},
    {"!=": [{"var": "data.incoterm"}, "FOB"]},
    {">": [{"var": "data.weight"}, 10]},
    {"<=": [{"var": "data.weight"}, 10]},
    {"!": [{"var": "data.weight"}]},
    {"var": "data.urgent"},
    {"!": {"var": "data.urgent"}},
    {"<": [{"var": "data.ship_by"}, "2026-11-25"]},
    {"missing": ["data.ship_by"]},
    {"or": [{"==": [{"var": "currency"}, "USD"]}, {">": [{"var": "urge_count"}, 1]}]},
    {"in": ["vip", {"var": "tags"}]},
    {"and": [{"==": [{"var": "stage"}, "shipping"]}, {"<": [{"var": "days_since_created"}, 10]}]},
    {">": [{"var": "hours_since_last_customer_contact"}, 48]},
    {"if": [{"==": [{"var": "currency"}, "USD"]}, {">": [{"var": "amount"}, 100]}, {">": [{"var": "amount"}, 700]}]},
    {"!==": [{"var": "data.incoterm"}, None]},
]
WEIGHTS = [None, 0, 5, 10, 10.5, 99, "12", True, [], "abc"]
INCOTERMS = [None, "FOB", "CIF", "", "fob", 3]
SHIP_BY = [None, "2026-11-20", "2026-11-25", "2026-12-01", "not a date", 7]


def random_data(rng: random.Random) -> dict:
    data = {}
    for key, values in (("weight", WEIGHTS), ("incoterm", INCOTERMS), ("ship_by", SHIP_BY),
                        ("urgent", [None, True, False, "yes", 0])):
        if rng.random() < 0.8:  # otherwise the key is missing
            data[key] = rng.choice(values)
    return data


def make_orders(session, org, now, rng, count=48):
    out = []
    for _ in range(count):
        at = now - timedelta(hours=rng.choice([1, 20, 25, 30, 60, 200, 400]))
        out.append(make_order(
            session, owner=org["rep"], stage=rng.choice(STAGES), amount=Decimal(rng.choice(["0", "999.99", "1000.50",
                                                                                         "5000", "12000.01"])),
            at=at, currency=rng.choice(["CNY", "USD"]), urge_count=rng.choice([0, 1, 2]),
            status=rng.choice(["open", "open", "open", "completed"]), data=random_data(rng),
            tags=rng.choice([[], ["vip"]]),
            planned_delivery=rng.choice([None, date(2026, 11, 20), date(2026, 12, 20)]),
            payment_due=rng.choice([None, date(2026, 11, 23), date(2026, 11, 26), date(2026, 12, 30)]),
            last_customer_contact_at=rng.choice([None, now - timedelta(hours=5), now - timedelta(days=4)]),
        ))
    return out


def expected(session, now) -> dict[str, set[int]]:
    catalogue = context.catalogue_for(session)
    ctx = context.fact_context(now)
    out = {}
    orders = session.exec(select(Order)).scalars().all()
    for i, condition in enumerate(CONDITIONS):
        rule = context.parse(definition(i))
        out[f"d{i}"] = {o.id for o in orders if matching.in_scope(session, rule, o)
                        and matches(condition, build_facts(context.order_values(o), catalogue, ctx))}
    return out


def definition(i):
    return {"key": f"d{i}", "name": {"en": f"d{i}"}, "trigger": {"kind": "time"}, "condition": CONDITIONS[i],
            "actions": [{"type": "add_tag", "tag": f"d{i}"}], "firing": {"mode": "once_per_episode"}}


def stored_matches(session) -> dict[str, set[int]]:
    rows = session.exec(select(RuleDefinitionRow).where(RuleDefinitionRow.enabled.is_(True))).scalars().all()
    words = 1 + max(r.scan_slot for r in rows) // WORD_BITS
    masks = session.exec(select(RuleOrderMask)).scalars().all()
    out = {}
    for row in rows:
        word, bit = row.scan_slot // WORD_BITS, 1 << (row.scan_slot % WORD_BITS)
        out[row.key] = {m.order_id for m in masks if parse_words(m.words, words)[word] & bit}
    return out


def test_scan_selects_what_the_evaluator_matches(session, connection, org, now):
    rng = random.Random(20261126)
    session.add(FormDefinitionRow(key="diff_form", version=1, status="published", definition=FORM,
                                  created_at=now, updated_at=now))
    orders = make_orders(session, org, now, rng)
    for i in range(len(CONDITIONS)):
        publish_and_enable(session, org["admin"], definition(i), now, confirm=True)
    session.commit()
    want = expected(session, now)
    total = len(orders)
    assert sum(0 < len(ids) < total for ids in want.values()) >= len(CONDITIONS) - 2  # the data exercises them

    tasks.scan_time_rules(connection, now)
    fired = {}
    for key, order_id in session.exec(select(RuleFiring.rule_key, RuleFiring.order_id)).all():
        fired.setdefault(key, set()).add(order_id)
    for key in want:
        assert fired.get(key, set()) == want[key], key
    assert stored_matches(session) == want

    # some orders change, time moves on: the second scan's diff leaves the stored matches right
    for order in rng.sample(orders, 16):
        order.data = random_data(rng)
        order.stage = rng.choice(STAGES)
        order.status = rng.choice(["open", "completed"])
        order.amount = Decimal(rng.choice(["10", "6000"]))
    session.commit()
    later = now + timedelta(hours=30)
    tasks.scan_time_rules(connection, later)
    session.expire_all()
    assert stored_matches(session) == expected(session, later)
