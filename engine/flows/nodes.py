"""What each node type does when a token arrives (`Run.enter` counts the visit and dispatches here).

Split from run.py so the working copy (tokens, to-dos, timers) and the node semantics read apart:
one function per node type in `ENTER`, plus the helpers the time-out and migration paths
(actions.py, migrate.py) reuse to assign people, choose a branch or arm a wait again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from engine import effects as fx
from engine.flows import auto as auto_rules
from engine.flows.logic import fact, truthy
from engine.flows.state import Arrival, Completed, Token

if TYPE_CHECKING:
    from engine.flows.run import Run


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


def _new_token(run: Run, node, visit: int, branch, prev) -> Token:
    return Token(
        id=run.next_id("tok"), node_key=node.key, visit=visit, entered_at=run.now, branch=branch, prev=prev
    )


# -- one function per node type --------------------------------------------------------------


def enter_start(run: Run, node, visit: int, branch, prev) -> None:
    run.leave(node.key, branch, prev)


def enter_end(run: Run, node, visit: int, branch, prev) -> None:
    run.finish(node.status)
    run.log("finished", node_key=node.key, status=node.status)
    run.effects.append(fx.CompleteOrder(dedupe_key=f"{run.prefix}complete", status=node.status))


def enter_parallel_split(run: Run, node, visit: int, branch, prev) -> None:
    for edge in run.defn.outgoing(node.key):
        run.follow(edge, (*branch, f"{node.key}#{visit}:{edge.key}"), prev)


def enter_parallel_join(run: Run, node, visit: int, branch, prev) -> None:
    arrive(run, node, branch, prev)


def enter_notify(run: Run, node, visit: int, branch, prev) -> None:
    users = run.resolve(node.recipients, node.key)
    if users:
        run.effects.append(
            fx.Notify(
                dedupe_key=f"{run.prefix}cc:{node.key}:{visit}",
                user_ids=tuple(users),
                title=node.title or run.name_of(node.key),
                body=node.body,
            )
        )
    run.leave(node.key, branch, prev)


def enter_wait(run: Run, node, visit: int, branch, prev) -> None:
    token = _new_token(run, node, visit, branch, prev)
    run.state.tokens.append(token)
    arm_wait(run, node, token)


def enter_auto(run: Run, node, visit: int, branch, prev) -> None:
    for field_name, value in node.set_fields.items():
        run.effects.append(
            fx.SetField(
                dedupe_key=f"{run.prefix}set:{node.key}:{visit}:{field_name}", field=field_name, value=value
            )
        )
        run.facts[field_name] = value
    if node.webhook_url:
        run.effects.append(
            fx.CallWebhook(
                dedupe_key=f"{run.prefix}hook:{node.key}:{visit}",
                url=node.webhook_url,
                payload={
                    "flow_key": run.defn.key,
                    "node_key": node.key,
                    "instance_id": run.state.instance_id,
                },
                secret_ref=node.webhook_secret_ref,
            )
        )
    run.leave(node.key, branch, prev)


def enter_people(run: Run, node, visit: int, branch, prev) -> None:
    if node.type == "approval" and auto_approved(run, node, branch, prev):
        return
    token = _new_token(run, node, visit, branch, prev)
    if node.time_limit:
        token.due_at = run.due_after(node.time_limit.hours, node.time_limit.unit)
    run.state.tokens.append(token)
    if not assign(run, node, token):
        return
    if node.time_limit:
        run.schedule(token, "flow.timeout", token.due_at)


def auto_approved(run: Run, node, branch, prev) -> bool:
    """The node's auto-approval (engine/flows/auto.py): when its condition holds, the system
    approves, the history and the order timeline carry the condition in words, and the node is
    done without a to-do. Not after a person undid it in this step (`run.skip_auto`)."""
    auto = getattr(node, "auto_approve", None)
    if auto is None or not auto.enabled or node.key in run.skip_auto:
        return False
    outcome = auto_rules.decide(auto, run.facts)
    if not outcome.approve:
        if outcome.problem:
            run.log("auto_skipped", node_key=node.key, reason=outcome.problem)
        return False
    words = auto_rules.condition_words(auto.condition)
    run.state.completed[node.key] = Completed(branch=branch, prev=prev)
    run.state.has_decision = True
    run.log("auto_approved", node_key=node.key, note=words.get("en", ""), reason=words,
            condition=auto.condition)
    run.leave(node.key, branch, node.key)
    return True


def assign(run: Run, node, token: Token) -> bool:
    """Create the node's to-dos. False when the node was skipped or is blocked."""
    users = run.resolve(node.assignees, node.key)
    origin = "assigned"
    if not users and node.on_no_approver == "admin":
        users = [u for u in run.directory.admin_ids() if run.directory.is_active(u)]
        origin = "admin"
    if not users:
        if node.on_no_approver == "skip":
            run.log("skipped", node_key=node.key, reason="no_approver")
            run.state.tokens = [t for t in run.state.tokens if t.id != token.id]
            run.leave(node.key, token.branch, token.prev)
            return False
        token.blocked = "no_approver"
        run.log("blocked", node_key=node.key, reason="no_approver")
        admins = tuple(run.directory.admin_ids())
        if admins:
            run.effects.append(
                fx.Notify(
                    dedupe_key=f"{run.prefix}blocked:{token.id}",
                    user_ids=admins,
                    title=run.name_of(node.key),
                    body="flow.no_approver",
                )
            )
        return False
    token.blocked = None
    kind = node.type
    if node.mode == "in_sequence":
        before = None
        for uid in users:
            task = run.make_task(token, node.key, kind, uid, queued_after=before, origin=origin)
            before = task.id
    else:
        pool = node.mode == "any_of"
        for uid in users:
            run.make_task(token, node.key, kind, uid, origin=origin, pool=pool)
    return True


def enter_exclusive(run: Run, node, visit: int, branch, prev) -> None:
    default = None
    for edge in run.defn.outgoing(node.key):
        if edge.is_default:
            default = default or edge
            continue
        try:
            chosen = truthy(edge.condition, run.facts) if edge.condition is not None else False
        except Exception:  # noqa: BLE001 - a condition that fails on this data is false
            chosen = False
        if chosen:
            run.follow(edge, branch, prev)
            return
    if default is not None:
        run.follow(default, branch, prev)
        return
    token = _new_token(run, node, visit, branch, prev)
    token.blocked = "no_branch"
    run.state.tokens.append(token)
    run.log("blocked", node_key=node.key, reason="no_branch")


def arrive(run: Run, node, branch: tuple[str, ...], prev) -> None:
    if not branch:
        run.leave(node.key, branch, prev)  # a join outside any split just passes through
        return
    entry = branch[-1]
    split_instance = entry.split(":", 1)[0]
    split_key = split_instance.split("#", 1)[0]
    parent = branch[:-1]
    run.state.arrivals.append(Arrival(join_key=node.key, branch=branch))
    mine = [
        a
        for a in run.state.arrivals
        if a.join_key == node.key
        and a.branch[:-1] == parent
        and a.branch[-1].split(":", 1)[0] == split_instance
    ]
    needed = len(run.defn.outgoing(split_key))
    arrived = {a.branch[-1] for a in mine}
    run.log("join_arrived", node_key=node.key, branch=entry, arrived=len(arrived), needed=needed)
    if len(arrived) < needed:
        return
    run.state.arrivals = [a for a in run.state.arrivals if a not in mine]
    run.log("join_fired", node_key=node.key, split=split_instance)
    run.leave(node.key, parent, prev)


def arm_wait(run: Run, node, token: Token) -> None:
    if node.until_field:
        until = _as_datetime(fact(run.facts, node.until_field), run.defn.calendar.zone)
        if until is None:
            token.blocked = "waiting_for_field"
            return
        token.blocked = None
    else:
        until = run.due_after(node.hours or 0, node.unit)
    until = until.astimezone(UTC)
    if until <= run.now:
        run.drop_token(token)
        run.leave(node.key, token.branch, token.prev)
        return
    token.due_at = until
    run.schedule(token, "flow.wait", until)


ENTER: dict[str, Callable[..., None]] = {
    "start": enter_start,
    "end": enter_end,
    "approval": enter_people,
    "task": enter_people,
    "exclusive": enter_exclusive,
    "parallel_split": enter_parallel_split,
    "parallel_join": enter_parallel_join,
    "notify": enter_notify,
    "wait": enter_wait,
    "auto": enter_auto,
}
