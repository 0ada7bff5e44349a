"""The working copy of one step: tokens, to-dos, timers and the effects they cause.

`Run` holds a deep copy of the instance state and mutates only that copy; `step()` (step.py)
hands it to the event's handler (actions.py) and returns the copy with the collected effects.
Moving forward (`enter`) is here: what each node type does when a token arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine import effects as fx
from engine.calendar import add_working_hours
from engine.flows.definition import FlowDefinition
from engine.flows.directory import Directory, resolve
from engine.flows.errors import FlowError
from engine.flows.logic import fact, truthy
from engine.flows.state import Arrival, Completed, FlowState, HistoryEntry, Task, Token

# Automatic nodes (branches, notifications, auto steps) chained in a loop would never stop.
MAX_AUTOMATIC_MOVES = 150
MAX_REMINDERS = 3


def has_value(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _as_datetime(value: Any, zone) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(0), zone)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    return None


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
        kind = node.type
        if kind == "start":
            self.leave(node_key, branch, prev)
        elif kind == "end":
            self.finish(node.status)
            self.log("finished", node_key=node_key, status=node.status)
            self.effects.append(fx.CompleteOrder(dedupe_key=f"{self.prefix}complete", status=node.status))
        elif kind in ("approval", "task"):
            self.enter_people(node, visit, branch, prev)
        elif kind == "exclusive":
            self.enter_exclusive(node, visit, branch, prev)
        elif kind == "parallel_split":
            for edge in self.defn.outgoing(node_key):
                self.follow(edge, (*branch, f"{node_key}#{visit}:{edge.key}"), prev)
        elif kind == "parallel_join":
            self.arrive(node, branch, prev)
        elif kind == "notify":
            users = self.resolve(node.recipients, node_key)
            if users:
                self.effects.append(
                    fx.Notify(
                        dedupe_key=f"{self.prefix}cc:{node_key}:{visit}",
                        user_ids=tuple(users),
                        title=node.title or self.name_of(node_key),
                        body=node.body,
                    )
                )
            self.leave(node_key, branch, prev)
        elif kind == "wait":
            token = Token(
                id=self.next_id("tok"),
                node_key=node_key,
                visit=visit,
                entered_at=self.now,
                branch=branch,
                prev=prev,
            )
            self.state.tokens.append(token)
            self.arm_wait(node, token)
        elif kind == "auto":
            for field_name, value in node.set_fields.items():
                self.effects.append(
                    fx.SetField(
                        dedupe_key=f"{self.prefix}set:{node_key}:{visit}:{field_name}",
                        field=field_name,
                        value=value,
                    )
                )
                self.facts[field_name] = value
            if node.webhook_url:
                self.effects.append(
                    fx.CallWebhook(
                        dedupe_key=f"{self.prefix}hook:{node_key}:{visit}",
                        url=node.webhook_url,
                        payload={
                            "flow_key": self.defn.key,
                            "node_key": node_key,
                            "instance_id": self.state.instance_id,
                        },
                        secret_ref=node.webhook_secret_ref,
                    )
                )
            self.leave(node_key, branch, prev)
        else:  # pragma: no cover - the union is closed
            raise FlowError("flow.unknown_node_type", node_key=node_key, type=kind)

    def resolve(self, specs, node_key: str) -> list[int]:
        return resolve(
            specs,
            node_key=node_key,
            directory=self.directory,
            facts=self.facts,
            initiator_id=self.state.initiator_id,
            chosen=self.state.chosen_approvers,
        )

    def enter_people(self, node, visit: int, branch, prev) -> None:
        token = Token(
            id=self.next_id("tok"),
            node_key=node.key,
            visit=visit,
            entered_at=self.now,
            branch=branch,
            prev=prev,
        )
        if node.time_limit:
            token.due_at = self.due_after(node.time_limit.hours, node.time_limit.unit)
        self.state.tokens.append(token)
        if not self.assign(node, token):
            return
        if node.time_limit:
            self.schedule(token, "flow.timeout", token.due_at)

    def assign(self, node, token: Token) -> bool:
        """Create the node's to-dos. False when the node was skipped or is blocked."""
        users = self.resolve(node.assignees, node.key)
        origin = "assigned"
        if not users and node.on_no_approver == "admin":
            users = [u for u in self.directory.admin_ids() if self.directory.is_active(u)]
            origin = "admin"
        if not users:
            if node.on_no_approver == "skip":
                self.log("skipped", node_key=node.key, reason="no_approver")
                self.state.tokens = [t for t in self.state.tokens if t.id != token.id]
                self.leave(node.key, token.branch, token.prev)
                return False
            token.blocked = "no_approver"
            self.log("blocked", node_key=node.key, reason="no_approver")
            admins = tuple(self.directory.admin_ids())
            if admins:
                self.effects.append(
                    fx.Notify(
                        dedupe_key=f"{self.prefix}blocked:{token.id}",
                        user_ids=admins,
                        title=self.name_of(node.key),
                        body="flow.no_approver",
                    )
                )
            return False
        token.blocked = None
        kind = node.type
        if node.mode == "in_sequence":
            before = None
            for uid in users:
                task = self.make_task(token, node.key, kind, uid, queued_after=before, origin=origin)
                before = task.id
        else:
            pool = node.mode == "any_of"
            for uid in users:
                self.make_task(token, node.key, kind, uid, origin=origin, pool=pool)
        return True

    def enter_exclusive(self, node, visit: int, branch, prev) -> None:
        default = None
        for edge in self.defn.outgoing(node.key):
            if edge.is_default:
                default = default or edge
                continue
            try:
                chosen = truthy(edge.condition, self.facts) if edge.condition is not None else False
            except Exception:  # noqa: BLE001 - a condition that fails on this data is false
                chosen = False
            if chosen:
                self.follow(edge, branch, prev)
                return
        if default is not None:
            self.follow(default, branch, prev)
            return
        token = Token(
            id=self.next_id("tok"),
            node_key=node.key,
            visit=visit,
            entered_at=self.now,
            branch=branch,
            prev=prev,
        )
        token.blocked = "no_branch"
        self.state.tokens.append(token)
        self.log("blocked", node_key=node.key, reason="no_branch")

    def arrive(self, node, branch: tuple[str, ...], prev) -> None:
        if not branch:
            self.leave(node.key, branch, prev)  # a join outside any split just passes through
            return
        entry = branch[-1]
        split_instance = entry.split(":", 1)[0]
        split_key = split_instance.split("#", 1)[0]
        parent = branch[:-1]
        self.state.arrivals.append(Arrival(join_key=node.key, branch=branch))
        mine = [
            a
            for a in self.state.arrivals
            if a.join_key == node.key
            and a.branch[:-1] == parent
            and a.branch[-1].split(":", 1)[0] == split_instance
        ]
        needed = len(self.defn.outgoing(split_key))
        arrived = {a.branch[-1] for a in mine}
        self.log("join_arrived", node_key=node.key, branch=entry, arrived=len(arrived), needed=needed)
        if len(arrived) < needed:
            return
        self.state.arrivals = [a for a in self.state.arrivals if a not in mine]
        self.log("join_fired", node_key=node.key, split=split_instance)
        self.leave(node.key, parent, prev)

    def arm_wait(self, node, token: Token) -> None:
        if node.until_field:
            until = _as_datetime(fact(self.facts, node.until_field), self.defn.calendar.zone)
            if until is None:
                token.blocked = "waiting_for_field"
                return
            token.blocked = None
        else:
            until = self.due_after(node.hours or 0, node.unit)
        until = until.astimezone(UTC)
        if until <= self.now:
            self.drop_token(token)
            self.leave(node.key, token.branch, token.prev)
            return
        token.due_at = until
        self.schedule(token, "flow.wait", until)

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
        merged = {**self.facts, **values}
        missing = [f for f in node.required_fields if not has_value(fact(merged, f))]
        if missing:
            raise FlowError("flow.required_fields_missing", node_key=node.key, fields=missing)
        for name, value in values.items():
            self.effects.append(
                fx.SetField(dedupe_key=f"{self.prefix}set:{self.state.seq}:{name}", field=name, value=value)
            )
            self.facts[name] = value
