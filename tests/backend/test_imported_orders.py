"""Orders created at a later stage (imports of history, ERP migrations) bring their past with them:
no customer messages for milestones they had already reached, no flow restarted from the top."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from backend.auth.service import load_actor
from backend.demo_designs import DEMO_FORM
from backend.flows import service as flows_service
from backend.flows.models import FlowInstance
from backend.forms import service as forms_service
from backend.notify.models import OutboxMessage
from backend.orders import service as orders_service
from backend.orders.schemas import OrderCreate
from tests.factories.orders import make_customer
from tests.factories.people import make_user


def _publish_designs(session, now):
    for role in ("approver", "warehouse", "finance"):  # the template's steps need someone to do them
        make_user(session, roles=[role])
    designer = load_actor(session, make_user(session, roles=["designer"]).id)
    forms_service.save_draft(session, actor=designer, key="order", definition=DEMO_FORM, now=now)
    forms_service.publish_form(session, actor=designer, key="order", now=now)
    flows_service.install_template(session, actor=designer, key=flows_service.DEFAULT_FLOW_KEY,
                                   template="b2b_fulfilment", now=now)
    flows_service.publish_flow(session, actor=designer, key=flows_service.DEFAULT_FLOW_KEY, now=now)


def _create(session, now, **fields):
    rep = load_actor(session, make_user(session, roles=["sales"]).id)
    customer = make_customer(session, email="buyer@example.com", preferred_channel="email")
    payload = OrderCreate(customer_id=customer.id, amount=Decimal("900.00"),
                          data={"product": "减速机", "quantity": 3, "unit_price": 300}, **fields)
    order, _ = orders_service.create_order(session, actor=rep, payload=payload, now=now)
    flows = session.exec(select(func.count()).select_from(FlowInstance)
                         .where(FlowInstance.order_id == order.id)).scalar_one()
    messages = session.exec(select(OutboxMessage.subject).where(OutboxMessage.order_id == order.id)).scalars().all()
    return order, flows, messages


class TestOrdersCreatedLate:
    """`app` installs the order hooks (flows, tracking) as a running server has them."""

    def test_a_new_draft_order_starts_the_flow(self, app, session, now):
        _publish_designs(session, now)
        order, flows, messages = _create(session, now)
        assert flows == 1 and messages == []

    def test_an_order_created_shipped_keeps_its_stage_and_tells_the_customer_nothing(self, app, session, now):
        _publish_designs(session, now)
        order, flows, messages = _create(session, now, stage="delivered", source="erp", external_id="E-1")
        assert (order.stage, flows, messages) == ("delivered", 0, [])
