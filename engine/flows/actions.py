"""What each event does to a run: approve, reject, send back, transfer, add a signer, comment,
withdraw, urge, resubmit, complete, timers and changed fields.

Each handler either raises `FlowError` (the caller keeps the old state) or changes the run's copy.
"""

from __future__ import annotations

from engine import effects as fx
from engine.flows import nodes, timeouts
from engine.flows.errors import FlowError
from engine.flows.events import (
    AddSigner,
    Approve,
    Comment,
    CompleteNode,
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
from engine.flows.run import Run
from engine.flows.state import Task, Token


def _on_start(run: Run, event: Start) -> None:
    if run.state.status != "not_started":
        raise FlowError("flow.already_started", status=run.state.status)
    run.state.instance_id = event.instance_id
    run.state.initiator_id = event.initiator_id
    run.state.chosen_approvers = {k: list(v) for k, v in event.chosen_approvers.items()}
    run.state.status = "running"
    run.log("started", actor_id=event.initiator_id)
    run.enter(run.defn.start_node().key, (), None, edge_key=None)


def _on_approve(run: Run, event: Approve) -> None:
    task = run.open_task(event.task_id, event.actor_id, ("approval",))
    node = run.defn.node(task.node_key)
    if event.values:
        run.apply_values(node, event.values)
    elif node.required_fields:
        run.apply_values(node, {})
    run.state.has_decision = True
    run.log("approved", node_key=task.node_key, actor_id=event.actor_id, task_id=task.id, note=event.note)
    run.approve_task(task, event.actor_id, event.note)


def _on_complete(run: Run, event: CompleteTask) -> None:
    found = run.state.task(event.task_id) if event.by_system else None
    task = run.open_task(event.task_id, found.assignee_id if found else event.actor_id, ("task",))
    node = run.defn.node(task.node_key)
    run.apply_values(node, event.values)
    run.state.has_decision = True
    run.log(
        "task_completed", node_key=task.node_key, actor_id=event.actor_id, task_id=task.id, note=event.note
    )
    run.approve_task(task, event.actor_id, event.note, outcome="completed")


def _on_reject(run: Run, event: Reject) -> None:
    task = run.open_task(event.task_id, event.actor_id, ("approval",))
    run.state.has_decision = True
    run.reject_flow(task, event.actor_id, event.note)


def _on_send_back(run: Run, event: SendBack) -> None:
    task = run.open_task(event.task_id, event.actor_id, ("approval", "task"))
    target = None
    if event.to == "previous":
        target = run.state.token(task.token_id).prev
    elif event.to == "node":
        if not event.node_key:
            raise FlowError("flow.send_back_target_missing")
        target = event.node_key
        if target not in run.state.completed or target not in run.defn.nodes_by_key:
            raise FlowError("flow.send_back_target_invalid", node_key=target)
    run.send_back(task, target, event.actor_id, event.note)


def _on_transfer(run: Run, event: Transfer) -> None:
    task = run.open_task(event.task_id, event.actor_id, ("approval", "task"))
    if event.to_user_id == event.actor_id:
        raise FlowError("flow.transfer_to_self", task_id=task.id)
    if not run.directory.is_active(event.to_user_id):
        raise FlowError("flow.user_inactive", user_id=event.to_user_id)
    run.hand_over(task, event.to_user_id, "transferred", event.actor_id, event.note)
    run.log(
        "transferred",
        node_key=task.node_key,
        actor_id=event.actor_id,
        task_id=task.id,
        note=event.note,
        to_user_id=event.to_user_id,
    )


def _on_add_signer(run: Run, event: AddSigner) -> None:
    """加签: the added signers approve before the actor (who waits), or after (the actor approves now)."""
    task = run.open_task(event.task_id, event.actor_id, ("approval",))
    bad = [u for u in event.user_ids if u == event.actor_id or not run.directory.is_active(u)]
    if bad:
        raise FlowError("flow.signer_invalid", user_ids=bad)
    token = run.state.token(task.token_id)
    if event.position == "before":
        _add_signers_before(run, task, token, event.user_ids)
    else:
        _add_signers_after(run, task, token, event)
    run.log(
        "signer_added",
        node_key=task.node_key,
        actor_id=event.actor_id,
        task_id=task.id,
        note=event.note,
        position=event.position,
        user_ids=list(event.user_ids),
    )


def _add_signers_before(run: Run, task: Task, token: Token, user_ids) -> None:
    """The actor's to-do waits (queued) behind the added signers, who sign one after another."""
    task.status = "queued"
    previous = None
    for uid in user_ids:
        added = run.make_task(
            token,
            task.node_key,
            "approval",
            uid,
            queued_after=previous,
            origin="add_before",
            on_behalf_of=task.id,
        )
        previous = added.id
    task.waits_for = previous
    run.effects.append(
        fx.CloseTodo(
            dedupe_key=f"{run.prefix}close:{task.id}:{task.activations}",
            todo_dedupe_key=run.todo_key(task),
            outcome="superseded",
        )
    )


def _add_signers_after(run: Run, task: Task, token: Token, event: AddSigner) -> None:
    """The actor approves now; the node also waits for the added signers, one after another."""
    run.state.has_decision = True
    run.close_task(task, "done", "approved", event.actor_id, event.note)
    if task.pool:
        for other in run.node_tasks(token.id, "pending", "queued"):
            if other.pool:
                run.close_task(other, "cancelled", "superseded")
    previous = None
    for uid in event.user_ids:
        added = run.make_task(
            token, task.node_key, "approval", uid, queued_after=previous, origin="add_after"
        )
        previous = added.id
    for other in run.state.tasks:
        if other.status == "queued" and other.waits_for == task.id:
            other.waits_for = previous


def _on_comment(run: Run, event: Comment) -> None:
    if run.state.status == "not_started":
        raise FlowError("flow.not_running", status=run.state.status)
    node_key = None
    if event.task_id is not None:
        task = run.state.task(event.task_id)
        if task is None:
            raise FlowError("flow.task_not_found", task_id=event.task_id)
        node_key = task.node_key
    run.log(
        "commented",
        node_key=node_key,
        actor_id=event.actor_id,
        task_id=event.task_id,
        note=event.note,
        attachments=list(event.attachments),
    )


def _on_withdraw(run: Run, event: Withdraw) -> None:
    if event.actor_id != run.state.initiator_id:
        raise FlowError("flow.not_initiator", actor_id=event.actor_id)
    run.require_running()
    if run.state.has_decision:
        raise FlowError("flow.already_decided")
    run.finish("withdrawn")
    run.log("withdrawn", actor_id=event.actor_id, note=event.note)


def _on_urge(run: Run, event: Urge) -> None:
    if event.actor_id != run.state.initiator_id:
        raise FlowError("flow.not_initiator", actor_id=event.actor_id)
    run.require_running()
    pending = [t for t in run.state.pending_tasks() if event.node_key in (None, t.node_key)]
    if not pending:
        raise FlowError("flow.nothing_to_urge", node_key=event.node_key)
    run.state.urge_count += 1
    run.effects.append(
        fx.Notify(
            dedupe_key=f"{run.prefix}urge:{run.state.urge_count}",
            user_ids=tuple(sorted({t.assignee_id for t in pending})),
            title=run.name_of(pending[0].node_key),
            body=event.note or "flow.urged",
            channels=("in_app", "email"),
        )
    )
    run.log(
        "urged",
        node_key=event.node_key,
        actor_id=event.actor_id,
        note=event.note,
        task_ids=[t.id for t in pending],
    )


def _on_resubmit(run: Run, event: Resubmit) -> None:
    if event.actor_id != run.state.initiator_id:
        raise FlowError("flow.not_initiator", actor_id=event.actor_id)
    if run.state.status not in ("rejected", "withdrawn", "sent_back"):
        raise FlowError("flow.cannot_resubmit", status=run.state.status)
    for task in run.state.open_tasks():
        run.close_task(task, "done", "resubmitted", event.actor_id, event.note)
    run.state.status = "running"
    run.state.has_decision = False
    run.state.completed = {}
    run.log("resubmitted", actor_id=event.actor_id, note=event.note)
    run.enter(run.defn.start_node().key, (), None, edge_key=None)


def _on_timer(run: Run, event: TimerFired) -> None:
    token = run.state.token(event.token_id)
    if run.state.status != "running" or token is None or token.timer_n != event.n:
        raise FlowError("flow.timer_stale", token_id=event.token_id, n=event.n)
    node = run.defn.node(token.node_key)
    if event.kind == "flow.wait":
        if node.type != "wait":
            raise FlowError("flow.timer_stale", token_id=event.token_id, n=event.n)
        run.log("wait_over", node_key=node.key)
        token.timer_n = 0  # this timer fired; nothing to cancel
        run.drop_token(token)
        run.leave(node.key, token.branch, token.prev)
        return
    if node.time_limit is None:
        raise FlowError("flow.timer_stale", token_id=event.token_id, n=event.n)
    timeouts.on_time_limit(run, node, token)


def _on_fields_changed(run: Run, event: FieldsChanged) -> None:
    run.require_running()
    for token in list(run.state.tokens):
        if run.state.token(token.id) is None or run.state.status != "running":
            continue
        node = run.defn.node(token.node_key)
        if (
            node.type == "wait"
            and node.until_field
            and (not event.fields or node.until_field in event.fields)
        ):
            nodes.arm_wait(run, node, token)
        elif node.type in ("approval", "task") and token.blocked == "no_approver":
            if nodes.assign(run, node, token) and node.time_limit:
                run.schedule(token, "flow.timeout", token.due_at)
        elif node.type == "exclusive" and token.blocked == "no_branch":
            run.drop_token(token)
            nodes.enter_exclusive(run, node, token.visit, token.branch, token.prev)


def _on_complete_node(run: Run, event: CompleteNode) -> None:
    run.require_running()
    open_tasks = [t for t in run.state.tasks if t.node_key == event.node_key and t.kind == "task"
                  and t.status in ("pending", "queued")]
    if not open_tasks:
        raise FlowError("flow.task_not_found", task_id=event.node_key)
    run.state.has_decision = True
    for _ in range(len(open_tasks)):  # queued ones open as the ones before them close
        task = next((t for t in run.state.tasks if t.node_key == event.node_key and t.kind == "task"
                     and t.status == "pending"), None)
        if task is None or run.state.status != "running":
            break
        run.log("task_completed", node_key=task.node_key, actor_id=None, task_id=task.id, note=event.note)
        run.approve_task(task, None, event.note, outcome="completed_by_system")


def _on_undo_auto(run: Run, event: UndoAutoApproval) -> None:
    run.undo_auto_approval(event.node_key, event.actor_id, event.note)


HANDLERS = {
    Start: _on_start,
    Approve: _on_approve,
    Reject: _on_reject,
    SendBack: _on_send_back,
    Transfer: _on_transfer,
    AddSigner: _on_add_signer,
    Comment: _on_comment,
    Withdraw: _on_withdraw,
    Urge: _on_urge,
    Resubmit: _on_resubmit,
    CompleteTask: _on_complete,
    TimerFired: _on_timer,
    FieldsChanged: _on_fields_changed,
    CompleteNode: _on_complete_node,
    UndoAutoApproval: _on_undo_auto,
}
