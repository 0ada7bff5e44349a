"""The demo company's designs, and the flows its open orders are in.

Split from backend/demo.py, which generates the people, customers and orders: this half goes
through the same use cases a designer's clicks do (form, fulfilment flow, the five classic
rules) and then seeds each open order's flow at the step of its stage.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Engine

from backend.demo import DEMO_SOURCE
from backend.forms.service import shown_from_stage
from backend.localized import read_text, split_title
from backend.orders.models import Order

# --- designs -------------------------------------------------------------------------------------

# The order form the demo orders' `data` follows, so their fields read with labels and new orders
# are entered through it. Keys match the generated data; `amount` is the computed line total.
DEMO_FORM: dict[str, Any] = {
    "key": "order",
    "title": {"zh-CN": "销售订单", "en": "Sales order"},
    "fields": [
        {"key": "product", "type": "text", "required": True, "width": 2,
         "label": {"zh-CN": "产品", "en": "Product"}},
        {"key": "product_en", "type": "text", "label": {"zh-CN": "产品（英文）", "en": "Product (English)"}},
        {"key": "quantity", "type": "number", "required": True, "min": 1,
         "label": {"zh-CN": "数量", "en": "Quantity"}},
        {"key": "unit_price", "type": "number", "required": True, "min": 0,
         "label": {"zh-CN": "单价", "en": "Unit price"}},
        {"key": "amount", "type": "computed", "result_type": "money",
         "expression": {"*": [{"var": "quantity"}, {"var": "unit_price"}]},
         "label": {"zh-CN": "金额", "en": "Amount"}},
        {"key": "incoterm", "type": "single_select", "label": {"zh-CN": "贸易条款", "en": "Incoterm"},
         "options": [{"value": v, "label": {"zh-CN": v, "en": v}} for v in ("EXW", "FOB", "CIF", "DAP")]},
        {"key": "customer_po", "type": "text", "label": {"zh-CN": "客户采购单号", "en": "Customer PO"}},
        # the generated orders name their supplier (foresight learns from it): without a field the
        # order page showed the bare key `supplier` among the form's fields
        {"key": "supplier", "type": "text", "label": {"zh-CN": "供应商", "en": "Supplier"}},
        {"key": "planned_delivery", "type": "date", "label": {"zh-CN": "计划交期", "en": "Planned delivery"}},
        {"key": "discount", "type": "percent", "min": 0, "max": 100, "label": {"zh-CN": "折扣", "en": "Discount"}},
        {"key": "expected_completion", "type": "date",
         "label": {"zh-CN": "预计生产完成日期", "en": "Expected production completion"}},
        {"key": "payment_due", "type": "date", "label": {"zh-CN": "应收款日期", "en": "Payment due"},
         "help": {"zh-CN": "回款提醒按此日期", "en": "The payment reminder counts from this date"}},
        # filled in along the fulfilment flow's steps (the template asks for them): shown from the
        # stage that asks for them on, so a new order's form holds only what is known when it is made
        # what the order's supplier reports through the portal (the production progress step is
        # given to the supplier the order names: SUPPLIER_STEP below); 100 completes the step
        {"key": "production_progress", "type": "percent", "min": 0, "max": 100,
         "label": {"zh-CN": "生产进度", "en": "Production progress"}, "visible_if": shown_from_stage("production")},
        {"key": "production_done_on", "type": "date", "label": {"zh-CN": "生产完成日期", "en": "Production done on"},
         "visible_if": shown_from_stage("production")},
        {"key": "carrier", "type": "text", "label": {"zh-CN": "承运商", "en": "Carrier"},
         "visible_if": shown_from_stage("shipping")},
        {"key": "tracking_no", "type": "text", "label": {"zh-CN": "运单号", "en": "Tracking number"},
         "visible_if": shown_from_stage("shipping")},
        {"key": "signed_on", "type": "date", "label": {"zh-CN": "客户签收日期", "en": "Signed for on"},
         "visible_if": shown_from_stage("shipping")},  # signed for while in shipping: then delivered
        {"key": "invoice_no", "type": "text", "label": {"zh-CN": "发票号", "en": "Invoice number"},
         "visible_if": shown_from_stage("invoicing")},
        {"key": "paid_on", "type": "date", "label": {"zh-CN": "收款日期", "en": "Paid on"},
         "visible_if": shown_from_stage("payment")},
    ],
}


# The production progress step goes to the order's own supplier (docs/portal.md): the external
# party whose name is the order's `supplier` field reports progress on a phone, and 100% moves the
# flow on to shipping. Our warehouse keeps the step's to-do and may complete it themselves.
SUPPLIER_STEP = "production_progress"
SUPPLIER_EXTERNAL = {"kind": "supplier", "party_field": "data.supplier", "done_field": "data.production_progress",
                     "done_at": 100}
SUPPLIER_FIELDS = {"data.production_progress": "editable", "data.production_done_on": "editable",
                   "data.product": "read_only", "data.quantity": "read_only", "planned_delivery": "read_only",
                   "data.expected_completion": "read_only"}


def give_to_supplier(definition: dict[str, Any]) -> dict[str, Any]:
    """The fulfilment template with its production progress step given to the order's supplier."""
    nodes = [{**n, "external": SUPPLIER_EXTERNAL, "field_permissions": SUPPLIER_FIELDS}
             if n.get("key") == SUPPLIER_STEP else n for n in definition["nodes"]]
    return {**definition, "nodes": nodes}


def _supplier_parties(session, admin, now: datetime) -> None:
    """The demo's suppliers (backend/demo.py SUPPLIERS) as external parties, named exactly as the
    orders' `supplier` field names them. No e-mail address: the demo would otherwise queue a
    message per link to made-up addresses (a `make run` without a mail server logged hundreds of
    failed sends; with one it would mail example.com). Links are copied from the order page's
    "Outside parties" panel; an admin adds an address on Admin → Portal to have them sent."""
    from backend.demo import SUPPLIERS
    from backend.portal import service as portal

    for name, _factor in SUPPLIERS:
        portal.create_party(session, actor=admin, values={
            "kind": "supplier", "name": name, "contact_name": "生产计划", "email": "",
            "locale": "zh_CN"}, now=now)


def install_designs(engine: Engine, designer_id: int, admin_id: int, now: datetime) -> None:
    """Publish the demo's order form and the B2B fulfilment flow (new orders start it), and store
    the five classic rules published but disabled, for an admin to try with a dry run first.

    Runs through the same use cases a designer's clicks do, so what the demo shows is what a
    company gets by designing it themselves."""
    from backend.auth.service import load_actor
    from backend.db import new_session
    from backend.flows import service as flows_service
    from backend.flows import service_instance as flows_instances
    from backend.forms import service as forms_service
    from backend.pipeline_assembly import assemble
    from backend.rules import definitions as rule_definitions
    from engine.rules.classics import CLASSIC_RULES, classic_rule

    with new_session(assemble(engine)) as session:
        designer, admin = load_actor(session, designer_id), load_actor(session, admin_id)
        forms_service.save_draft(session, actor=designer, key="order", definition=DEMO_FORM, now=now)
        forms_service.publish_form(session, actor=designer, key="order", now=now)
        working = flows_service.install_template(session, actor=designer, key=flows_service.DEFAULT_FLOW_KEY,
                                                 template="b2b_fulfilment", now=now)
        _supplier_parties(session, admin, now)
        flows_service.save_draft(session, actor=designer, key=flows_service.DEFAULT_FLOW_KEY,
                                 definition=give_to_supplier(working.definition), now=now)
        flows_service.publish_flow(session, actor=designer, key=flows_service.DEFAULT_FLOW_KEY, now=now)
        for key in CLASSIC_RULES:
            rule_definitions.save_draft(session, actor=admin, definition=classic_rule(key), now=now)
            rule_definitions.publish_rule(session, actor=admin, key=key, now=now)
        # the open drafts enter the flow as their reps would submit them: managers find
        # approvals waiting in their inbox on the first visit
        drafts = session.exec(select(Order).where(Order.source == DEMO_SOURCE, Order.stage == "draft",
                                                  Order.status == "open").order_by(Order.id)).scalars().all()
        for order in drafts:
            rep = load_actor(session, order.owner_id)
            flows_instances.start_flow(session, order=order, actor=rep, now=now)
        attach_flows(session, now)
        session.commit()


# the fulfilment template's step for each later stage an open demo order is in
STAGE_NODES = {"approval": "manager_approval", "tech_confirm": "tech_confirm", "production": "production_order",
               "shipping": "shipping", "delivered": "invoicing", "invoicing": "invoicing",
               "payment": "payment_confirmed"}


SUPPLIER_AFTER = timedelta(days=3)


def seed_node(order: Order, now: datetime) -> str:
    """The step an open demo order waits at: its stage's, except that a production order past its
    first days has had its instruction given and waits for its supplier's progress (so the demo
    shows suppliers' links from the start)."""
    if order.stage == "production" and now - order.stage_entered_at > SUPPLIER_AFTER:
        return SUPPLIER_STEP
    return STAGE_NODES[order.stage]


def attach_flows(session, now: datetime) -> int:
    """Give the open demo orders past `draft` the fulfilment flow, waiting at the step of their
    stage, so approvers, warehouse and finance staff start with to-dos.

    This is seeding history, not a change: the orders already are at those stages, so only the
    flow's state, to-dos and timers are stored (no stage moves, events, rules or customer
    messages), in bulk: one engine start plus one move per order, then a few multi-row inserts."""
    from backend.flows import service as flows_service
    from backend.flows.directory import load_directory
    from backend.flows.models import FlowInstance, FlowTimer
    from backend.flows.service_instance import order_facts
    from backend.inbox.models import InboxItem
    from engine.flows import FlowState, step
    from engine.flows.definition import load_definition
    from engine.flows.events import Start
    from engine.flows.migrate import migrate

    row = flows_service.published_row(session, flows_service.DEFAULT_FLOW_KEY)
    if row is None:
        return 0
    defn, directory = load_definition(row.definition), load_directory(session)
    orders = session.exec(select(Order).where(Order.source == DEMO_SOURCE, Order.status == "open",
                                              Order.stage.in_(list(STAGE_NODES))).order_by(Order.id)).scalars().all()
    if not orders:
        return 0
    table = FlowInstance.__table__
    ids = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), [
        dict(order_id=o.id, definition_id=row.id, flow_key=row.key, flow_version=row.version, status="running",
             state={}, version=1, started_by_id=o.owner_id, created_at=o.created_at, updated_at=now)
        for o in orders]).scalars().all()
    items, timers, states = [], [], []
    for order, instance_id in zip(orders, ids, strict=True):
        facts = order_facts(order)
        result = step(defn, FlowState(), Start(initiator_id=order.owner_id, instance_id=instance_id), now,
                      directory=directory, facts=facts)
        effects = list(result.effects)
        target = seed_node(order, now)
        if target != "manager_approval":
            result = migrate(defn, defn, result.state, {"manager_approval": target}, now,
                             directory=directory, facts=facts)
            effects += result.effects
        _seed_effects(effects, order, instance_id, now, items, timers)
        states.append({"b_id": instance_id, "b_state": result.state.to_json(), "b_status": result.state.status})
    if items:
        session.execute(insert(InboxItem.__table__), items)
    if timers:
        session.execute(insert(FlowTimer.__table__), timers)
    session.execute(update(table).where(table.c.id == bindparam("b_id"))
                    .values(state=bindparam("b_state"), status=bindparam("b_status")), states)
    return len(orders)


def _seed_effects(effects: list, order: Order, instance_id: int, now: datetime, items: list, timers: list) -> None:
    """The to-do and timer rows a flow's effects leave open (what the moves closed is left out)."""
    from engine import effects as fx

    closed = {e.todo_dedupe_key for e in effects if isinstance(e, fx.CloseTodo)}
    cancelled = {e.timer_dedupe_key for e in effects if isinstance(e, fx.CancelTimer)}
    for e in effects:
        if isinstance(e, fx.CreateTodo) and e.dedupe_key not in closed:
            title, title_i18n = split_title(e.title)
            items.extend(dict(dedupe_key=e.dedupe_key, order_id=order.id, assignee_id=user_id, kind=e.kind,
                              title=title, title_i18n=title_i18n, body=read_text(e.body)[:4000], priority=e.priority, state="open",
                              due_at=e.due_at, flow_instance_id=e.flow_instance_id, node_key=e.node_key,
                              source="flow", payload=dict(e.payload), created_at=now)
                         for user_id in dict.fromkeys(e.assignee_ids))
        elif isinstance(e, fx.ScheduleTimer) and e.dedupe_key not in cancelled:
            timers.append(dict(dedupe_key=e.dedupe_key, instance_id=instance_id, kind=e.kind, fire_at=e.fire_at,
                               payload=dict(e.payload), state="pending", attempts=0, created_at=now))
