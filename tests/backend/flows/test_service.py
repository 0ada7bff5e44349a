"""Flow services on SQLite and PostgreSQL: publish, start, act, timers, order hooks."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.auth.actor import Actor
from backend.errors import GendanError
from backend.flows import service, service_instance
from backend.flows.models import FlowInstance, FlowTimer
from backend.flows.schemas import InstanceAction, SimulationIn, TaskAction
from backend.inbox.models import InboxItem
from backend.notify.models import Notification
from backend.orders.models import OrderEvent
from backend.pipeline_assembly import assemble
from tests.factories.orders import make_order
from tests.factories.people import make_department, make_user

DATA = Path(__file__).resolve().parents[2] / "engine" / "data" / "flows"


def actor_of(user, *roles) -> Actor:
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                 roles=frozenset(roles or ("sales",)), department_id=user.department_id)


@pytest.fixture
def org(session):
    director = make_user(session, roles=("approver",), display_name="Director")
    hq = make_department(session, name="HQ", head=director)
    manager = make_user(session, roles=("sales",), display_name="Sales manager")
    sales_dept = make_department(session, name="Sales", parent=hq, head=manager)
    manager.department_id = hq.id
    rep = make_user(session, roles=("sales",), department=sales_dept, display_name="Rep")
    second_approver = make_user(session, roles=("approver",), display_name="Approver 2")
    warehouse = make_user(session, roles=("warehouse",), display_name="Warehouse")
    designer = make_user(session, roles=("designer", "admin"), display_name="Designer")
    session.flush()
    return {"director": director, "manager": manager, "rep": rep, "approver2": second_approver,
            "warehouse": warehouse, "designer": designer}


def simple_flow():
    """start -> manager approval -> branch (amount >= 100000 -> approvers, any_of) -> ship -> end."""
    return {
        "key": "order",
        "nodes": [
            {"type": "start", "key": "start", "stage": "draft"},
            {"type": "approval", "key": "manager", "name": {"en": "Manager"}, "stage": "approval",
             "assignees": [{"kind": "manager_chain", "levels": 1}],
             "time_limit": {"hours": 2, "unit": "calendar_hours", "on_timeout": "remind"}},
            {"type": "exclusive", "key": "big"},
            {"type": "approval", "key": "director", "assignees": [{"kind": "role", "role": "approver"}]},
            {"type": "task", "key": "ship", "stage": "shipping", "assignees": [{"kind": "role", "role": "warehouse"}],
             "required_fields": ["data.tracking_no"]},
            {"type": "end", "key": "end", "stage": "completed"},
        ],
        "edges": [
            {"key": "e1", "source": "start", "target": "manager"},
            {"key": "e2", "source": "manager", "target": "big"},
            {"key": "e_big", "source": "big", "target": "director", "condition": {">=": [{"var": "amount"}, 100000]}},
            {"key": "e_small", "source": "big", "target": "ship", "is_default": True},
            {"key": "e4", "source": "director", "target": "ship"},
            {"key": "e5", "source": "ship", "target": "end"},
        ],
    }


def publish(session, org, definition=None, now=None):
    designer = actor_of(org["designer"], "designer", "admin")
    service.save_draft(session, actor=designer, key="order", definition=definition or simple_flow(), now=now)
    return service.publish_flow(session, actor=designer, key="order", now=now)


def open_items(session, user):
    return list(session.exec(select(InboxItem).where(InboxItem.assignee_id == user.id,
                                                     InboxItem.state == "open")).scalars().all())


def task_id(item: InboxItem) -> str:
    return item.payload["task_id"]


class TestPublish:
    def test_bad_graph_refused_with_nodes_named(self, session, org, now):
        designer = actor_of(org["designer"], "designer")
        bad = json.loads((DATA / "bad_graph.json").read_text())
        draft = service.save_draft(session, actor=designer, key="bad", definition=bad, now=now)
        assert {i.code for i in draft.issues} >= {"flow.no_end", "flow.unreachable_node", "flow.condition_invalid",
                                                  "flow.cycle_without_exit"}
        with pytest.raises(GendanError) as err:
            service.publish_flow(session, actor=designer, key="bad", now=now)
        assert err.value.code == "flow.definition_invalid" and err.value.status == 422
        named = {tuple(p["nodes"]) for _, p in err.value.fields.values()}
        assert ("orphan",) in named and ("loop_a", "loop_b") in named

    def test_publish_new_version_retires_old_and_running_orders_keep_theirs(self, session, org, now):
        first = publish(session, org, now=now)
        order = make_order(session, owner=org["rep"], amount=500)
        instance = service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=now)
        changed = simple_flow()
        changed["nodes"][1]["name"] = {"en": "Manager v2"}
        second = publish(session, org, definition=changed, now=now)
        assert (first.version, second.version) == (1, 2)
        versions = {v.version: v.status for v in service.list_versions(session, actor=None, key="order")}
        assert versions == {1: "retired", 2: "published"}
        assert instance.flow_version == 1
        read = service_instance.instance_read(session, instance)
        assert read.definition["nodes"][1]["name"] == {"en": "Manager"}

    def test_only_designers_publish(self, session, org, now):
        with pytest.raises(GendanError) as err:
            service.save_draft(session, actor=actor_of(org["rep"]), key="order", definition=simple_flow(), now=now)
        assert err.value.code == "auth.forbidden"

    def test_template_export_import_round_trip(self, session, org, now):
        designer = actor_of(org["designer"], "designer")
        draft = service.install_template(session, actor=designer, key="b2b", template="b2b_fulfilment", now=now)
        assert draft.issues == [] and draft.definition["key"] == "b2b"
        bpmn, media = service.export_flow(session, actor=designer, key="b2b", version=1, fmt="bpmn")
        assert media == "application/xml" and "bpmn:userTask" in bpmn
        again = service.import_flow(session, actor=designer, key="b2b_copy", content=bpmn, now=now)
        assert again.definition["nodes"] == draft.definition["nodes"]
        with pytest.raises(GendanError) as err:
            service.import_flow(session, actor=designer, key="x", content="<definitions", now=now)
        assert err.value.code == "flow.definition_invalid"

    def test_simulation_shows_path_and_people(self, session, org, now):
        designer = actor_of(org["designer"], "designer")
        result = service.simulate(session, actor=designer, now=now, payload=SimulationIn(
            definition=simple_flow(), facts={"amount": 150000}, initiator_id=org["rep"].id))
        assert result.status == "completed"
        assert result.path == ["e1", "e2", "e_big", "e4", "e5"]
        people = {s.node_key: [a["name"] for a in s.assignees] for s in result.steps}
        assert people["manager"] == ["Sales manager"]
        assert sorted(people["director"]) == ["Approver 2", "Director"]
        small = service.simulate(session, actor=designer, now=now, payload=SimulationIn(
            definition=simple_flow(), facts={"amount": 10}, initiator_id=org["rep"].id))
        assert "director" not in small.visited


class TestRunningFlow:
    def test_order_moves_through_the_flow(self, session, org, now):
        publish(session, org, now=now)
        order = make_order(session, owner=org["rep"], amount=150000)
        rep = actor_of(org["rep"])
        instance = service_instance.start_flow(session, order=order, actor=rep, now=now)
        session.commit()
        assert order.stage == "approval"
        [item] = open_items(session, org["manager"])
        assert item.kind == "approval" and item.order_id == order.id and item.flow_instance_id == instance.id
        read = service_instance.act_on_task(session, actor=actor_of(org["manager"]), instance_id=instance.id,
                                            task_id=task_id(item), body=TaskAction(action="approve"), now=now)
        assert read.active_nodes == ["director"]
        assert open_items(session, org["manager"]) == []
        director_item = open_items(session, org["director"])[0]
        other_item = open_items(session, org["approver2"])[0]
        service_instance.act_on_task(session, actor=actor_of(org["director"], "approver"), instance_id=instance.id,
                                     task_id=task_id(director_item), body=TaskAction(action="approve"), now=now)
        # the other approver acted on the same to-do a moment later: one outcome, a clear refusal
        with pytest.raises(GendanError) as err:
            service_instance.act_on_task(session, actor=actor_of(org["approver2"], "approver"),
                                         instance_id=instance.id, task_id=task_id(other_item),
                                         body=TaskAction(action="approve"), now=now)
        assert err.value.code == "flow.task_closed" and err.value.status == 409
        session.refresh(other_item)
        assert other_item.state == "superseded"
        ship = open_items(session, org["warehouse"])[0]
        with pytest.raises(GendanError) as err:
            service_instance.act_on_task(session, actor=actor_of(org["warehouse"], "warehouse"),
                                         instance_id=instance.id, task_id=task_id(ship),
                                         body=TaskAction(action="complete"), now=now)
        assert err.value.code == "flow.required_fields_missing"
        read = service_instance.act_on_task(session, actor=actor_of(org["warehouse"], "warehouse"),
                                            instance_id=instance.id, task_id=task_id(ship),
                                            body=TaskAction(action="complete", values={"data.tracking_no": "SF1"}),
                                            now=now)
        session.refresh(order)
        assert read.status == "completed" and order.status == "completed" and order.stage == "completed"
        assert order.data["tracking_no"] == "SF1"
        types = set(session.exec(select(OrderEvent.type).where(OrderEvent.order_id == order.id)).scalars().all())
        assert {"flow.approved", "flow.task_completed", "flow.node_entered", "stage_entered", "completed"} <= types
        assert [h.actor_name for h in read.history if h.action == "approved"] == ["Sales manager", "Director"]

    def test_wrong_person_gets_a_clear_error_and_nothing_changes(self, session, org, now):
        publish(session, org, now=now)
        order = make_order(session, owner=org["rep"], amount=10)
        instance = service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=now)
        session.commit()
        [item] = open_items(session, org["manager"])
        before = instance.version
        with pytest.raises(GendanError) as err:
            service_instance.act_on_task(session, actor=actor_of(org["director"], "approver"),
                                         instance_id=instance.id, task_id=task_id(item),
                                         body=TaskAction(action="approve"), now=now)
        assert err.value.code in ("flow.not_assignee", "order.not_found")
        session.refresh(instance)
        assert instance.version == before

    def test_withdraw_and_urge(self, session, org, now):
        publish(session, org, now=now)
        order = make_order(session, owner=org["rep"], amount=10)
        instance = service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=now)
        session.commit()
        service_instance.act_on_instance(session, actor=actor_of(org["rep"]), instance_id=instance.id,
                                         body=InstanceAction(action="urge", note="please"), now=now)
        notes = session.exec(select(Notification).where(Notification.user_id == org["manager"].id)).scalars().all()
        assert len(notes) == 1
        session.refresh(order)
        assert order.urge_count == 1
        read = service_instance.act_on_instance(session, actor=actor_of(org["rep"]), instance_id=instance.id,
                                                body=InstanceAction(action="withdraw"), now=now)
        assert read.status == "withdrawn" and open_items(session, org["manager"]) == []
        timers = session.exec(select(FlowTimer.state).where(FlowTimer.instance_id == instance.id)).scalars().all()
        assert timers == ["cancelled"]


class TestTimersAndHooks:
    def test_due_timer_reminds_once(self, session, connection, org, now):
        publish(session, org, now=now)
        order = make_order(session, owner=org["rep"], amount=10)
        instance = service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=now)
        session.commit()
        timer = session.exec(select(FlowTimer).where(FlowTimer.instance_id == instance.id)).scalars().one()
        assert timer.fire_at == now + timedelta(hours=2) and timer.state == "pending"
        assert service_instance.run_due_timers(connection, now + timedelta(hours=1)) == 0
        assert service_instance.run_due_timers(connection, now + timedelta(hours=2)) == 1
        assert service_instance.run_due_timers(connection, now + timedelta(hours=2)) == 0
        session.expire_all()
        reminders = session.exec(select(func.count()).select_from(Notification)
                                 .where(Notification.user_id == org["manager"].id)).scalar_one()
        assert reminders == 1
        states = sorted(session.exec(select(FlowTimer.state).where(FlowTimer.instance_id == instance.id)).scalars())
        assert states == ["done", "pending"]  # the next reminder is scheduled

    def test_timeouts_climb_from_the_manager_to_the_managers_manager(self, session, connection, org, now):
        """remind -> manager's manager -> (top of the chart) an admin, each after the clock restarts."""
        flow = simple_flow()
        flow["nodes"][1]["time_limit"] = {"hours": 2, "unit": "calendar_hours", "on_timeout": "climb", "levels": 2}
        publish(session, org, definition=flow, now=now)
        order = make_order(session, owner=org["rep"], amount=10)
        service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=now)
        session.commit()

        def holders():
            session.expire_all()
            return sorted(session.exec(select(InboxItem.assignee_id).where(
                InboxItem.order_id == order.id, InboxItem.state == "open")).scalars().all())

        assert service_instance.run_due_timers(connection, now + timedelta(hours=2)) == 1
        assert holders() == [org["manager"].id]
        reminders = session.exec(select(func.count()).select_from(Notification)
                                 .where(Notification.user_id == org["manager"].id)).scalar_one()
        assert reminders == 1
        assert service_instance.run_due_timers(connection, now + timedelta(hours=3)) == 0  # the clock restarted
        assert service_instance.run_due_timers(connection, now + timedelta(hours=4)) == 1
        assert holders() == [org["director"].id]
        assert service_instance.run_due_timers(connection, now + timedelta(hours=6)) == 1
        assert holders() == [org["designer"].id]  # the director has no manager: an admin takes it

    def test_new_order_starts_the_published_flow(self, session, org, now):
        from backend.orders import service as orders_service
        from backend.orders.schemas import OrderCreate
        from tests.factories.orders import make_customer

        publish(session, org, now=now)
        customer = make_customer(session)
        session.commit()
        read, created = orders_service.create_order(
            session, actor=actor_of(org["rep"]),
            payload=OrderCreate(customer_id=customer.id, amount=1000, stage="draft"), now=now)
        assert created
        instances = session.exec(select(FlowInstance).where(FlowInstance.order_id == read.id)).scalars().all()
        assert [i.status for i in instances] == ["running"]
        assert len(open_items(session, org["manager"])) == 1


class TestMigration:
    def test_preview_then_move_running_orders_to_the_new_version(self, session, org, now):
        from backend.flows import service_migrate

        publish(session, org, now=now)
        order = make_order(session, owner=org["rep"], amount=10)
        instance = service_instance.start_flow(session, order=order, actor=actor_of(org["rep"]), now=now)
        session.commit()
        changed = simple_flow()
        changed["nodes"][1]["key"] = "manager_v2"
        changed["nodes"][1]["assignees"] = [{"kind": "role", "role": "approver"}]
        for edge in changed["edges"]:
            edge["source"] = "manager_v2" if edge["source"] == "manager" else edge["source"]
            edge["target"] = "manager_v2" if edge["target"] == "manager" else edge["target"]
        publish(session, org, definition=changed, now=now)
        admin = actor_of(org["designer"], "admin", "designer")

        body = service_migrate.MigrationIn(to_version=2)
        preview = service_migrate.preview_migration(session, actor=admin, key="order", body=body)
        assert (preview.movable, preview.blocked) == (0, 1)
        assert preview.instances[0].moves[0].problem == "flow.migrate_target_unknown"

        body = service_migrate.MigrationIn(to_version=2, mapping={"manager": "manager_v2"})
        preview = service_migrate.preview_migration(session, actor=admin, key="order", body=body)
        assert (preview.movable, preview.blocked) == (1, 0)
        with pytest.raises(GendanError):
            service_migrate.migrate_instances(session, actor=actor_of(org["rep"]), key="order", body=body, now=now)
        result = service_migrate.migrate_instances(session, actor=admin, key="order", body=body, now=now)
        assert result["moved"] == [instance.id]
        session.refresh(instance)
        assert instance.flow_version == 2
        assert open_items(session, org["manager"]) == []
        assert len(open_items(session, org["director"])) == 1
        audit = session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                      OrderEvent.type == "flow.migrated")).scalars().one()
        assert audit.after["moves"] == {"manager": "manager_v2"} and audit.actor_id == org["designer"].id


class TestConcurrentApprovals:
    @pytest.fixture
    def race_engine(self, db_url):
        """A database of its own: this test commits for real from two threads."""
        import os

        import sqlalchemy as sa

        from backend.db import make_engine
        from backend.migrate import upgrade

        if not db_url.startswith("postgresql"):
            pytest.skip("SQLite serialises writers; row locks are a PostgreSQL matter")
        name = f"gendan_test_flow_race_{os.getpid()}"
        admin = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0]
                                 + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = db_url.rsplit("/", 1)[0] + "/" + name
        upgrade(url)
        eng = make_engine(url)
        yield assemble(eng)
        eng.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    def test_two_approvers_at_the_same_moment_get_one_outcome(self, race_engine, now):
        """Real concurrency on committed data: two threads, two sessions, one to-do pool (any_of)."""
        import threading

        from backend.db import new_session

        engine = race_engine
        with new_session(engine) as session:
            a = make_user(session, roles=("approver",), display_name="A")
            b = make_user(session, roles=("approver",), display_name="B")
            rep = make_user(session, roles=("sales",))
            designer = make_user(session, roles=("designer", "admin"))
            flow = {"key": "race", "nodes": [
                {"type": "start", "key": "start"},
                {"type": "approval", "key": "ok", "assignees": [{"kind": "users", "user_ids": [a.id, b.id]}]},
                {"type": "end", "key": "end"}],
                "edges": [{"key": "e1", "source": "start", "target": "ok"}, {"key": "e2", "source": "ok", "target": "end"}]}
            d = actor_of(designer, "designer", "admin")
            service.save_draft(session, actor=d, key="race", definition=flow, now=now)
            service.publish_flow(session, actor=d, key="race", now=now)
            order = make_order(session, owner=rep)
            instance = service_instance.start_flow(session, order=order, actor=None, now=now, key="race")
            session.commit()
            tasks = {t.assignee_id: t.id for t in service_instance.instance_read(session, instance).tasks}
            ids = (instance.id, a, b)
        outcomes: dict[str, str] = {}
        barrier = threading.Barrier(2)

        def act(user):
            with new_session(engine) as s:
                barrier.wait()
                try:
                    service_instance.act_on_task(s, actor=actor_of(user, "approver"), instance_id=ids[0],
                                                 task_id=tasks[user.id], body=TaskAction(action="approve"), now=now)
                    outcomes[user.display_name] = "ok"
                except GendanError as exc:
                    s.rollback()
                    outcomes[user.display_name] = exc.code

        threads = [threading.Thread(target=act, args=(u,)) for u in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes.values()) == ["flow.task_closed", "ok"], outcomes
        with new_session(engine) as s:
            final = s.get(FlowInstance, ids[0])
            assert final.status == "completed"
            approvals = [h for h in final.state["history"] if h["action"] == "approved"]
            assert len(approvals) == 1
