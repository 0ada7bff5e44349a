"""Order use cases: who may create, idempotent create (also racing on a real database), updates
with optimistic locking, and the event log written in the same transaction as the change."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from backend.app import create_app
from backend.auth import service as auth_service
from backend.customers.models import Customer
from backend.db import new_session
from backend.errors import GendanError
from backend.orders import service
from backend.orders.models import Order, OrderEvent
from backend.orders.schemas import OrderCreate, OrderUpdate
from backend.people.models import User, UserRole
from backend.pipeline import NamedStage, Pipeline, attach
from backend.pipeline_assembly import assemble
from tests.conftest import bearer
from tests.factories.orders import make_customer, make_order
from tests.factories.people import make_department, make_user

EN = {"Accept-Language": "en"}


def _counts(session) -> tuple[int, int]:
    session.expire_all()
    return (session.exec(select(func.count()).select_from(Order)).scalar_one(),
            session.exec(select(func.count()).select_from(OrderEvent)).scalar_one())


def _actor(session, user):
    return auth_service.load_actor(session, user.id)


class TestCreate:
    def test_event_records_who_when_and_every_value(self, session, now):
        rep = make_user(session, roles=["sales"])
        customer = make_customer(session)
        read, created = service.create_order(session, actor=_actor(session, rep), now=now, payload=OrderCreate(
            customer_id=customer.id, amount=Decimal("88.50"), planned_delivery=date(2026, 12, 24), tags=["vip"]))
        assert created and read.number == "SO20261124-00001" and read.owner_id == rep.id
        event = session.exec(select(OrderEvent).where(OrderEvent.order_id == read.id)).scalars().one()
        assert (event.type, event.actor_id, event.at, event.before) == ("created", rep.id, now, None)
        assert event.after["amount"] == "88.50" and event.after["planned_delivery"] == "2026-12-24"
        assert event.after["tags"] == ["vip"] and event.after["owner_id"] == rep.id

    def test_the_number_carries_the_installations_date_not_utcs(self, session):
        rep = make_user(session, roles=["sales"])
        customer = make_customer(session)
        half_past_midnight_in_shanghai = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
        read, _ = service.create_order(session, actor=_actor(session, rep), now=half_past_midnight_in_shanghai,
                                       payload=OrderCreate(customer_id=customer.id, amount=Decimal(1)))
        assert read.number == "SO20261202-00001"

    def test_a_hand_typed_number_of_the_same_day_does_not_derail_the_series(self, session, now):
        # "SO20261124-9101" sorts after "SO20261124-00002" as text: the series must not take it
        # for its maximum (it would hand out SO20261124-09102 twice), one by one nor in bulk
        rep = make_user(session, roles=["sales"])
        customer = make_customer(session)

        def create(number=None):
            read, _ = service.create_order(session, actor=_actor(session, rep), now=now, payload=OrderCreate(
                customer_id=customer.id, amount=Decimal(1), number=number))
            return read.number

        assert create() == "SO20261124-00001"
        for typed in ("SO20261124-9101", "SO20261124-ZZ", "SO20261124-000009"):
            assert create(typed) == typed
        assert [create(), create()] == ["SO20261124-00002", "SO20261124-00003"]
        assert service.next_numbers(session, [now, now]) == ["SO20261124-00004", "SO20261124-00005"]

    def test_roles_other_than_sales_and_admin_cannot_create(self, session, now):
        customer = make_customer(session)
        for role in ("designer", "approver", "warehouse", "finance", "viewer"):
            user = make_user(session, roles=[role])
            with pytest.raises(GendanError) as err:
                service.create_order(session, actor=_actor(session, user), now=now,
                                     payload=OrderCreate(customer_id=customer.id, amount=Decimal(1)))
            assert err.value.code == "auth.forbidden", role

    def test_sales_assigns_only_within_their_team(self, session, now):
        boss = make_user(session, roles=["sales"])
        dep = make_department(session, head=boss)
        member = make_user(session, roles=["sales"], department=dep)
        stranger = make_user(session, roles=["sales"])
        customer = make_customer(session)
        actor = _actor(session, boss)
        read, _ = service.create_order(session, actor=actor, now=now,
                                       payload=OrderCreate(customer_id=customer.id, amount=Decimal(1), owner_id=member.id))
        assert read.owner_id == member.id
        with pytest.raises(GendanError) as err:
            service.create_order(session, actor=actor, now=now,
                                 payload=OrderCreate(customer_id=customer.id, amount=Decimal(1), owner_id=stranger.id))
        assert err.value.fields["owner_id"][0] == "order.owner_not_allowed"

    def test_same_external_id_replays_and_different_values_conflict(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        customer = make_customer(session)
        session.commit()
        auth = {**bearer(client, "rep"), **EN}
        body = {"customer_id": customer.id, "amount": "120.5", "source": "erp", "external_id": "PO-9"}
        first = client.post("/api/v1/orders", json=body, headers=auth)
        assert first.status_code == 201
        # the same values written differently are a retry; changed data is not (issue 17: it was ignored)
        replay = client.post("/api/v1/orders", json={**body, "amount": "120.50"}, headers=auth)
        assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
        counts = _counts(session)
        clash = client.post("/api/v1/orders", json={**body, "amount": "999"}, headers=auth)
        assert clash.status_code == 409
        error = clash.json()["error"]
        assert error["code"] == "order.external_id_conflict" and error["params"]["fields"] == "amount"
        assert "PO-9" in error["message"]
        with_data = client.post("/api/v1/orders", json={**body, "data": {"note": "retry"}}, headers=auth)
        assert with_data.status_code == 409 and with_data.json()["error"]["params"]["fields"] == "data"
        assert _counts(session) == counts
        # the same external id from another source is another order
        other = client.post("/api/v1/orders", json={**body, "source": "shop"}, headers=auth)
        assert other.status_code == 201 and other.json()["id"] != first.json()["id"]

    def test_taken_number_is_409_and_nothing_written(self, client, session):
        rep = make_user(session, username="rep", roles=["sales"])
        make_order(session, owner=rep, number="N-1")
        customer = make_customer(session)
        session.commit()
        counts = _counts(session)
        resp = client.post("/api/v1/orders", json={"customer_id": customer.id, "amount": "1", "number": "N-1"},
                           headers=bearer(client, "rep"))
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "order.number_taken"
        assert _counts(session) == counts

    def test_dates_before_creation_are_refused(self, session, now):
        rep = make_user(session, roles=["sales"])
        customer = make_customer(session)
        with pytest.raises(GendanError) as err:
            service.create_order(session, actor=_actor(session, rep), now=now, payload=OrderCreate(
                customer_id=customer.id, amount=Decimal(1), payment_due=date(2026, 11, 23)))
        assert err.value.fields == {"payment_due": ("order.date_before_created",
                                                    {"field": "payment_due", "created": "2026-11-24"})}


class TestUpdate:
    def test_event_has_before_and_after_of_changed_fields_only(self, session, now):
        rep = make_user(session, roles=["sales"])
        order = make_order(session, owner=rep, stage="draft", amount="10.00")
        read = service.update_order(session, actor=_actor(session, rep), order_id=order.id, now=now,
                                    payload=OrderUpdate(version=1, amount=Decimal("12.00"), stage="approval",
                                                        currency="CNY"))
        assert read.version == 2 and read.stage_entered_at == now
        event = session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id)).scalars().one()
        assert event.type == "stage_entered" and event.actor_id == rep.id and event.at == now
        assert event.before == {"amount": "10.00", "stage": "draft"}
        assert event.after == {"amount": "12.00", "stage": "approval"}

    def test_no_change_writes_no_event_and_keeps_version(self, session, now):
        rep = make_user(session, roles=["sales"])
        order = make_order(session, owner=rep, amount="10.00")
        read = service.update_order(session, actor=_actor(session, rep), order_id=order.id, now=now,
                                    payload=OrderUpdate(version=1, amount=Decimal("10")))
        assert read.version == 1
        assert session.exec(select(func.count()).select_from(OrderEvent)
                            .where(OrderEvent.order_id == order.id)).scalar_one() == 0

    def test_stale_version_is_409_with_current_version_and_changes_nothing(self, client, session):
        rep = make_user(session, username="rep", roles=["sales"])
        order = make_order(session, owner=rep, amount="10.00")
        session.commit()
        auth = {**bearer(client, "rep"), "Accept-Language": "zh-CN"}
        assert client.patch(f"/api/v1/orders/{order.id}", json={"version": 1, "stage": "approval"},
                            headers=auth).status_code == 200
        counts = _counts(session)
        stale = client.patch(f"/api/v1/orders/{order.id}", json={"version": 1, "amount": "99"}, headers=auth)
        assert stale.status_code == 409
        error = stale.json()["error"]
        assert error["params"] == {"current_version": 2, "sent_version": 1}
        assert error["message"] == "该订单已被他人修改（当前版本 2），请刷新后重试。"
        assert _counts(session) == counts
        assert session.get(Order, order.id).amount == Decimal("10.00")

    def test_nulls_for_required_columns_are_field_errors(self, client, session):
        rep = make_user(session, username="rep", roles=["sales"])
        order = make_order(session, owner=rep, planned_delivery=date(2026, 12, 1))
        session.commit()
        auth = {**bearer(client, "rep"), **EN}
        resp = client.patch(f"/api/v1/orders/{order.id}", json={"version": 1, "amount": None, "stage": None},
                            headers=auth)
        assert resp.status_code == 422
        assert {k: v["message"] for k, v in resp.json()["error"]["fields"].items()} == {
            "amount": "This field cannot be empty.", "stage": "This field cannot be empty."}
        cleared = client.patch(f"/api/v1/orders/{order.id}", json={"version": 1, "planned_delivery": None},
                               headers=auth)
        assert cleared.status_code == 200 and cleared.json()["planned_delivery"] is None

    def test_failing_stage_rolls_back_the_change_and_its_event(self, settings, connection, session):
        rep = make_user(session, username="rep", roles=["sales"])
        order = make_order(session, owner=rep, amount="10.00")
        session.commit()
        seen_in_transaction = []

        def refuse(session_, change):
            # the event is already in this transaction when the later stages run...
            seen_in_transaction.append(session_.exec(select(func.count()).select_from(OrderEvent)
                                                      .where(OrderEvent.order_id == change.order.id)).scalar_one())
            raise GendanError("order.invalid_dates")

        line = Pipeline(stages=(NamedStage("record_event", service.record_change), NamedStage("refuse", refuse)))
        app = create_app(settings, engine=connection, start_worker=False, pipeline=line)
        with TestClient(app, base_url="http://testserver") as client:
            counts = _counts(session)
            resp = client.patch(f"/api/v1/orders/{order.id}", json={"version": 1, "amount": "20"},
                                headers=bearer(client, "rep"))
        assert resp.status_code == 400 and seen_in_transaction == [1]
        # ...and leaves with it: neither the row change nor the event survived
        assert _counts(session) == counts
        stored = session.get(Order, order.id)
        assert (stored.amount, stored.version) == (Decimal("10.00"), 1)


@pytest.fixture
def committed(engine):
    """A user and a customer committed for real (threads need their own connections); removed after."""
    with new_session(engine) as s:
        user = User(username="racer", display_name="Racer", password_hash="x", created_at=datetime(2026, 1, 1, tzinfo=UTC))
        s.add(user)
        s.flush()
        s.add(UserRole(user_id=user.id, role="sales"))
        customer = Customer(name="Race Co", created_at=user.created_at)
        s.add(customer)
        s.commit()
        ids = (user.id, customer.id)
    yield ids
    with new_session(engine) as s:
        order_ids = select(Order.id).where(Order.customer_id == ids[1])
        s.exec(delete(OrderEvent).where(OrderEvent.order_id.in_(order_ids)))
        s.exec(delete(Order).where(Order.customer_id == ids[1]))
        s.exec(delete(Customer).where(Customer.id == ids[1]))
        s.exec(delete(UserRole).where(UserRole.user_id == ids[0]))
        s.exec(delete(User).where(User.id == ids[0]))
        s.commit()


def _race(engine, user_id: int, payloads: list[OrderCreate], now) -> list:
    """Run creates in threads that all pass the existence check before any of them inserts, where the
    database lets them (PostgreSQL); on SQLite a writing transaction holds the write lock from BEGIN,
    so the others queue behind it and the first goes on after a short wait."""
    barrier = threading.Barrier(len(payloads), timeout=3)
    waited: set[int] = set()

    def wait_for_all(session_, change):
        if threading.get_ident() not in waited:  # a retried attempt does not wait again
            waited.add(threading.get_ident())
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass

    results: list = [None] * len(payloads)

    line = Pipeline(checks=(NamedStage("wait_for_all", wait_for_all),),
                    stages=(NamedStage("record_event", service.record_change),))

    def run(i: int) -> None:
        with new_session(attach(engine, line)) as s:
            try:
                results[i] = service.create_order(s, actor=auth_service.load_actor(s, user_id), payload=payloads[i],
                                                  now=now)
            except Exception as exc:  # reported below, with the thread's own error
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


class TestConcurrentCreate:
    def test_two_creates_with_one_external_id_make_one_order(self, engine, committed, now):
        user_id, customer_id = committed
        payload = OrderCreate(customer_id=customer_id, amount=Decimal("5.00"), source="edi", external_id="RACE-1")
        results = _race(engine, user_id, [payload, payload], now)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert sorted(created for _, created in results) == [False, True]
        assert results[0][0].id == results[1][0].id
        with new_session(engine) as s:
            orders = s.exec(select(Order).where(Order.customer_id == customer_id)).scalars().all()
            assert len(orders) == 1
            events = s.exec(select(OrderEvent.type).where(OrderEvent.order_id == orders[0].id)).scalars().all()
            assert events == ["created"]

    def test_two_auto_numbered_creates_get_different_numbers(self, engine, committed, now):
        user_id, customer_id = committed
        payload = OrderCreate(customer_id=customer_id, amount=Decimal("5.00"))
        results = _race(engine, user_id, [payload, payload], now)
        assert not [r for r in results if isinstance(r, Exception)], results
        numbers = sorted(r[0].number for r in results)
        assert len(set(numbers)) == 2 and all(created for _, created in results)


class TestConcurrentUpdate:
    def test_two_updates_from_one_version_one_wins_one_gets_409(self, engine, committed, now):
        user_id, customer_id = committed
        with new_session(assemble(engine)) as s:
            read, _ = service.create_order(s, actor=auth_service.load_actor(s, user_id), now=now,
                                           payload=OrderCreate(customer_id=customer_id, amount=Decimal("1.00")))
        arrived = threading.Barrier(2)
        waited: set[int] = set()

        def meet(session_, change):
            # both pass the version check together where the database lets them (SQLite); where a row
            # lock holds the second one back (PostgreSQL), the first goes on after a short wait
            if not change.is_new and threading.get_ident() not in waited:
                waited.add(threading.get_ident())
                try:
                    arrived.wait(timeout=2)
                except threading.BrokenBarrierError:
                    pass

        results: list = [None, None]
        line = Pipeline(checks=(NamedStage("meet", meet),), stages=(NamedStage("record_event", service.record_change),))

        def run(i: int, amount: str) -> None:
            with new_session(attach(engine, line)) as s:
                try:
                    results[i] = service.update_order(s, actor=auth_service.load_actor(s, user_id), order_id=read.id,
                                                      payload=OrderUpdate(version=1, amount=Decimal(amount)), now=now)
                except Exception as exc:  # collected and checked below
                    results[i] = exc

        threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(("2.00", "3.00"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        winners = [r for r in results if not isinstance(r, Exception)]
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert isinstance(losers[0], GendanError) and losers[0].code == "order.version_conflict"
        assert losers[0].params["current_version"] == 2
        with new_session(engine) as s:
            stored = s.get(Order, read.id)
            assert (stored.version, stored.amount) == (2, winners[0].amount)
            types = s.exec(select(OrderEvent.type).where(OrderEvent.order_id == read.id)).scalars().all()
            assert sorted(types) == ["created", "updated"]
