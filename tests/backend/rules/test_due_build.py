"""Building a rule's due moments set-based and in the worker (backend/rules/due_build.py), on SQLite
and PostgreSQL: the SQL rendering writes exactly the moments the Python one does for every kind of
time term (nulls, from-now-on, local midnights); a rule over more orders than INLINE_ORDERS is
built by the worker job in chunks with its progress in the API, the reconciliation waits for it,
and disabling drops a pending build."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select

from backend.rules import definitions, due_build, due_index, tasks
from backend.rules.context import catalogue_for, fact_context
from backend.rules.matching import scope_clause
from backend.rules.models import RuleDefinitionRow, RuleDue, RuleDueBuild
from engine.rules.compiler import compile_condition
from engine.rules.definition import load_rule
from engine.rules.due import plan_due
from tests.backend.rules.test_service import approval_timeout, publish_and_enable
from tests.factories.orders import make_order

TERMS = [
    {">": [{"var": "hours_in_stage"}, 24]},
    {">=": [{"var": "hours_in_stage"}, 0.5]},
    {">": [{"var": "working_hours_in_stage"}, 8]},
    {"<=": [{"var": "days_until_payment_due"}, 3]},  # a missing due date counts as 0: due at once
    {"<": [{"var": "days_until_planned_delivery"}, -2]},
    {">=": [{"var": "days_since_created"}, 7]},
    {">": [{"var": "days_overdue_payment_due"}, 1]},
    {">": [{"var": "hours_since_last_customer_contact"}, 48]},
]


def _orders(session, org, now, count=40):
    rng = random.Random(15)
    for _ in range(count):
        at = now - timedelta(seconds=rng.randint(0, 20 * 86400), microseconds=rng.randint(0, 999_999))
        make_order(session, owner=org["rep"], stage=rng.choice(["approval", "production"]), at=at,
                   payment_due=None if rng.random() < 0.2 else (now + timedelta(days=rng.randint(-9, 9))).date(),
                   planned_delivery=None if rng.random() < 0.2 else (now + timedelta(days=rng.randint(-9, 9))).date(),
                   last_customer_contact_at=None if rng.random() < 0.3 else at + timedelta(hours=rng.randint(0, 90)))
    make_order(session, owner=org["rep"], stage="approval", at=now, payment_due=date(9999, 12, 30))  # the clamp


def _rows(session, rule_id):
    session.expire_all()
    return sorted(session.execute(select(RuleDue.order_id, RuleDue.due_at).where(RuleDue.rule_id == rule_id)).all())


class TestSetBased:
    @pytest.mark.parametrize("term", TERMS, ids=lambda t: next(iter(t.values()))[0]["var"] + next(iter(t)))
    @pytest.mark.parametrize("skip_matching", [False, True])
    def test_sql_writes_the_moments_python_would(self, session, org, now, term, skip_matching):
        _orders(session, org, now)
        publish_and_enable(session, org["admin"], approval_timeout(
            condition={"and": [{"==": [{"var": "stage"}, "approval"]}, term]}), now, confirm=True)
        row = session.execute(select(RuleDefinitionRow).where(RuleDefinitionRow.status == "published")).scalar_one()
        session.execute(delete(RuleDue))
        due_build.build_orders(session, row, now, skip_matching=skip_matching)
        built = _rows(session, row.id)
        session.execute(delete(RuleDue))
        rule = load_rule(row.definition)
        plan = plan_due(rule.condition)
        ctx = fact_context(now, session=session)
        where = [scope_clause(rule), compile_condition({"and": list(plan.rest)}, catalogue_for(session),
                                                      due_index.ORDER.c, ctx)]
        due_build._sources_in_python(session, row.id, plan.term, where, ctx, skip_matching)
        expected = _rows(session, row.id)
        assert built == expected
        assert len(expected) > (0 if skip_matching else 5)


class TestInTheWorker:
    def test_a_large_rule_is_built_by_the_worker_with_progress(self, session, connection, org, now, monkeypatch):
        monkeypatch.setattr(due_build, "INLINE_ORDERS", 5)
        monkeypatch.setattr(due_build, "CHUNK_IDS", 7)
        _orders(session, org, now)
        read = publish_and_enable(session, org["admin"], approval_timeout(
            condition={"and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "hours_in_stage"}, 24]}]}),
            now, confirm=True)
        session.commit()
        assert read.due_build_percent == 0 and _rows(session, read.id) == []
        assert definitions.get_rule(session, actor=org["admin"], key="approval_timeout").due_build_percent == 0
        assert due_build.pending(connection)
        # the reconciliation waits: it would report every order the build has not reached as missed
        assert tasks.check_time_rules(connection, now) == 0
        seen = []
        monkeypatch.setattr(due_build, "BUDGET_SECONDS", 0.0)  # one chunk per run, to watch the progress
        for _ in range(50):
            due_build.job(connection, now)
            session.expire_all()
            percent = definitions.get_rule(session, actor=org["admin"], key="approval_timeout").due_build_percent
            seen.append(percent)
            if percent is None:
                break
        assert seen[-1] is None and len(seen) > 2 and seen[:-1] == sorted(seen[:-1])
        assert session.execute(select(RuleDueBuild)).first() is None
        built = _rows(session, read.id)
        row = session.get(RuleDefinitionRow, read.id)
        session.execute(delete(RuleDue))
        due_index.build_rule(session, row, now)  # the same moments, built at once
        assert built == _rows(session, read.id) and built

    def test_disabling_drops_a_pending_build(self, session, connection, org, now, monkeypatch):
        monkeypatch.setattr(due_build, "INLINE_ORDERS", 5)
        _orders(session, org, now, count=10)
        read = publish_and_enable(session, org["admin"], approval_timeout(), now, confirm=True)
        assert read.due_build_percent == 0
        definitions.disable_rule(session, actor=org["admin"], key="approval_timeout", now=now)
        session.commit()
        assert not due_build.pending(connection) and due_build.job(connection, now) == 0
        assert _rows(session, read.id) == []
