"""Running flows: start on an order, act on to-dos, fire timers, react to changed fields.

Each public function is one use case and one transaction: lock the instance row (FOR UPDATE on
PostgreSQL; SQLite serialises writers), call the pure engine, apply its effects, store the new
state with a version check, commit once. Two approvers acting on one to-do at the same moment
therefore resolve to one outcome: the second finds the to-do closed and gets `flow.task_closed`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from backend.audit import service as audit
from backend.auth.actor import SYSTEM, Actor
from backend.effects import apply_effects
from backend.errors import GendanError
from backend.flows.directory import load_directory
from backend.flows.models import FlowDefinitionRow, FlowInstance, FlowTimer
from backend.flows.schemas import FlowInstanceRead, HistoryRead, InstanceAction, TaskAction, TaskRead
from backend.flows.service import (
    DEFAULT_FLOW_KEY,
    error,
    from_flow_error,
    on_installation_calendar,
    published_row,
)
from backend.live.orders import touch_order
from backend.orders.access import get_visible_order
from backend.orders.models import Order
from backend.people.models import User
from backend.pipeline import OrderChange
from backend.scores import service as scores_service
from engine import effects as fx
from engine.flows import FlowDefinition, FlowError, FlowState, step
from engine.flows import auto as auto_rules
from engine.flows.definition import load_definition
from engine.flows.directory import resolve as resolve_people
from engine.flows.events import (
    AddSigner,
    Approve,
    Comment,
    CompleteTask,
    FieldsChanged,
    Reject,
    Resubmit,
    SendBack,
    Start,
    TimerFired,
    Transfer,
    UndoAutoApproval,
    Urge,
    Withdraw,
)

TIMER_LEASE = timedelta(minutes=5)
_ADVANCING = "gendan.flows.advancing"  # session.info: instances whose step is being applied


# --- facts and loading -------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def order_facts(order: Order) -> dict[str, Any]:
    """The order as branch conditions and approver fields see it: core columns + `data`."""
    facts = {c.key: _plain(getattr(order, c.key)) for c in Order.__table__.columns if c.key != "data"}
    facts["data"] = dict(order.data or {})
    return facts


def _definition(session: Session, instance: FlowInstance) -> FlowDefinition:
    row = session.get(FlowDefinitionRow, instance.definition_id)
    return on_installation_calendar(session, load_definition(row.definition))


def _lock(session: Session, instance_id: int) -> FlowInstance:
    instance = session.exec(select(FlowInstance).where(FlowInstance.id == instance_id)
                            .with_for_update()).scalars().first()
    if instance is None:
        raise error("flow.instance_not_found", id=instance_id)
    session.refresh(instance)
    return instance


def _advance(session: Session, instance: FlowInstance, event: Any, *, actor: Actor | None, now: datetime,
             order: Order | None = None) -> list[Any]:
    """Step the engine, apply its effects, store the state (flush only)."""
    order = order or session.get(Order, instance.order_id)
    scores_service.fill_new(session, order, now)  # a new order's first approval may read its scores
    defn = _definition(session, instance)
    state = FlowState.from_json(instance.state)
    try:
        result = step(defn, state, event, now, directory=load_directory(session), facts=order_facts(order))
    except FlowError as exc:
        raise from_flow_error(exc) from exc
    _audit_auto_decisions(session, result.effects, order=order, actor=actor, now=now)
    # the stage this step enters goes through the order pipeline, whose flows stage must not
    # step this instance again while its own step is being applied
    effects = [*result.effects, *_returned(instance, state, result.state)]
    advancing = session.info.setdefault(_ADVANCING, set())
    advancing.add(instance.id)
    try:
        apply_effects(session, effects, order=order, actor=actor, now=now, source="flow")
    finally:
        advancing.discard(instance.id)
    new_state = result.state.to_json()
    changed = session.execute(
        update(FlowInstance)
        .where(FlowInstance.id == instance.id, FlowInstance.version == instance.version)
        .values(state=new_state, status=result.state.status, version=instance.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        raise error("flow.conflict")
    touch_order(session, instance.order_id, ("flow", "head"))  # a Core write: no mapper event tells the pages
    session.flush()
    session.refresh(instance)
    return list(result.effects)


AUDITED = {"flow.auto_approved": "auto_approve", "flow.auto_approval_undone": "undo_auto_approve"}


def _audit_auto_decisions(session: Session, effects, *, order: Order, actor: Actor | None, now: datetime) -> None:
    """Every auto-approval and its undoing also goes to the audit log (entity: the order)."""
    for effect in effects:
        if isinstance(effect, fx.RecordEvent) and effect.type in AUDITED:
            data = dict(effect.data or {})
            after = {"node_key": data.get("node_key"), "reason": data.get("reason") or {}, "note": effect.note}
            audit.record(session, actor if effect.type == "flow.auto_approval_undone" else None, "order", order.id,
                         AUDITED[effect.type], {}, {k: v for k, v in after.items() if v}, now)


# A flow that ends rejected, or sends the order back to its initiator, leaves the order in a stage
# that says so (lists and the dashboard stop showing it "in approval"); resubmitting restarts the
# flow, whose first steps set the stage again.
ENDED_STAGES = {"rejected": "rejected", "sent_back": "returned"}


def _returned(instance: FlowInstance, before: FlowState, after: FlowState) -> list[Any]:
    stage = ENDED_STAGES.get(after.status)
    if stage is None or before.status == after.status:
        return []
    return [fx.EnterStage(dedupe_key=f"flow:{instance.id}:ended:{after.seq}", stage=stage)]


# --- starting ----------------------------------------------------------------------------------


def start_flow(session: Session, *, order: Order, actor: Actor | None, now: datetime,
               key: str = DEFAULT_FLOW_KEY) -> FlowInstance | None:
    """Start the published version of `key` on the order (flush only; the caller commits).

    None when no version is published: an installation without flows still takes orders.
    """
    row = published_row(session, key)
    if row is None:
        return None
    instance = FlowInstance(order_id=order.id, definition_id=row.id, flow_key=row.key, flow_version=row.version,
                            status="not_started", state=FlowState().to_json(), version=1,
                            started_by_id=actor.user_id if actor and actor.user_id else None,
                            created_at=now, updated_at=now)
    session.add(instance)
    session.flush()
    initiator = order.owner_id if actor is None or not actor.user_id else actor.user_id
    _advance(session, instance, Start(initiator_id=initiator, instance_id=instance.id), actor=actor, now=now,
             order=order)
    return instance


def start_order_flow(session: Session, *, actor: Actor, order_id: int, key: str, now: datetime) -> FlowInstanceRead:
    order = get_visible_order(session, actor, order_id, for_update=True)
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    instance = start_flow(session, order=order, actor=actor, now=now, key=key)
    if instance is None:
        raise error("flow.not_published", key=key)
    session.commit()
    return instance_read(session, instance)


# --- acting ------------------------------------------------------------------------------------


def _task_event(actor_id: int, task_id: str, body: TaskAction) -> Any:
    if body.action == "approve":
        return Approve(actor_id=actor_id, task_id=task_id, note=body.note, values=body.values)
    if body.action == "reject":
        return Reject(actor_id=actor_id, task_id=task_id, note=body.note)
    if body.action == "complete":
        return CompleteTask(actor_id=actor_id, task_id=task_id, note=body.note, values=body.values)
    if body.action == "send_back":
        return SendBack(actor_id=actor_id, task_id=task_id, to=body.to, node_key=body.node_key, note=body.note)
    if body.action == "transfer":
        if body.to_user_id is None:
            raise error("flow.transfer_target_missing")
        return Transfer(actor_id=actor_id, task_id=task_id, to_user_id=body.to_user_id, note=body.note)
    if body.action == "add_signer":
        if not body.user_ids:
            raise error("flow.signer_invalid", user_ids=[])
        return AddSigner(actor_id=actor_id, task_id=task_id, user_ids=tuple(body.user_ids),
                         position=body.position, note=body.note)
    if not body.note.strip():
        raise error("flow.comment_empty")
    return Comment(actor_id=actor_id, task_id=task_id, note=body.note, attachments=tuple(body.attachments))


def act_on_task(session: Session, *, actor: Actor, instance_id: int, task_id: str, body: TaskAction,
                now: datetime) -> FlowInstanceRead:
    """Approve, reject, complete, send back, transfer, add a signer or comment on a to-do."""
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    instance = _lock(session, instance_id)
    get_visible_order(session, actor, instance.order_id)
    _advance(session, instance, _task_event(actor.user_id, task_id, body), actor=actor, now=now)
    session.commit()
    return instance_read(session, instance)


def _approves(session: Session, instance: FlowInstance, order: Order, node_key: str, actor: Actor) -> bool:
    """Whether the actor is one of the approvers the node would ask (who may undo its auto-approval)."""
    defn = _definition(session, instance)
    node = defn.nodes_by_key.get(node_key)
    if node is None or node.type != "approval":
        return False
    state = FlowState.from_json(instance.state)
    users = resolve_people(node.assignees, node_key=node_key, directory=load_directory(session),
                           facts=order_facts(order), initiator_id=state.initiator_id, chosen=state.chosen_approvers)
    return actor.user_id in users


def may_undo_auto(session: Session, actor: Actor, instance_id: int, node_key: str) -> bool:
    """Whether the actor may undo the node's auto-approval (admins, approvers, the node's approvers)."""
    if not actor.can_write:
        return False
    if actor.has_role("admin", "approver"):
        return True
    instance = session.get(FlowInstance, instance_id)
    order = session.get(Order, instance.order_id) if instance else None
    return bool(instance and order and _approves(session, instance, order, node_key, actor))


def act_on_instance(session: Session, *, actor: Actor, instance_id: int, body: InstanceAction,
                    now: datetime) -> FlowInstanceRead:
    """The initiator withdraws, urges or resubmits; an approver or admin undoes an auto-approval."""
    if not actor.can_write:
        raise GendanError("auth.forbidden")
    instance = _lock(session, instance_id)
    order = get_visible_order(session, actor, instance.order_id)
    if body.action == "undo_auto_approval":
        if not body.node_key:
            raise error("flow.auto_approval_not_found", node_key="")
        if not (actor.has_role("admin", "approver") or _approves(session, instance, order, body.node_key, actor)):
            raise GendanError("auth.forbidden")
        event: Any = UndoAutoApproval(actor_id=actor.user_id, node_key=body.node_key, note=body.note)
    elif body.action == "withdraw":
        event = Withdraw(actor_id=actor.user_id, note=body.note)
    elif body.action == "urge":
        event = Urge(actor_id=actor.user_id, node_key=body.node_key, note=body.note)
    else:
        event = Resubmit(actor_id=actor.user_id, note=body.note)
    _advance(session, instance, event, actor=actor, now=now, order=order)
    if body.action == "urge":
        order.urge_count = (order.urge_count or 0) + 1
    session.commit()
    return instance_read(session, instance)


# --- timers ------------------------------------------------------------------------------------


def _schedule_timer(session: Session, effect: fx.ScheduleTimer, *, order, actor, now) -> list:
    exists = session.exec(select(FlowTimer.id).where(FlowTimer.dedupe_key == effect.dedupe_key)).first()
    if exists or effect.payload.get("flow_instance_id") is None:
        return []
    timer = FlowTimer(dedupe_key=effect.dedupe_key, instance_id=effect.payload["flow_instance_id"],
                      kind=effect.kind, fire_at=effect.fire_at, payload=dict(effect.payload), created_at=now)
    session.add(timer)
    return [timer]


def _cancel_timer(session: Session, effect: fx.CancelTimer, *, order, actor, now) -> list:
    session.execute(update(FlowTimer).where(FlowTimer.dedupe_key == effect.timer_dedupe_key,
                                            FlowTimer.state == "pending").values(state="cancelled")
                    .execution_options(synchronize_session=False))
    return []


def _start_flow_effect(session: Session, effect: fx.StartFlow, *, order, actor, now) -> list:
    if order is None:
        return []
    instance = start_flow(session, order=order, actor=actor, now=now, key=effect.flow_key)
    return [instance] if instance else []


def run_due_timers(bind, now: datetime, *, limit: int = 100) -> int:
    """Fire every due timer (one transaction each); returns how many fired."""
    from backend.db import new_session

    fired = 0
    with new_session(bind) as session:
        query = (select(FlowTimer).where(FlowTimer.state == "pending", FlowTimer.fire_at <= now,
                                         (FlowTimer.locked_until.is_(None)) | (FlowTimer.locked_until < now))
                 .order_by(FlowTimer.fire_at, FlowTimer.id).limit(limit))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        timers = list(session.exec(query).scalars().all())
        for timer in timers:
            timer.locked_until = now + TIMER_LEASE
            timer.attempts += 1
        session.commit()
        for timer in timers:
            fired += _fire(session, timer.id, now)
    return fired


def _fire(session: Session, timer_id: int, now: datetime) -> int:
    timer = session.get(FlowTimer, timer_id)
    if timer is None or timer.state != "pending":
        return 0
    instance = _lock(session, timer.instance_id)
    event = TimerFired(kind=timer.kind, token_id=timer.payload["token_id"], n=timer.payload.get("n", 0))
    try:
        _advance(session, instance, event, actor=SYSTEM, now=now)
    except GendanError as exc:
        session.rollback()
        timer = session.get(FlowTimer, timer_id)
        timer.state = "stale" if exc.code in ("flow.timer_stale", "flow.not_running") else "pending"
        session.commit()
        return 0
    timer.state = "done"
    timer.fired_at = now
    session.commit()
    return 1


# --- order-change pipeline stages (assembled in backend/pipeline_assembly.py) -----------------


def on_order_change(session: Session, change: OrderChange) -> None:
    """Flows stage. New open order at the beginning (stage `draft`): start the default flow. An
    order created at a later stage (imported history, an ERP migration) keeps its stage, and one
    created closed (an imported cancelled or completed row) needs no work: neither starts a flow
    (one is started by hand if wanted). Changed order: waits and blocked steps look again (except
    the flow whose own step made this change)."""
    order = change.order
    if change.is_new:
        if order.stage == "draft" and order.status == "open":
            start_flow(session, order=order, actor=change.actor, now=change.now)
        return
    advancing = session.info.get(_ADVANCING, set())
    running = session.exec(select(FlowInstance).where(FlowInstance.order_id == order.id,
                                                      FlowInstance.status == "running")).scalars().all()
    for instance in running:
        if instance.id in advancing:
            continue
        try:
            _advance(session, _lock(session, instance.id), FieldsChanged(), actor=change.actor, now=change.now,
                     order=order)
        except GendanError as exc:
            if exc.code != "flow.not_running":
                raise


def on_order_changes(session: Session, changes: list[OrderChange]) -> None:
    """The flows stage for many changes at once (the bulk import, bulk rule firing): the changed
    orders' running flows found in one query, so an order with none costs nothing; each order with
    one (and each new order) goes through `on_order_change` as alone."""
    changed = [c.order.id for c in changes if not c.is_new]
    running: set[int] = set()
    for start in range(0, len(changed), 1000):
        running.update(session.exec(select(FlowInstance.order_id).where(
            FlowInstance.order_id.in_(changed[start:start + 1000]), FlowInstance.status == "running")).scalars())
    for change in changes:
        if change.is_new or change.order.id in running:
            on_order_change(session, change)


def refuse_stage_while_running(session: Session, change: OrderChange) -> None:
    """Check stage: while a flow runs on the order, the flow moves its stage. A person (or an
    import or webhook) setting the stage by hand would be overwritten by the flow's next step, so
    it is refused; the flow's own moves and rules' effects (depth > 0) pass."""
    if change.is_new or change.depth > 0 or "stage" not in change.changed_fields:
        return
    running = session.exec(select(FlowInstance.flow_key).where(FlowInstance.order_id == change.order.id,
                                                               FlowInstance.status == "running")).first()
    if running is not None:
        raise error("flow.stage_held", key=running)


def effect_appliers() -> dict[type, Any]:
    """The flow effects backend/effects.py leaves to this package."""
    return {fx.ScheduleTimer: _schedule_timer, fx.CancelTimer: _cancel_timer, fx.StartFlow: _start_flow_effect}


# --- reading -----------------------------------------------------------------------------------


def _name(defn: FlowDefinition, key: str | None) -> str | None:
    if key is None or key not in defn.nodes_by_key:
        return key
    name = defn.node(key).name
    return name.get("zh-CN") or name.get("en") or key


def instance_read(session: Session, instance: FlowInstance) -> FlowInstanceRead:
    defn = _definition(session, instance)
    state = FlowState.from_json(instance.state)
    user_ids = {t.assignee_id for t in state.tasks} | {h.actor_id for h in state.history if h.actor_id}
    names = dict(session.exec(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    visible_history = [h for h in state.history if h.action not in ("node_entered", "join_arrived")]
    return FlowInstanceRead(
        id=instance.id, order_id=instance.order_id, flow_key=instance.flow_key, flow_version=instance.flow_version,
        status=state.status, version=instance.version, initiator_id=state.initiator_id,
        active_nodes=state.active_node_keys(), path=state.path(),
        visited=list(dict.fromkeys(h.node_key for h in state.history if h.action == "node_entered" and h.node_key)),
        tasks=[TaskRead(id=t.id, node_key=t.node_key, node_name=_name(defn, t.node_key) or t.node_key, kind=t.kind,
                        assignee_id=t.assignee_id, assignee_name=names.get(t.assignee_id, str(t.assignee_id)),
                        status=t.status, outcome=t.outcome, created_at=t.created_at, due_at=t.due_at,
                        closed_at=t.closed_at, note=t.note) for t in state.tasks],
        history=[HistoryRead(at=h.at, action=h.action, node_key=h.node_key, node_name=_name(defn, h.node_key),
                             actor_name=names.get(h.actor_id) if h.actor_id else None, note=h.note,
                             reason=_reason(h.params.get("reason")) if h.action == "auto_approved" else {})
                 for h in visible_history],
        definition=defn.to_json(),
        undoable_auto=auto_rules.undoable(state),
    )


def _reason(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def list_order_flows(session: Session, *, actor: Actor, order_id: int) -> list[FlowInstanceRead]:
    get_visible_order(session, actor, order_id)
    rows = session.exec(select(FlowInstance).where(FlowInstance.order_id == order_id)
                        .order_by(FlowInstance.id)).scalars().all()
    return [instance_read(session, r) for r in rows]
