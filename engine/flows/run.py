"""The working copy of one step: tokens, to-dos, timers and the effects they cause.

`Run` holds a deep copy of the instance state and mutates only that copy; `step()` (step.py)
hands it to the event's handler (actions.py) and returns the copy with the collected effects.
`enter` moves a token onto a node and hands it to that node type's function in nodes.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from engine import effects as fx
from engine.calendar import add_working_hours
from engine.flows import nodes
from engine.flows.definition import FlowDefinition
from engine.flows.directory import Directory, resolve
from engine.flows.errors import FlowError
from engine.flows.logic import fact
from engine.flows.state import Completed, FlowState, HistoryEntry, Task, Token

# Automatic nodes (branches, notifications, auto steps) chained in a loop would never stop.
MAX_AUTOMATIC_MOVES = 150
# the order's date columns a step may ask for: a value that is not a date is refused here, as the
# order's column could not hold it (free text from a form or an API call was a 500)
DATE_COLUMNS = ("planned_delivery", "payment_due")
MAX_REMINDERS = 3


def has_value(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


class Run:
    def __init__(
        self,
        defn: FlowDefinition,
        state: FlowState,
        now: datetime,
        directory: Directory,
        facts: dict[str, Any],
    ):
        self.defn = defn
        self.state = state
        self.now = now
        self.directory = directory
        self.facts = facts
        self.effects: list[Any] = []
        self.moves = 0
        self.skip_auto: set[str] = set()  # approval nodes a person just took back from auto-approval

    # -- small helpers --------------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return f"flow:{self.state.instance_id or 0}:"

    def next_id(self, stem: str) -> str:
        self.state.seq += 1
        return f"{stem}-{self.state.seq}"

    def log(
        self, action: str, *, node_key=None, actor_id=None, task_id=None, edge_key=None, note="", **params
    ):
        self.state.history.append(
            HistoryEntry(
                at=self.now,
                action=action,
                node_key=node_key,
                actor_id=actor_id,
                task_id=task_id,
                edge_key=edge_key,
                note=note,
                params=params,
            )
        )
        data = {
            k: v for k, v in {"node_key": node_key, "task_id": task_id, "edge_key": edge_key}.items() if v
        }
        data.update(params)
        self.effects.append(
            fx.RecordEvent(
                dedupe_key=f"{self.prefix}event:{len(self.state.history)}",
                type=f"flow.{action}",
                actor_id=actor_id,
                note=note,
                data=data,
            )
        )

    def name_of(self, node_key: str) -> fx.Text:
        """The node's names per locale, rendered in the reader's language later; the key if unnamed."""
        name = {locale: text for locale, text in self.defn.node(node_key).name.items() if text}
        return name or node_key

    def require_running(self) -> None:
        if self.state.status != "running":
            raise FlowError("flow.not_running", status=self.state.status)

    def open_task(self, task_id: str, actor_id: int, kinds: tuple[str, ...]) -> Task:
        """The to-do the actor acts on, or a clear refusal (the state stays unchanged)."""
        task = self.state.task(task_id)
        if task is None:
            raise FlowError("flow.task_not_found", task_id=task_id)
        if task.status in ("done", "cancelled"):
            raise FlowError("flow.task_closed", task_id=task_id, outcome=task.outcome)
        if task.assignee_id != actor_id:
            raise FlowError("flow.not_assignee", task_id=task_id, actor_id=actor_id)
        if task.status == "queued":
            raise FlowError("flow.task_not_active", task_id=task_id)
        if task.kind not in kinds:
            raise FlowError("flow.wrong_action", task_id=task_id, kind=task.kind)
        self.require_running()
        return task

    def node_tasks(self, token_id: str, *statuses: str) -> list[Task]:
        return [t for t in self.state.tasks if t.token_id == token_id and t.status in statuses]

    def due_after(self, hours: float, unit: str) -> datetime:
        if unit == "working_hours":
            return add_working_hours(self.now, hours, self.defn.calendar)
        return self.now + timedelta(hours=hours)

    # -- to-dos ---------------------------------------------------------------------------------

    def make_task(
        self,
        token: Token | None,
        node_key: str,
        kind: str,
        assignee: int,
        *,
        queued_after: str | None = None,
        **kw,
    ) -> Task:
        task = Task(
            id=self.next_id(node_key),
            token_id=token.id if token else None,
            node_key=node_key,
            kind=kind,
            assignee_id=assignee,
            status="queued" if queued_after else "pending",
            waits_for=queued_after,
            **kw,
        )
        self.state.tasks.append(task)
        if not queued_after:
            self.activate_task(task, token)
        return task

    def activate_task(self, task: Task, token: Token | None) -> None:
        task.status = "pending"
        task.waits_for = None
        task.activations += 1
        task.created_at = self.now
        task.due_at = token.due_at if token else None
        kind = "approval" if task.kind == "approval" else ("task" if task.kind == "task" else "follow_up")
        self.effects.append(
            fx.CreateTodo(
                dedupe_key=self.todo_key(task),
                kind=kind,
                title=self.name_of(task.node_key),
                assignee_ids=(task.assignee_id,),
                due_at=task.due_at,
                flow_instance_id=self.state.instance_id,
                node_key=task.node_key,
                payload={"task_id": task.id, "flow_key": self.defn.key, "flow_version": self.defn.version},
            )
        )

    def todo_key(self, task: Task) -> str:
        """Dedupe key of the to-do row of the task's current activation."""
        return f"{self.prefix}todo:{task.id}:{task.activations}"

    def close_task(
        self, task: Task, status: str, outcome: str, actor_id: int | None = None, note: str = ""
    ) -> None:
        was_pending = task.status == "pending"
        task.status = status
        task.outcome = outcome
        task.closed_at = self.now
        task.acted_by = actor_id
        task.note = note
        if was_pending:
            self.effects.append(
                fx.CloseTodo(
                    dedupe_key=f"{self.prefix}close:{task.id}",
                    todo_dedupe_key=self.todo_key(task),
                    outcome="done"
                    if status == "done"
                    else ("superseded" if outcome == "superseded" else "cancelled"),
                )
            )
        if status == "cancelled":
            for other in self.state.tasks:
                if other.on_behalf_of == task.id and other.status in ("pending", "queued"):
                    self.close_task(other, "cancelled", outcome)

    def release_waiting(self, done_task: Task) -> None:
        token = self.state.token(done_task.token_id) if done_task.token_id else None
        for other in self.state.tasks:
            if other.status == "queued" and other.waits_for == done_task.id:
                self.activate_task(other, token)

    # -- tokens ---------------------------------------------------------------------------------

    def drop_token(self, token: Token, outcome: str = "cancelled") -> None:
        for task in self.node_tasks(token.id, "pending", "queued"):
            self.close_task(task, "cancelled", outcome)
        if token.timer_n:
            self.effects.append(
                fx.CancelTimer(
                    dedupe_key=f"{self.prefix}cancel:{token.id}:{token.timer_n}",
                    timer_dedupe_key=f"{self.prefix}timer:{token.id}:{token.timer_n}",
                )
            )
        self.state.tokens = [t for t in self.state.tokens if t.id != token.id]

    def schedule(self, token: Token, kind: str, fire_at: datetime) -> None:
        if token.timer_n:
            self.effects.append(
                fx.CancelTimer(
                    dedupe_key=f"{self.prefix}cancel:{token.id}:{token.timer_n}",
                    timer_dedupe_key=f"{self.prefix}timer:{token.id}:{token.timer_n}",
                )
            )
        token.timer_n += 1
        self.effects.append(
            fx.ScheduleTimer(
                dedupe_key=f"{self.prefix}timer:{token.id}:{token.timer_n}",
                fire_at=fire_at,
                kind=kind,
                payload={
                    "token_id": token.id,
                    "n": token.timer_n,
                    "flow_instance_id": self.state.instance_id,
                },
            )
        )

    def finish(self, status: str, note: str = "") -> None:
        """End the instance: every active node and open to-do goes."""
        for token in list(self.state.tokens):
            self.drop_token(token)
        for task in self.state.open_tasks():
            self.close_task(task, "cancelled", status)
        self.state.arrivals = []
        self.state.status = status

    # -- moving forward -------------------------------------------------------------------------

    def follow(self, edge, branch: tuple[str, ...], prev: str | None) -> None:
        self.enter(edge.target, branch, prev, edge_key=edge.key)

    def leave(self, node_key: str, branch: tuple[str, ...], prev: str | None) -> None:
        """Continue along the single outgoing edge of a node."""
        edges = self.defn.outgoing(node_key)
        if not edges:
            raise FlowError("flow.dead_end", node_key=node_key)
        self.follow(edges[0], branch, prev)

    def enter(
        self, node_key: str, branch: tuple[str, ...], prev: str | None, *, edge_key: str | None
    ) -> None:
        """A token arrives at a node: count the visit, enter its stage, then do what its type does."""
        if self.state.status != "running":
            return  # an end node was reached on another branch during this step
        self.moves += 1
        if self.moves > MAX_AUTOMATIC_MOVES:
            raise FlowError("flow.loop_limit", node_key=node_key)
        node = self.defn.node(node_key)
        visit = self.state.visits.get(node_key, 0) + 1
        self.state.visits[node_key] = visit
        self.log("node_entered", node_key=node_key, edge_key=edge_key)
        if node.stage:
            self.effects.append(
                fx.EnterStage(dedupe_key=f"{self.prefix}stage:{node_key}:{visit}", stage=node.stage)
            )
        enter_node = nodes.ENTER.get(node.type)
        if enter_node is None:  # pragma: no cover - the union is closed
            raise FlowError("flow.unknown_node_type", node_key=node_key, type=node.type)
        enter_node(self, node, visit, branch, prev)

    def resolve(self, specs, node_key: str) -> list[int]:
        return resolve(
            specs,
            node_key=node_key,
            directory=self.directory,
            facts=self.facts,
            initiator_id=self.state.initiator_id,
            chosen=self.state.chosen_approvers,
        )

    def complete_node(self, token: Token, actor_id: int | None) -> None:
        self.state.completed[token.node_key] = Completed(branch=token.branch, prev=token.prev)
        self.drop_token(token, outcome="superseded")
        self.log("node_completed", node_key=token.node_key, actor_id=actor_id)
        self.leave(token.node_key, token.branch, token.node_key)

    def check_node_done(self, token: Token, actor_id: int | None) -> None:
        if not self.node_tasks(token.id, "pending", "queued"):
            self.complete_node(token, actor_id)

    # -- decisions ------------------------------------------------------------------------------

    def approve_task(self, task: Task, actor_id: int | None, note: str, outcome: str = "approved") -> None:
        self.close_task(task, "done", outcome, actor_id, note)
        token = self.state.token(task.token_id)
        if task.pool:
            for other in self.node_tasks(token.id, "pending", "queued"):
                if other.pool:
                    self.close_task(other, "cancelled", "superseded")
        self.release_waiting(task)
        self.check_node_done(token, actor_id)

    def hand_over(self, task: Task, to_user: int, outcome: str, actor_id: int | None, note: str) -> Task:
        """Close the task and give the same work to another person (transfer, escalation)."""
        token = self.state.token(task.token_id)
        self.close_task(task, "done", outcome, actor_id, note)
        new = self.make_task(token, task.node_key, task.kind, to_user, origin=outcome, pool=task.pool)
        for other in self.state.tasks:
            if other.status == "queued" and other.waits_for == task.id:
                other.waits_for = new.id
        return new

    def send_back(self, task: Task, target: str | None, actor_id: int | None, note: str) -> None:
        """退回: to the completed node `target` (its branch restarts there), or to the initiator (None)."""
        token = self.state.token(task.token_id)
        self.state.has_decision = True
        if target is None:  # to the initiator (also "previous" on the first people node)
            self.close_task(task, "done", "sent_back", actor_id, note)
            self.finish("sent_back")
            self.log("sent_back", node_key=task.node_key, actor_id=actor_id, note=note, to="initiator")
            if self.state.initiator_id is not None:
                self.make_task(None, self.defn.start_node().key, "resubmit", self.state.initiator_id)
            return
        done = self.state.completed[target]
        if done.branch == token.branch:
            victims = [token]
        elif token.branch[: len(done.branch)] == done.branch:
            depth = len(done.branch)
            victims = [t for t in self.state.tokens if t.branch[:depth] == done.branch]
            self.state.arrivals = [
                a
                for a in self.state.arrivals
                if not (len(a.branch) > depth and a.branch[:depth] == done.branch)
            ]
        else:
            raise FlowError("flow.send_back_target_invalid", node_key=target)
        self.close_task(task, "done", "sent_back", actor_id, note)
        for victim in victims:
            self.drop_token(victim, outcome="sent_back")
        self.log("sent_back", node_key=task.node_key, actor_id=actor_id, note=note, to=target)
        self.enter(target, done.branch, done.prev, edge_key=None)

    def undo_auto_approval(self, node_key: str, actor_id: int, note: str) -> None:
        """A person takes back the system's auto-approval of `node_key`: what followed it on its
        branch is dropped (like 退回 to that node) and the node opens again for its human approvers."""
        self.require_running()
        last = next((h for h in reversed(self.state.history)
                     if h.node_key == node_key and h.action in ("auto_approved", "node_entered")), None)
        if last is None or last.action != "auto_approved" or node_key not in self.state.completed:
            raise FlowError("flow.auto_approval_not_found", node_key=node_key)
        done = self.state.completed[node_key]
        depth = len(done.branch)
        victims = [t for t in self.state.tokens if t.branch[:depth] == done.branch]
        self.state.arrivals = [a for a in self.state.arrivals
                               if not (len(a.branch) > depth and a.branch[:depth] == done.branch)]
        for victim in victims:
            self.drop_token(victim, outcome="sent_back")
        del self.state.completed[node_key]
        self.log("auto_approval_undone", node_key=node_key, actor_id=actor_id, note=note)
        self.skip_auto.add(node_key)
        self.enter(node_key, done.branch, done.prev, edge_key=None)

    def reject_flow(self, task: Task | None, actor_id: int | None, note: str) -> None:
        if task is not None:
            self.close_task(task, "done", "rejected", actor_id, note)
        self.finish("rejected")
        self.log("rejected", node_key=task.node_key if task else None, actor_id=actor_id, note=note)
        if self.state.initiator_id is not None:
            self.effects.append(
                fx.Notify(
                    dedupe_key=f"{self.prefix}rejected:{self.state.seq}",
                    user_ids=(self.state.initiator_id,),
                    title={locale: text for locale, text in self.defn.name.items() if text} or self.defn.key,
                    body="flow.rejected",
                )
            )

    def apply_values(self, node, values: Mapping[str, Any]) -> None:
        blocked = sorted(
            f
            for f in values
            if node.field_permissions.get(f, "editable") != "editable" and f not in node.required_fields
        )
        if blocked:
            raise FlowError("flow.field_not_editable", node_key=node.key, fields=blocked)
        bad = sorted(f for f in values if f in DATE_COLUMNS and not _is_date(values[f]))
        if bad:
            raise FlowError("flow.field_not_a_date", node_key=node.key, fields=bad)
        merged = {**self.facts, **values}
        missing = [f for f in node.required_fields if not has_value(fact(merged, f))]
        if missing:
            raise FlowError("flow.required_fields_missing", node_key=node.key, fields=missing)
        for name, value in values.items():
            self.effects.append(
                fx.SetField(dedupe_key=f"{self.prefix}set:{self.state.seq}:{name}", field=name, value=value)
            )
            self.facts[name] = value


def _is_date(value: Any) -> bool:
    if value is None or isinstance(value, date):
        return True
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return True
