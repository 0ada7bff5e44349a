"""The due-time index on SQLite and PostgreSQL (backend/rules/due_index.py): moments written when a
rule is enabled, recomputed when an order changes, fired when the injected clock reaches them (never
by sleeping), the reconciliation finding nothing in steady state and telling the admins when a path
was missed; the rule's kind in the API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select

from backend.audit.models import AuditEvent
from backend.notify.models import Notification
from backend.orders import service as orders_service
from backend.orders.models import Order
from backend.orders.schemas import OrderUpdate
from backend.rules import definitions, due_index, tasks
from backend.rules.models import RuleDue, RuleFiring
from backend.worker import runner
from tests.backend.rules.test_service import approval_timeout, publish_and_enable, waiting_order
from tests.backend.rules.test_service import todos as _todos


def due_rows(session, order=None):
    query = select(RuleDue.order_id, RuleDue.due_at)
    if order is not None:
        query = query.where(RuleDue.order_id == order.id)
    session.expire_all()
    return session.execute(query.order_by(RuleDue.order_id)).all()


def todos(session, order):
    """The rule's to-dos on the order (its copies to the manager are kind `cc`)."""
    session.expire_all()
    return [t for t in _todos(session, order) if t.kind == "rule_alert"]


def fired(session):
    return session.execute(select(func.count()).select_from(RuleFiring)).scalar_one()


def enable(session, org, now):
    publish_and_enable(session, org["admin"], approval_timeout(), now, confirm=True)
    session.commit()


def update(session, org, order, now, **fields):
    order = session.get(Order, order.id)
    orders_service.update_order(session, actor=org["admin"], order_id=order.id,
                                payload=OrderUpdate(version=order.version, **fields), now=now)
    session.commit()


class TestMoments:
    def test_enabling_writes_each_orders_moment_and_the_kind_says_indexed(self, session, org, now):
        waiting = waiting_order(session, org, now, 20)
        late = waiting_order(session, org, now, 30)
        elsewhere = waiting_order(session, org, now, 20, stage="production")
        read = publish_and_enable(session, org["admin"], approval_timeout(), now, confirm=True)
        session.commit()
        assert read.kind == "indexed"
        rows = dict(due_rows(session))
        assert elsewhere.id not in rows  # its stage term is false: never, until it changes
        assert rows[late.id] == now  # already true: due at once
        entered = session.get(Order, waiting.id).stage_entered_at
        assert rows[waiting.id] == entered.replace(microsecond=0) + timedelta(hours=24, seconds=1)

    def test_an_order_change_recomputes_only_that_orders_moments(self, session, org, now):
        a, b = waiting_order(session, org, now, 20), waiting_order(session, org, now, 10)
        enable(session, org, now)
        before_b = due_rows(session, b)
        update(session, org, a, now, stage="production")
        assert due_rows(session, a) == [] and due_rows(session, b) == before_b
        later = now + timedelta(hours=1)
        update(session, org, a, later, stage="approval")
        (row,) = due_rows(session, a)
        assert row.due_at == session.get(Order, a.id).stage_entered_at.replace(microsecond=0) + \
            timedelta(hours=24, seconds=1)

    def test_disabling_drops_the_moments_and_a_scanned_rule_has_none(self, session, org, now):
        waiting_order(session, org, now, 20)
        enable(session, org, now)
        definitions.disable_rule(session, actor=org["admin"], key="approval_timeout", now=now)
        session.commit()
        assert due_rows(session) == []
        scanned = approval_timeout(key="every_two", firing={"mode": "every_n_hours", "every_hours": 2})
        read = publish_and_enable(session, org["admin"], scanned, now, confirm=True)
        assert read.kind == "scanned" and due_rows(session) == []


class TestFiring:
    def test_fires_when_the_injected_clock_reaches_the_moment(self, session, connection, org, now):
        order = waiting_order(session, org, now, 20)
        enable(session, org, now)
        (row,) = due_rows(session, order)
        assert due_index.fire_due(connection, now) == 0
        assert due_index.fire_due(connection, row.due_at - timedelta(seconds=1)) == 0
        assert due_index.next_due(connection) == row.due_at
        assert due_index.fire_due(connection, row.due_at) == 1
        session.expire_all()
        assert len(todos(session, order)) == 1 and due_rows(session) == []
        assert due_index.fire_due(connection, row.due_at + timedelta(minutes=5)) == 0
        assert fired(session) == 1

    def test_the_worker_loop_fires_it_on_its_clock(self, session, connection, org, now, monkeypatch):
        """The worker's own loop (runner.run_due) with the clock it reads injected: the rules_due job
        runs each second of the worker's monotonic clock and fires once the clock passes the moment."""
        order = waiting_order(session, org, now, 23)
        enable(session, org, now)
        (row,) = due_rows(session, order)
        clock = {"now": now}
        monkeypatch.setattr(runner, "utcnow", lambda: clock["now"])
        jobs = [runner.Job("rules_due", due_index.fire_due, 1)]
        last: dict[str, float] = {}
        done = []
        for tick in range(8):
            clock["now"] = row.due_at + timedelta(seconds=tick - 3)
            done.append(runner.run_due(connection, jobs, last, monotonic=float(tick)).get("rules_due"))
        assert done == [0, 0, 0, 1, 0, 0, 0, 0]
        session.expire_all()
        (firing,) = session.exec(select(RuleFiring)).scalars().all()
        assert firing.trigger == "due" and firing.fired_at == row.due_at

    def test_lingering_fires_a_moment_about_to_fall_due_without_waiting_for_the_next_tick(
            self, session, connection, org, now):
        first, second = waiting_order(session, org, now, 20), waiting_order(session, org, now, 19)
        enable(session, org, now)
        at_first, at_second = due_rows(session, first)[0].due_at, due_rows(session, second)[0].due_at
        assert at_second > at_first
        # the worker's clock has reached the second moment by the time the first batch is done
        assert due_index.fire_due(connection, at_first, linger=5, clock=lambda: at_second) == 2
        assert len(todos(session, first)) == 1 and len(todos(session, second)) == 1
        # a moment further off than the linger is left for a later tick
        third = waiting_order(session, org, now, 1)
        session.commit()
        update(session, org, third, now, amount="10")
        assert due_index.fire_due(connection, at_second, linger=5, clock=lambda: at_second) == 0
        assert len(due_rows(session, third)) == 1

    def test_a_burst_of_orders_crossing_at_once_fires_each_once(self, session, connection, org, now, monkeypatch):
        monkeypatch.setattr(due_index, "BATCH", 7)
        orders = [waiting_order(session, org, now, 20) for _ in range(30)]
        enable(session, org, now)
        moment = max(r.due_at for r in due_rows(session))
        assert due_index.fire_due(connection, moment, limit=7) == 30
        assert all(len(todos(session, o)) == 1 for o in orders)

    def test_a_slow_batch_makes_the_next_smaller_and_every_order_still_fires_once(self, session, connection, org,
                                                                                 now):
        orders = [waiting_order(session, org, now, 20) for _ in range(50)]
        enable(session, org, now)
        moment = max(r.due_at for r in due_rows(session))
        ticks = iter(range(0, 10_000, 4))  # every batch "takes" 4 s of wall time (a loaded machine)
        pace = due_index.Pace(size=40, seconds=1.0, clock=lambda: next(ticks))
        assert due_index.fire_due(connection, moment, pace=pace) == 50
        assert pace.size == due_index.MIN_BATCH  # 40 in 4 s: 10 a second; never below the floor
        assert all(len(todos(session, o)) == 1 for o in orders) and due_rows(session) == []

    def test_the_pace_grows_back_when_batches_are_quick(self):
        pace = due_index.Pace(size=due_index.MIN_BATCH, seconds=1.0)
        pace.after(due_index.MIN_BATCH, 0.01)
        assert pace.size == 2 * due_index.MIN_BATCH  # at most doubling a step
        for _ in range(10):
            pace.after(pace.size, 0.01)
        assert pace.size == due_index.BATCH
        pace.after(5, 0.01)  # a handful, quickly: says nothing
        assert pace.size == due_index.BATCH
        pace.after(100, 2.0)  # 50 a second against 1 s
        assert pace.size == 50

    def test_a_new_episode_fires_again_after_the_condition_was_false(self, session, connection, org, now):
        order = waiting_order(session, org, now, 30)
        enable(session, org, now)
        assert due_index.fire_due(connection, now) == 1
        update(session, org, order, now + timedelta(minutes=1), stage="production")
        update(session, org, order, now + timedelta(minutes=2), stage="approval")
        (row,) = due_rows(session, order)
        assert due_index.fire_due(connection, row.due_at) == 1
        episodes = session.execute(select(RuleFiring.episode).order_by(RuleFiring.episode)).scalars().all()
        assert episodes == [1, 2]


class TestReconciliation:
    def test_steady_state_finds_nothing_and_a_missed_path_alerts_the_admins(self, session, connection, org, now):
        orders = [waiting_order(session, org, now, 20 + i) for i in range(4)]
        enable(session, org, now)
        # the worker fires what is due as the hours pass; the reconciliation after enabling and
        # the hourly ones find nothing new
        for hour in range(0, 7):
            moment = now + timedelta(hours=hour)
            due_index.fire_due(connection, moment)
            assert tasks.check_time_rules(connection, moment) == 0
        assert fired(session) == 4
        assert session.execute(select(func.count()).select_from(Notification).where(
            Notification.dedupe_key.like("rule_due_missed:%"))).scalar_one() == 0
        # a path that changes an order without the pipeline (a bulk SQL fix, say): the index never
        # heard; the next hourly reconciliation fires it and tells the admin
        sneaky = waiting_order(session, org, now, 1)
        session.commit()
        session.execute(delete(RuleDue).where(RuleDue.order_id == sneaky.id))
        session.get(Order, sneaky.id).stage_entered_at = now - timedelta(hours=40)
        session.commit()
        moment = now + timedelta(hours=8)
        assert due_index.fire_due(connection, moment) == 0
        assert tasks.check_time_rules(connection, moment) == 1
        session.expire_all()
        (note,) = session.exec(select(Notification).where(Notification.dedupe_key.like("rule_due_missed:%"))).scalars()
        assert note.user_id == org["admin"].user_id and "1" in note.title
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "reconcile_missed")).scalars().one()
        assert audit.after["orders"] == [sneaky.id]
        assert all(len(todos(session, o)) == 1 for o in [*orders, sneaky])
