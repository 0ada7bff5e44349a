"""When a people node's time limit runs out: the ladder of successive time-outs.

Each time-out of one node visit climbs one rung, and the clock restarts after every rung but the
last, so a to-do nobody handles keeps moving instead of going quiet:

    remind     remind, remind, remind
    escalate   manager, … (`levels` rungs up), then a reminder to whoever holds it last
    climb      remind, manager, manager's manager, … (`levels` rungs up), then a reminder
    send_back  sent back as the holder's 退回 to the previous step would be (or to the initiator)
    auto_approve / auto_reject / reassign   once

Escalating goes to the manager of whoever holds the to-do now, which is what makes the next rung
the manager's manager; at the top of the org chart (no manager, or an inactive one) the admins
take it, once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine import effects as fx
from engine.flows.run import MAX_REMINDERS
from engine.flows.state import Task, Token

if TYPE_CHECKING:
    from engine.flows.run import Run


def ladder(limit) -> list[str]:
    """What each successive time-out of one node visit does, in order."""
    if limit.on_timeout == "remind":
        return ["remind"] * MAX_REMINDERS
    if limit.on_timeout == "escalate":
        return ["escalate"] * limit.levels + ["remind"]
    if limit.on_timeout == "climb":
        return ["remind"] + ["escalate"] * limit.levels + ["remind"]
    return [limit.on_timeout]


def on_time_limit(run: Run, node, token: Token) -> None:
    """The visit's time limit ran out (its timer fired): take the next rung of the ladder."""
    limit = node.time_limit
    rungs = ladder(limit)
    token.timeouts += 1
    rung = rungs[min(token.timeouts, len(rungs)) - 1]
    pending = run.node_tasks(token.id, "pending")
    run.log("timed_out", node_key=node.key, on_timeout=limit.on_timeout, does=rung, rung=token.timeouts)
    restart = token.timeouts < len(rungs)
    if restart:  # the new holder's to-do is due when the restarted clock runs out
        token.due_at = run.due_after(limit.hours, limit.unit)
    if rung == "remind":
        _remind(run, node, token, pending)
    elif rung == "escalate":
        for task in pending:
            _escalate(run, task)
    elif rung == "reassign":
        targets = run.resolve([limit.reassign_to], node.key) if limit.reassign_to else []
        for task in pending:
            _hand_to_first(run, task, targets, "reassigned")
    elif rung == "send_back" and pending:
        run.send_back(pending[0], token.prev, None, "flow.timed_out")
    elif rung == "auto_approve":
        _auto_approve(run, token, pending)
    elif rung == "auto_reject":
        run.reject_flow(None, None, "flow.timed_out")
    if restart and run.state.token(token.id) is token:
        run.schedule(token, "flow.timeout", token.due_at)


def _remind(run: Run, node, token: Token, pending: list[Task]) -> None:
    if pending:
        run.effects.append(
            fx.Notify(
                dedupe_key=f"{run.prefix}remind:{token.id}:{token.timer_n}",
                user_ids=tuple(sorted({t.assignee_id for t in pending})),
                title=run.name_of(node.key),
                body="flow.overdue",
                channels=("in_app", "email"),
            )
        )


def _escalate(run: Run, task: Task) -> None:
    manager = run.directory.manager_of(task.assignee_id)
    _hand_to_first(run, task, [manager] if manager is not None else [], "escalated")


def _hand_to_first(run: Run, task: Task, targets: list[int], outcome: str) -> None:
    """Give the task to the first active target, else to an admin; never back to its holder."""
    targets = [u for u in targets if run.directory.is_active(u)] or list(run.directory.admin_ids())
    if targets and targets[0] != task.assignee_id:
        run.hand_over(task, targets[0], outcome, None, "")


def _auto_approve(run: Run, token: Token, pending: list[Task]) -> None:
    for task in pending:
        if task.status == "pending":
            run.approve_task(task, None, "", outcome="auto_approved")
            if run.state.token(token.id) is None:
                break
    if run.state.token(token.id) is not None:
        run.complete_node(token, None)
