"""Bulk firing (backend/rules/bulk.py), on SQLite and PostgreSQL: the set-based path stores what
the per-firing path stores, row for row (ids and insertion order aside); a chunk that fails after
its inserts rolls back and the rerun fires each firing once; a rule whose planning raises is paused
while the others fire."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from backend.forms.models import FormDefinitionRow
from backend.inbox.models import InboxItem
from backend.notify.models import Notification, OutboxMessage
from backend.orders.models import Order, OrderEvent
from backend.pipeline import Pipeline
from backend.rules import bulk, scan, tasks
from backend.rules.models import RuleDefinitionRow, RuleFiring, RuleOrderMask, RuleOrderState
from backend.tracking.models import TrackingLink
from tests.backend.rules.test_service import approval_timeout, publish_and_enable, waiting_order
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

FORM = {"key": "bulk_form", "fields": [{"key": "note", "type": "text"}, {"key": "weight", "type": "number"}]}
STAGES = ["approval", "production", "shipping"]


def rules() -> list[dict]:
    both = {"zh": "订单 {{ order.number }}（{{ customer.name }}）已等 {{ order.hours_in_stage | round | int }} 小时",
            "en": "Order {{ order.number }} ({{ customer.name }}) waited {{ order.hours_in_stage | round | int }} h"}
    return [
        {"key": "bulk_todo", "name": {"en": "todo"}, "trigger": {"kind": "time"},
         "condition": {"and": [{"==": [{"var": "stage"}, "approval"]}, {">": [{"var": "hours_in_stage"}, 24]}]},
         "actions": [{"type": "create_todo", "assignee": {"kind": "current_approver"},
                      "cc": [{"kind": "current_approver_manager"}], "priority": "high", "due_in_hours": 4,
                      "title_template": both, "body_template": {"en": "Stage {{ order.stage_label }}, {{ owner.name }}",
                                                                "zh": "阶段 {{ order.stage_label }}，{{ owner.name }}"}},
                     {"type": "escalate", "to": {"kind": "owner_manager"}, "title_template": "Late {{ order.number }}"}],
         "firing": {"mode": "once_per_episode"}},
        {"key": "bulk_notify", "name": {"en": "notify"}, "trigger": {"kind": "time"},
         "condition": {">": [{"var": "amount"}, 3000]},
         "actions": [{"type": "notify", "recipients": [{"kind": "owner"}, {"kind": "role", "role": "approver"}],
                      "channels": ["in_app", "email"], "title_template": both,
                      "body_template": {"zh": "备注 {{ order.data.note }} {{ order.planned_delivery }}",
                                        "en": "Note {{ order.data.note }} {{ order.planned_delivery }}"}}],
         "firing": {"mode": "every_n_hours", "every_hours": 4}},
        {"key": "bulk_customer", "name": {"en": "customer"}, "trigger": {"kind": "time"},
         "condition": {"in": [{"var": "stage"}, ["shipping", "production"]]},
         "actions": [{"type": "message_customer",
                      "subject_template": {"zh": "您的订单 {{ order.number }}", "en": "Your order {{ order.number }}"},
                      "body_template": {"zh": "跟踪：{{ order.tracking_link }}", "en": "Track: {{ order.tracking_link }}"}},
                     {"type": "call_webhook", "url": "https://hooks.example.com/gendan"}],
         "firing": {"mode": "once_per_episode"}},
        # changes the order: its orders take the per-firing path, the others' firings stay set-based
        {"key": "bulk_setfield", "name": {"en": "set"}, "trigger": {"kind": "time"},
         "condition": {"and": [{"==": [{"var": "stage"}, "shipping"]}, {">": [{"var": "data.weight"}, 50]}]},
         "actions": [{"type": "set_field", "field": "data.note", "value": "heavy"},
                     {"type": "create_todo", "assignee": {"kind": "owner"}, "title_template": "Heavy {{ order.number }}"}],
         "firing": {"mode": "once_per_episode"}},
    ]


def scenario(session, org, now, count=36) -> list[Order]:
    rng = random.Random(20261207)
    session.add(FormDefinitionRow(key="bulk_form", version=1, status="published", definition=FORM,
                                  created_at=now, updated_at=now))
    english = make_user(session, roles=("approver",), locale="en", display_name="Approver EN")
    reps = [org["rep"], make_user(session, locale="en", display_name="Rep EN")]
    customers = [make_customer(session, preferred_locale="en"), make_customer(session, preferred_channel="sms",
                                                                              phone="+8613800000000"),
                 make_customer(session, is_unsubscribed=True), make_customer(session, preferred_channel="none"),
                 make_customer(session)]
    orders = []
    for i in range(count):
        order = make_order(session, owner=reps[i % 2], customer=customers[i % len(customers)],
                           stage=rng.choice(STAGES), amount=Decimal(rng.choice(["100", "5000", "9000"])),
                           at=now - timedelta(hours=rng.choice([2, 30, 60])), form_key="bulk_form",
                           data={"note": rng.choice(["", "fragile"]), "weight": rng.choice([10, 80])})
        if order.stage == "approval" and i % 3:
            approver = org["approver"] if i % 2 else english
            session.add(InboxItem(dedupe_key=f"flow:approval:{order.id}", order_id=order.id, assignee_id=approver.id,
                                  kind="approval", title="Approve", created_at=now))
        if i % 4 == 0:
            session.add(TrackingLink(order_id=order.id, token=f"tok{order.id}x{i}", created_at=now))
        orders.append(order)
    for definition in rules():
        publish_and_enable(session, org["admin"], definition, now, confirm=True)
    session.commit()
    return orders


def _rows(session, model, columns) -> list[str]:
    rows = session.execute(select(*[getattr(model, c) for c in columns])).all()
    return sorted(json.dumps(dict(zip(columns, r, strict=True)), sort_keys=True, default=str) for r in rows)


def snapshot(session) -> dict[str, list[str]]:
    session.expire_all()
    return {
        "firings": _rows(session, RuleFiring, ["rule_key", "rule_version", "order_id", "episode", "trigger",
                                               "effects", "problems"]),
        "states": _rows(session, RuleOrderState, ["rule_key", "order_id", "episode", "active", "last_fired_at",
                                                  "fired_count"]),
        "todos": _rows(session, InboxItem, ["dedupe_key", "order_id", "assignee_id", "kind", "title", "title_i18n",
                                            "body", "priority", "state", "due_at", "source", "payload"]),
        "notifications": _rows(session, Notification, ["dedupe_key", "user_id", "order_id", "title", "title_i18n",
                                                       "body", "channels"]),
        "outbox": _rows(session, OutboxMessage, ["dedupe_key", "channel", "recipient", "subject", "body", "payload",
                                                 "order_id", "state", "next_attempt_at"]),
        "events": _rows(session, OrderEvent, ["order_id", "type", "actor_id", "actor_label", "after", "note"]),
        "orders": _rows(session, Order, ["id", "data", "tags", "risk_flags", "version"]),
        "masks": _rows(session, RuleOrderMask, ["order_id", "words"]),
    }


def run_scans(connection, now) -> list[int]:
    """Firings of each scan; the last one re-fires every_n_hours."""
    return [tasks.scan_time_rules(connection, at) for at in (now, now + timedelta(hours=1), now + timedelta(hours=5))]


class TestSameAsPerFiring:
    def test_bulk_and_per_firing_paths_store_the_same_rows(self, session, connection, org, now, monkeypatch):
        scenario(session, org, now)
        results, fired = {}, {}
        for label, is_bulk in (("per_firing", False), ("bulk", True)):
            monkeypatch.setattr(tasks, "BULK_FIRING", is_bulk)
            monkeypatch.setattr(tasks, "CHUNK", 7)  # several chunks, every_n_hours paged too
            connection.exec_driver_sql("SAVEPOINT bulk_differential")  # both paths start from the same rows
            fired[label] = run_scans(connection, now)
            results[label] = snapshot(session)
            session.rollback()
            connection.exec_driver_sql("ROLLBACK TO SAVEPOINT bulk_differential")
        old, new = results["per_firing"], results["bulk"]
        assert fired["bulk"] == fired["per_firing"] and fired["bulk"][0] > 20 and fired["bulk"][2] > 0, fired
        # the scenario exercises every kind of row
        counts = {name: len(rows) for name, rows in old.items()}
        assert all(counts[name] > 0 for name in ("firings", "todos", "notifications", "outbox", "events")), counts
        assert {json.loads(r)["rule_key"] for r in old["firings"]} == {r["key"] for r in rules()}
        assert any(json.loads(r)["channel"] == "sms" for r in old["outbox"])
        assert any(json.loads(r)["episode"] == 2 for r in old["firings"])  # re-fired after 4 hours
        for name in old:
            assert new[name] == old[name], name


def _fired_per_order(session) -> dict[int, int]:
    return dict(session.execute(select(RuleFiring.order_id, func.count()).group_by(RuleFiring.order_id)).all())


class TestExactlyOnce:
    def test_a_chunk_failing_after_its_inserts_rolls_back_and_the_rerun_fires_each_once(
            self, session, connection, org, now, monkeypatch):
        orders = [waiting_order(session, org, now, 30) for _ in range(25)]
        publish_and_enable(session, org["admin"], approval_timeout(), now, confirm=True)
        session.commit()
        real, calls = scan.fire_many, []

        def failing_after_second_chunk(*args, **kwargs):
            fired = real(*args, **kwargs)  # the chunk's rows are written (not committed) ...
            calls.append(fired)
            if len(calls) == 2:
                raise RuntimeError("killed mid-chunk")  # ... and rolled back
            return fired

        monkeypatch.setattr(tasks, "CHUNK", 10)
        monkeypatch.setattr(scan, "fire_many", failing_after_second_chunk)
        with pytest.raises(RuntimeError):
            tasks.scan_time_rules(connection, now, lock=False)
        assert calls == [10, 10]
        session.expire_all()
        assert sum(_fired_per_order(session).values()) == 10  # the first chunk only
        monkeypatch.setattr(scan, "fire_many", real)
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1), lock=False) == 15
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=2), lock=False) == 0
        session.expire_all()
        assert _fired_per_order(session) == {o.id: 1 for o in orders}
        todos = session.execute(select(InboxItem.order_id, func.count()).where(InboxItem.source == "rule",
                                                                              InboxItem.kind == "rule_alert")
                                .group_by(InboxItem.order_id)).all()
        assert dict(todos) == {o.id: 1 for o in orders}

    def test_order_changing_firings_interrupted_mid_pipeline_commit_all_or_nothing_and_refire_none_twice(
            self, session, connection, org, now, monkeypatch):
        """A chunk of firings that flag their orders, killed half-way through its pipeline pass (its
        events, priorities and flows stage written, the rules, due-index and live stages not yet):
        nothing of that chunk stays, the next scan fires exactly its orders, each order changes once."""
        orders = [waiting_order(session, org, now, 30) for _ in range(25)]
        flagging = approval_timeout()
        flagging["actions"] = [*flagging["actions"], {"type": "add_risk_flag", "flag": "approval_late"}]
        publish_and_enable(session, org["admin"], flagging, now, confirm=True)
        session.commit()
        versions = {o.id: o.version for o in orders}
        real, calls = Pipeline.publish_many, []

        def dying_half_way(self, session, changes):
            calls.append(len(changes))
            if len(calls) < 2:
                return real(self, session, changes)
            half = [s.name for s in self.stages].index("flows") + 1
            real(replace(self, stages=self.stages[:half]), session, changes)
            session.flush()
            raise RuntimeError("killed mid-chunk")

        monkeypatch.setattr(tasks, "BULK_FIRING", True)
        monkeypatch.setattr(tasks, "CHUNK", 10)
        monkeypatch.setattr(Pipeline, "publish_many", dying_half_way)
        with pytest.raises(RuntimeError):
            tasks.scan_time_rules(connection, now, lock=False)
        assert calls == [10, 10]  # one batched pipeline pass per chunk
        session.expire_all()
        assert sum(_fired_per_order(session).values()) == 10  # the first chunk only
        flagged = {o.id for o in session.exec(select(Order).where(Order.id.in_(versions))).scalars()
                   if o.risk_flags == ["approval_late"]}
        assert len(flagged) == 10 and flagged == set(_fired_per_order(session))
        events = dict(session.execute(select(OrderEvent.order_id, func.count()).where(
            OrderEvent.type == "risk_flagged").group_by(OrderEvent.order_id)).all())
        assert events == dict.fromkeys(flagged, 1)  # the killed chunk's events went with it
        monkeypatch.setattr(Pipeline, "publish_many", real)
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=1), lock=False) == 15
        assert tasks.scan_time_rules(connection, now + timedelta(minutes=2), lock=False) == 0
        session.expire_all()
        assert _fired_per_order(session) == {o.id: 1 for o in orders}
        for order in session.exec(select(Order).where(Order.id.in_(versions))).scalars():
            assert order.risk_flags == ["approval_late"] and order.version == versions[order.id] + 1
        events = dict(session.execute(select(OrderEvent.order_id, func.count()).where(
            OrderEvent.type == "risk_flagged").group_by(OrderEvent.order_id)).all())
        assert events == {o.id: 1 for o in orders}
        todos = session.execute(select(InboxItem.order_id, func.count()).where(InboxItem.source == "rule",
                                                                              InboxItem.kind == "rule_alert")
                                .group_by(InboxItem.order_id)).all()
        assert dict(todos) == {o.id: 1 for o in orders}

    def test_firings_recorded_elsewhere_are_skipped_with_their_effects(self, session, connection, org, now):
        """What a second worker sees: the key is taken, nothing of that firing is written again."""
        orders = [waiting_order(session, org, now, 30) for _ in range(4)]
        publish_and_enable(session, org["admin"], approval_timeout(), now, confirm=True)
        session.add(RuleFiring(rule_key="approval_timeout", rule_version=1, order_id=orders[0].id, episode=1,
                               trigger="scan", fired_at=now, effects=[], problems=[]))
        session.commit()
        assert tasks.scan_time_rules(connection, now, lock=False) == 3
        session.expire_all()
        assert session.execute(select(InboxItem.order_id).where(InboxItem.source == "rule",
                                                                InboxItem.kind == "rule_alert")).scalars().all() \
            != [] and orders[0].id not in session.execute(
                select(InboxItem.order_id).where(InboxItem.source == "rule")).scalars().all()
        assert session.execute(select(RuleOrderState).where(RuleOrderState.order_id == orders[0].id)).first() is None


class TestIsolation:
    def test_a_rule_whose_planning_raises_is_paused_and_the_others_fire(self, session, connection, org, now,
                                                                        monkeypatch):
        orders = [waiting_order(session, org, now, 30) for _ in range(3)]
        publish_and_enable(session, org["admin"], approval_timeout(), now, confirm=True)
        publish_and_enable(session, org["admin"], approval_timeout(key="broken_plan"), now, confirm=True)
        session.commit()
        real = bulk.plan_actions

        def plan(rule, **kwargs):
            if rule.key == "broken_plan":
                raise ValueError("a template the engine cannot render")
            return real(rule, **kwargs)

        monkeypatch.setattr(bulk, "plan_actions", plan)
        assert tasks.scan_time_rules(connection, now) == 3
        session.expire_all()
        fired = session.execute(select(RuleFiring.rule_key, RuleFiring.order_id)).all()
        assert sorted(fired) == sorted(("approval_timeout", o.id) for o in orders)
        paused = session.execute(select(RuleDefinitionRow.enabled).where(RuleDefinitionRow.key == "broken_plan",
                                                                         RuleDefinitionRow.status == "published"))
        assert paused.scalar_one() is False


@pytest.mark.slow
def test_two_unlocked_scanners_with_small_chunks_fire_each_once_on_postgresql(tmp_path, monkeypatch):
    """Both ignore the scan lease and race through the same chunks of 25: each firing, to-do and
    state is written by one of them only (a loser's chunk may fail on a match-word row and rerun)."""
    import threading

    import sqlalchemy as sa

    from backend.db import make_engine
    from backend.pipeline_assembly import assemble
    from tests.backend.rules import test_worker as worker
    from tests.factories import workers as wf

    url = worker._fresh_database("postgresql", tmp_path)
    engine = assemble(make_engine(url))
    monkeypatch.setattr(tasks, "CHUNK", 25)
    try:
        worker._seed(engine)
        barrier, errors, fired = threading.Barrier(2), [], []

        def scanner():
            barrier.wait()
            try:
                for _ in range(3):
                    try:
                        fired.append(tasks.scan_time_rules(engine, worker.NOW, lock=False))
                        return
                    except sa.exc.DBAPIError:  # lost a race on a match-word row: the chunk rolled back
                        continue
            except Exception as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=scanner) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        left = tasks.scan_time_rules(engine, worker.NOW + timedelta(minutes=1), lock=False)  # what a loser left
        assert sum(fired) + left == worker.ORDERS, (fired, left)  # each firing counted by the one who wrote it
        worker._assert_exactly_once(engine)
        with engine.connect() as conn:
            states = conn.execute(select(func.count()).select_from(RuleOrderState)).scalar_one()
            cc = conn.execute(select(InboxItem.order_id, func.count()).where(InboxItem.kind == "cc")
                              .group_by(InboxItem.order_id)).all()
        assert states == worker.ORDERS
        assert len(cc) == worker.ORDERS and {n for _, n in cc} == {1}
    finally:
        engine.dispose()
        wf.drop_database(url)
