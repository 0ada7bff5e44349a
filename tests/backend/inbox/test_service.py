"""Inbox use cases against both databases: tabs, completing tasks, and the refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.auth.service import load_actor
from backend.effects import apply_effects
from backend.errors import GendanError
from backend.inbox import service as inbox_service
from backend.inbox import service_action as inbox_actions
from backend.inbox import service_comment as inbox_comments
from backend.inbox.models import InboxItem
from backend.inbox.schemas import InboxFilter
from backend.notify.models import Notification
from backend.orders.models import Order, OrderEvent
from engine import effects as fx
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_user

FIELDS = [{"key": "tracking_no", "label": "Tracking number", "required": True},
          {"key": "boxes", "label": "Boxes", "type": "number"}]


def _todo(session, order, assignees, *, key="rule:ship:1", kind="task", fields=FIELDS, stage=None, now=None,
          cc=(), **kw):
    payload = {"fields": fields}
    if stage:
        payload["stage"] = stage
    apply_effects(session, [fx.CreateTodo(dedupe_key=key, kind=kind, title="Enter the tracking number",
                                          assignee_ids=tuple(u.id for u in assignees), payload=payload,
                                          cc_user_ids=tuple(u.id for u in cc), **kw)],
                  order=order, actor=None, now=now, source="rule")
    session.commit()
    return session.exec(select(InboxItem).where(InboxItem.dedupe_key == key, InboxItem.kind == kind)
                        .order_by(InboxItem.id)).scalars().all()


@pytest.fixture
def people(session):
    rep = make_user(session, roles=["sales"], display_name="Rep Li")
    clerk = make_user(session, roles=["warehouse"], display_name="Clerk Wang")
    other = make_user(session, roles=["warehouse"], display_name="Clerk Zhao")
    boss = make_user(session, roles=["approver"], display_name="Boss")
    stranger = make_user(session, roles=["finance"], display_name="Finance Sun")
    order = make_order(session, owner=rep, stage="shipping", number="INB-1",
                       customer=make_customer(session, name="Acme Pumps"), risk_flags=["late"])
    session.commit()
    return {u: load_actor(session, x.id) for u, x in (("rep", rep), ("clerk", clerk), ("other", other),
                                                     ("boss", boss), ("stranger", stranger))} | {"order": order}


class TestTabs:
    def test_each_tab_shows_the_right_items(self, session, now, people):
        order = people["order"]
        _todo(session, order, [_user(session, people["clerk"])],
              now=now, cc=[_user(session, people["boss"])], due_at=now - timedelta(hours=1), priority="high")
        clerk, boss, rep = people["clerk"], people["boss"], people["rep"]
        todo = inbox_service.list_items(session, actor=clerk, filters=InboxFilter(), now=now)
        assert [i.title for i in todo.items] == ["Enter the tracking number"]
        item = todo.items[0]
        assert item.is_overdue and item.order_number == "INB-1" and item.customer_name == "Acme Pumps"
        assert item.risk_flags == ["late"] and [f.key for f in item.fields] == ["tracking_no", "boxes"]
        assert inbox_service.count_open(session, clerk.user_id) == 1
        cc = inbox_service.list_items(session, actor=boss, filters=InboxFilter(tab="cc"), now=now)
        assert [i.kind for i in cc.items] == ["cc"]
        assert inbox_service.count_open(session, boss.user_id) == 0
        started = inbox_service.list_items(session, actor=rep, filters=InboxFilter(tab="started"), now=now)
        assert [i.assignee_name for i in started.items] == ["Clerk Wang"]
        assert inbox_service.list_items(session, actor=clerk, filters=InboxFilter(tab="done"), now=now).total == 0

    def test_search_and_filters(self, session, now, people):
        _todo(session, people["order"], [_user(session, people["clerk"])], now=now)
        clerk = people["clerk"]
        assert inbox_service.list_items(session, actor=clerk, filters=InboxFilter(q="acme"), now=now).total == 1
        assert inbox_service.list_items(session, actor=clerk, filters=InboxFilter(q="inb-1"), now=now).total == 1
        assert inbox_service.list_items(session, actor=clerk, filters=InboxFilter(q="zzz"), now=now).total == 0
        assert inbox_service.list_items(session, actor=clerk, filters=InboxFilter(kind="approval"), now=now).total == 0
        assert inbox_service.list_items(session, actor=clerk, filters=InboxFilter(is_overdue=True), now=now).total == 0


def _user(session, actor):
    from backend.people.models import User

    return session.get(User, actor.user_id)


class TestCompleteTask:
    def test_completing_writes_only_the_asked_fields_logs_and_closes(self, session, now, people):
        [item] = _todo(session, people["order"], [_user(session, people["clerk"])], now=now)
        done = inbox_actions.complete_task(session, actor=people["clerk"], item_id=item.id,
                                           values={"tracking_no": " SF1234 ", "boxes": "3"}, note="sent", now=now)
        assert (done.state, done.outcome) == ("done", "done")
        order = session.get(Order, people["order"].id)
        assert order.data == {"tracking_no": "SF1234", "boxes": 3}
        types = session.exec(select(OrderEvent.type).where(OrderEvent.order_id == order.id)).scalars().all()
        assert "task_completed" in types and "field_set" in types
        assert inbox_service.count_open(session, people["clerk"].user_id) == 0
        tab = inbox_service.list_items(session, actor=people["clerk"], filters=InboxFilter(tab="done"), now=now)
        assert [i.closed_by_name for i in tab.items] == ["Clerk Wang"]

    def test_a_second_completion_is_refused_and_changes_nothing(self, session, now, people):
        [item] = _todo(session, people["order"], [_user(session, people["clerk"])], now=now)
        inbox_actions.complete_task(session, actor=people["clerk"], item_id=item.id,
                                    values={"tracking_no": "SF1"}, note="", now=now)
        with pytest.raises(GendanError) as err:
            inbox_actions.complete_task(session, actor=people["clerk"], item_id=item.id,
                                        values={"tracking_no": "SF2"}, note="", now=now + timedelta(minutes=1))
        assert (err.value.code, err.value.status) == ("inbox.already_closed", 409)
        assert err.value.params == {"state": "done", "by": "Clerk Wang"}
        assert session.get(Order, people["order"].id).data == {"tracking_no": "SF1"}

    def test_the_wrong_person_is_refused(self, session, now, people):
        [item] = _todo(session, people["order"], [_user(session, people["clerk"])], now=now)
        with pytest.raises(GendanError) as err:
            inbox_actions.complete_task(session, actor=people["rep"], item_id=item.id,
                                        values={"tracking_no": "X"}, note="", now=now)
        assert (err.value.code, err.value.status) == ("inbox.not_yours", 403)
        assert err.value.params == {"assignee": "Clerk Wang"}
        # someone who cannot even see the order learns nothing about the to-do
        with pytest.raises(GendanError) as err:
            inbox_actions.complete_task(session, actor=people["other"], item_id=item.id,
                                        values={}, note="", now=now)
        assert err.value.code == "inbox.not_yours"  # warehouse sees shipping orders, so they learn who holds it
        with pytest.raises(GendanError) as err:
            inbox_actions.complete_task(session, actor=people["stranger"], item_id=item.id, values={}, note="", now=now)
        assert err.value.code == "inbox.not_found"  # finance cannot see the order: no hint it exists
        assert session.get(InboxItem, item.id).state == "open"

    def test_refused_after_the_order_moved_on(self, session, now, people):
        [item] = _todo(session, people["order"], [_user(session, people["clerk"])], now=now, stage="shipping")
        order = session.get(Order, people["order"].id)
        order.stage = "delivered"
        session.commit()
        with pytest.raises(GendanError) as err:
            inbox_actions.complete_task(session, actor=people["clerk"], item_id=item.id,
                                        values={"tracking_no": "X"}, note="", now=now)
        assert (err.value.code, err.value.params) == ("inbox.order_moved_on", {"number": "INB-1", "stage": "delivered"})
        assert session.get(Order, order.id).data == {}

    def test_refused_on_a_cancelled_order(self, session, now, people):
        [item] = _todo(session, people["order"], [_user(session, people["clerk"])], now=now)
        session.get(Order, people["order"].id).status = "cancelled"
        session.commit()
        with pytest.raises(GendanError) as err:
            inbox_actions.complete_task(session, actor=people["clerk"], item_id=item.id,
                                        values={"tracking_no": "X"}, note="", now=now)
        assert err.value.code == "inbox.order_closed"

    def test_missing_unknown_and_bad_values_are_reported_per_field(self, session, now, people):
        [item] = _todo(session, people["order"], [_user(session, people["clerk"])], now=now)
        with pytest.raises(GendanError) as err:
            inbox_actions.complete_task(session, actor=people["clerk"], item_id=item.id,
                                        values={"boxes": "many", "amount": "0"}, note="", now=now)
        assert err.value.code == "validation.failed"
        assert {k: v[0] for k, v in err.value.fields.items()} == {
            "tracking_no": "inbox.field_required", "boxes": "inbox.field_invalid", "amount": "inbox.field_not_allowed"}
        assert session.get(InboxItem, item.id).state == "open"

    def test_first_of_several_assignees_wins_the_rest_are_superseded(self, session, now, people):
        items = _todo(session, people["order"], [_user(session, people["clerk"]), _user(session, people["other"])],
                      now=now)
        inbox_actions.complete_task(session, actor=people["other"], item_id=items[1].id,
                                    values={"tracking_no": "SF9"}, note="", now=now)
        session.refresh(items[0])
        assert items[0].state == "superseded"
        with pytest.raises(GendanError) as err:
            inbox_actions.complete_task(session, actor=people["clerk"], item_id=items[0].id,
                                        values={"tracking_no": "SF8"}, note="", now=now)
        assert err.value.params["by"] == "Clerk Zhao"

    def test_approvals_are_not_completed_as_tasks(self, session, now, people):
        [item] = _todo(session, people["order"], [_user(session, people["boss"])], kind="approval", fields=[],
                       now=now)
        with pytest.raises(GendanError) as err:
            inbox_actions.complete_task(session, actor=people["boss"], item_id=item.id, values={}, note="", now=now)
        assert err.value.code == "inbox.approval_unavailable"


class TestCommentAndUrge:
    def test_comment_with_attachment_notifies_the_others(self, session, now, people, tmp_path):
        [item] = _todo(session, people["order"], [_user(session, people["clerk"])], now=now)
        event = inbox_comments.comment(session, actor=people["clerk"], item_id=item.id, text="Box is damaged",
                                      attachment=("../photo 1.jpg", b"\xff\xd8jpeg"), upload_dir=tmp_path, now=now)
        assert event.after["attachment"]["name"] == "photo_1.jpg"
        path, name = inbox_comments.attachment_path(session, actor=people["rep"], event_id=event.id,
                                                   upload_dir=tmp_path)
        assert path.read_bytes() == b"\xff\xd8jpeg" and path.parent == tmp_path / "inbox"
        notes = session.exec(select(Notification).where(Notification.order_id == people["order"].id)).scalars().all()
        assert [n.user_id for n in notes] == [people["rep"].user_id]
        assert [c.note for c in inbox_comments.list_comments(session, actor=people["rep"], item_id=item.id)] == [
            "Box is damaged"]
        with pytest.raises(GendanError):
            inbox_comments.attachment_path(session, actor=people["stranger"], event_id=event.id, upload_dir=tmp_path)

    def test_owner_urges_at_most_hourly(self, session, now, people):
        [item] = _todo(session, people["order"], [_user(session, people["clerk"])], now=now)
        urged = inbox_actions.urge(session, actor=people["rep"], item_id=item.id, now=now)
        assert urged.priority == "high"
        with pytest.raises(GendanError) as err:
            inbox_actions.urge(session, actor=people["rep"], item_id=item.id, now=now + timedelta(minutes=10))
        assert (err.value.code, err.value.status) == ("inbox.urge_too_soon", 429)
        inbox_actions.urge(session, actor=people["rep"], item_id=item.id, now=now + timedelta(minutes=61))
        with pytest.raises(GendanError) as err:
            inbox_actions.urge(session, actor=people["clerk"], item_id=item.id, now=now + timedelta(hours=3))
        assert err.value.code == "inbox.not_initiator"
        notes = session.exec(select(Notification).where(Notification.user_id == people["clerk"].user_id)).all()
        assert len(notes) == 2


class TestQueryCount:
    def test_listing_does_not_query_per_item(self, session, now, people):
        from sqlalchemy import event

        clerk = _user(session, people["clerk"])
        for n in range(30):
            order = make_order(session, owner=_user(session, people["rep"]), stage="shipping",
                               customer=make_customer(session))
            _todo(session, order, [clerk], key=f"rule:qc:{n}", now=now)
        statements: list[str] = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        bind = session.get_bind()
        engine = getattr(bind, "engine", bind)
        event.listen(engine, "before_cursor_execute", count)
        try:
            page = inbox_service.list_items(session, actor=people["clerk"], filters=InboxFilter(), now=now)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert page.total == 30 and len(page.items) == 30
        assert len([s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE"))]) <= 8


class TestRuleKinds:
    def test_a_rule_alert_is_completed_by_its_holder(self, session, now, people):
        [item] = _todo(session, people["order"], [_user(session, people["clerk"])], kind="rule_alert", fields=[],
                       now=now)
        page = inbox_service.list_items(session, actor=people["clerk"], filters=InboxFilter(kind="rule_alert"),
                                        now=now)
        assert [i.id for i in page.items] == [item.id]
        done = inbox_actions.complete_task(session, actor=people["clerk"], item_id=item.id, values={}, note="seen",
                                           now=now)
        assert done.state == "done"
