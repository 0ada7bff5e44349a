"""What if this draft had been live? The last N weeks of real orders replayed through the
published rule version and through the draft (engine/replay), side by side. Nothing is written:
no firing, to-do, message or state.

Reads are set-based and bounded: the orders open at some moment of the window (created before its
end, not closed before its start), newest first, at most `MAX_ORDERS`; their events, customers'
tiers and flows in one query per batch of `BATCH` orders. The replay stops at `MAX_EVALUATIONS`
condition evaluations or `TIME_LIMIT_SECONDS`, and says so (`truncated`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.customers.models import Customer
from backend.definitions.lifecycle import require_designer
from backend.errors import GendanError
from backend.flows.models import FlowInstance
from backend.installation.service import installation_calendar
from backend.orders.models import Order, OrderEvent
from backend.people.models import User
from backend.replay import child
from backend.rules import sentences
from backend.rules.context import ORDER, catalogue_for, invalid, parse
from backend.rules.definitions import RULES
from backend.rules.models import RuleDefinitionRow
from engine.facts import Catalogue
from engine.replay.diff import RuleDiff, compare
from engine.replay.rules import OrderTimeline, ReplayResult, replay
from engine.replay.timeline import LoggedEvent, rebuild
from engine.rules.definition import RuleDefinition, load_rule
from engine.rules.validate import validate

MAX_WEEKS = 12
MAX_RULES = 100  # drafts replayed at once (the rule set)
DEFAULT_WEEKS = 4
MAX_ORDERS = 20_000
BATCH = 1_000
MAX_EVALUATIONS = 5_000_000
TIME_LIMIT_SECONDS = 25.0
EXAMPLES = 20  # example orders shown per list (the counts are complete)
PARALLEL_MIN_ORDERS = 1_000  # from this many orders the two versions are replayed in two processes
PROGRESS_POLL = 0.5  # seconds between the parent's looks at the second process once its own part is done

log = logging.getLogger("gendan.whatif")

# a worker run is told (orders done, orders in all) now and then; answering True stops the replay
Progress = Callable[[int, int], bool]


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window(weeks: Any, now: datetime) -> Window:
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= MAX_WEEKS:
        raise GendanError("whatif.weeks_out_of_range", {"max": MAX_WEEKS})
    return Window(now - timedelta(weeks=weeks), now)


def order_ids(session: Session, w: Window, limit: int) -> tuple[list[int], bool]:
    """The orders open at some moment of the window, newest first (at most `limit`)."""
    ids = list(session.exec(
        select(Order.id).where(Order.created_at < w.end, or_(Order.closed_at.is_(None), Order.closed_at >= w.start))
        .order_by(Order.id.desc()).limit(limit + 1)).scalars())
    return ids[:limit], len(ids) > limit


def timelines(session: Session, ids: list[int]) -> Iterator[OrderTimeline]:
    """Each order rebuilt from its event log, read in batches (oldest id first)."""
    ids = sorted(ids)
    for i in range(0, len(ids), BATCH):
        batch = ids[i:i + BATCH]
        rows = session.execute(select(ORDER, Customer.tier).outerjoin(Customer, Customer.id == ORDER.c.customer_id)
                               .where(ORDER.c.id.in_(batch)).order_by(ORDER.c.id)).mappings().all()
        events: dict[int, list[LoggedEvent]] = {}
        for order_id, kind, at, before, after in session.execute(
                select(OrderEvent.order_id, OrderEvent.type, OrderEvent.at, OrderEvent.before, OrderEvent.after)
                # the id range lets PostgreSQL use the (order_id, at, id) index rather than a scan
                .where(OrderEvent.order_id.in_(batch), OrderEvent.order_id.between(batch[0], batch[-1]))
                .order_by(OrderEvent.order_id, OrderEvent.at, OrderEvent.id)):
            events.setdefault(order_id, []).append(LoggedEvent(
                at, kind, before if isinstance(before, dict) else None, after if isinstance(after, dict) else None))
        flows: dict[int, set[str]] = {}
        for order_id, flow_key in session.execute(
                select(FlowInstance.order_id, FlowInstance.flow_key).where(FlowInstance.order_id.in_(batch))):
            flows.setdefault(order_id, set()).add(flow_key)
        for row in rows:
            current = {c.key: row[c] for c in ORDER.columns}
            steps = rebuild(current, events.get(current["id"], []))
            if steps:
                yield OrderTimeline(current["id"], current["number"], tuple(steps), row["tier"],
                                    frozenset(flows.get(current["id"], ())))


def _draft(session: Session, key: str, definition: dict[str, Any] | None,
           catalogue: Catalogue) -> tuple[RuleDefinition, RuleDefinition | None]:
    """(the changed version, the published one or None). A broken draft answers 422 with its issues."""
    published_row = RULES.with_status(session, key, "published")
    draft_row = RULES.with_status(session, key, "draft")
    if published_row is None and draft_row is None:
        raise GendanError("rule.not_found", {"key": key})
    if definition is None:
        if draft_row is None:
            raise GendanError("whatif.nothing_to_compare", {"key": key})
        definition = draft_row.definition
    changed = parse({**definition, "key": key})
    issues = validate(changed, catalogue)
    if issues:
        raise invalid(issues)
    current = None
    if published_row is not None:
        try:
            current = load_rule(published_row.definition)
        except (ValidationError, ValueError):
            current = None  # a stored version that no longer loads: everything the draft fires is new
    return changed, current


def what_if(session: Session, *, actor: Actor, key: str, weeks: Any = DEFAULT_WEEKS, now: datetime,
            definition: dict[str, Any] | None = None, max_orders: int = MAX_ORDERS,
            time_limit: float = TIME_LIMIT_SECONDS, clock: Callable[[], float] = time.monotonic,
            progress: Progress | None = None) -> dict[str, Any]:
    """Replay rule `key`'s published version and its draft (or `definition`) over the last `weeks`.
    `progress(done, total)` (the worker's run) is told the orders replayed; True stops the replay."""
    require_designer(actor)
    w = window(weeks, now)
    catalogue = catalogue_for(session)
    changed, current = _draft(session, key, definition, catalogue)
    out = _replay_pairs(session, [(key, changed, current)], w, catalogue, max_orders=max_orders,
                        time_limit=time_limit, clock=clock, progress=progress)
    [rule] = out["rules"]
    return {**out, "key": key, "weeks": weeks, "has_published": current is not None,
            "published_version": _version(session, key, "published"), "rule": rule}


def what_if_rule_set(session: Session, *, actor: Actor, weeks: Any = DEFAULT_WEEKS, now: datetime,
                     max_orders: int = MAX_ORDERS, time_limit: float = TIME_LIMIT_SECONDS,
                     clock: Callable[[], float] = time.monotonic, progress: Progress | None = None,
                     drafts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every rule with a draft (at most MAX_RULES), its published version beside it, in one replay.
    A draft that does not validate is listed with its problem; the others are replayed.
    `drafts` (key → definition, a run's snapshot) replaces the stored drafts."""
    require_designer(actor)
    w = window(weeks, now)
    catalogue = catalogue_for(session)
    if drafts is None:
        drafts = rule_set_drafts(session)
    pairs, refused = [], []
    for key in sorted(drafts)[:MAX_RULES]:
        try:
            changed, current = _draft(session, key, drafts[key], catalogue)
        except GendanError as exc:
            refused.append({"key": key, "code": exc.code, "message": i18n.translate_error(exc.code, exc.params)})
            continue
        pairs.append((key, changed, current))
    out = _replay_pairs(session, pairs, w, catalogue, max_orders=max_orders, time_limit=time_limit, clock=clock,
                        progress=progress)
    return {**out, "weeks": weeks, "refused": refused}


def rule_set_drafts(session: Session) -> dict[str, dict[str, Any]]:
    """Every rule's stored draft (at most MAX_RULES), by key."""
    rows = session.exec(select(RuleDefinitionRow.key, RuleDefinitionRow.definition)
                        .where(RuleDefinitionRow.status == "draft")
                        .order_by(RuleDefinitionRow.key).limit(MAX_RULES)).all()
    return {key: definition for key, definition in rows}


def _replay_pairs(session: Session, pairs: list[tuple[str, RuleDefinition, RuleDefinition | None]], w: Window,
                  catalogue: Catalogue, *, max_orders: int, time_limit: float,
                  clock: Callable[[], float], progress: Progress | None = None) -> dict[str, Any]:
    calendar = installation_calendar(session)
    started = clock()
    ids, capped = order_ids(session, w, max_orders)
    orders = list(timelines(session, ids))
    loaded = clock() - started
    currents = [current for _key, _changed, current in pairs if current is not None]
    changed = [c for _key, c, _current in pairs]
    budget = MAX_EVALUATIONS // 2
    passes = 2 if currents else 1
    total = len(orders) * passes
    if progress is not None and progress(0, total):
        return _stopped(w, orders, capped)

    def watch(offset: int) -> Callable[[int], bool]:
        def stop(done: int) -> bool:
            if progress is not None and progress(offset + done, total):
                return True
            return clock() - started > time_limit
        return stop

    if currents and len(orders) >= PARALLEL_MIN_ORDERS and clock is time.monotonic:
        before, after = replay_both(currents, changed, orders, catalogue, calendar=calendar, w=w,
                                    max_evaluations=budget, deadline=started + time_limit,
                                    progress=None if progress is None else lambda done: progress(done, total))
    else:
        before = replay(currents, orders, catalogue, calendar=calendar, start=w.start, end=w.end,
                        max_evaluations=budget, progress=watch(0)) if currents else None
        after = replay(changed, orders, catalogue, calendar=calendar, start=w.start, end=w.end,
                       max_evaluations=budget, progress=watch(len(orders) * (passes - 1)))
    numbers = {o.order_id: o.number for o in orders}
    rules = []
    for diff in compare(before, after):
        rules.append({"key": diff.key, **_rule_read(session, diff, numbers)})
    return {
        "start": w.start, "end": w.end,
        "orders": len(orders), "orders_capped": capped,
        "truncated": after.truncated or (before.truncated if before else False),
        "replayed_orders": min(after.orders, before.orders if before else after.orders),
        "evaluations": after.evaluations + (before.evaluations if before else 0),
        "load_seconds": round(loaded, 2),
        "seconds": round(clock() - started, 2),
        "rules": rules,
    }


def _child_command(conn_fd: int, stop_fd: int) -> list[str]:
    """The second process's command line (a test swaps it for one that fails or hangs)."""
    return child.command(sys.executable, sys.path, conn_fd, stop_fd)


class _Child:
    """The published versions' replay in a second process, started by exec (subprocess: no fork
    of this threaded process survives into it) with its job pickled onto a socket. The job is
    written by a thread so this process replays the drafts meanwhile."""

    def __init__(self, job: dict[str, Any]):
        self.done = 0  # the child's orders done, as it last said
        self.answer: tuple[str, Any] | None = None
        self.proc: subprocess.Popen | None = None
        self.conn, theirs = multiprocessing.Pipe(duplex=True)
        self.stop_r, self.stop_w = os.pipe()
        self.writer: threading.Thread | None = None
        self.closed = False
        try:
            payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc = subprocess.Popen(_child_command(theirs.fileno(), self.stop_r),
                                         pass_fds=(theirs.fileno(), self.stop_r), stdin=subprocess.DEVNULL)
            self.writer = threading.Thread(target=self._write, args=(payload,), daemon=True, name="whatif-job")
            self.writer.start()
        except Exception as exc:  # noqa: BLE001 - not picklable, no interpreter to start: replayed here
            log.warning("whatif: the second process could not start (%s)", exc)
            self.proc = None
        finally:
            theirs.close()

    def _write(self, payload: bytes) -> None:
        with contextlib.suppress(OSError):
            self.conn.send_bytes(payload)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def read(self, timeout: float = 0) -> bool:
        """Take what the child said (progress, its answer); True once it answered or went away."""
        if self.proc is None or self.answer is not None or self.closed:
            return True
        try:
            while self.conn.poll(timeout):
                kind, value = self.conn.recv()
                if kind == "progress":
                    self.done = value
                else:
                    self.answer = (kind, value)
                    return True
                timeout = 0
        except (EOFError, OSError):
            self.answer = ("error", "the second process ended without an answer")
            return True
        return False

    def stop(self) -> None:
        if self.closed:
            return
        with contextlib.suppress(OSError):
            os.write(self.stop_w, b"x")

    def close(self) -> None:
        """Stop the child, reap it (killed if it does not end within a second), then close: the
        writer thread's socket is closed only once the child's end is gone and the thread with it."""
        self.stop()
        self.closed = True
        if self.proc is not None:
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.writer is not None:
            self.writer.join(timeout=5)
        self.conn.close()
        for fd in (self.stop_r, self.stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def replay_both(currents: list[RuleDefinition], changed: list[RuleDefinition], orders: list[OrderTimeline],
                catalogue: Catalogue, *, calendar: Any, w: Window, max_evaluations: int, deadline: float,
                progress: Callable[[int], bool] | None = None) -> tuple[ReplayResult, ReplayResult]:
    """The published versions and the drafts replayed at once on two cores: the published ones in a
    second process started fresh (backend/replay/child.py; the timelines are pickled to it), the
    drafts here. The result is the same as two replays one after the other (tested).
    `progress(orders done by both)` may stop both (True); if the second process cannot start, fails
    or hangs past the deadline, the published versions are replayed here after the drafts (logged)."""
    second = _Child({"rules": currents, "orders": orders, "catalogue": catalogue, "calendar": calendar,
                     "start": w.start, "end": w.end, "max_evaluations": max_evaluations, "deadline": deadline})
    stopped = False

    def mine(count: int) -> bool:
        nonlocal stopped
        second.read()
        if progress is not None and progress(count + second.done):
            stopped = True
        elif time.monotonic() > deadline:
            stopped = True
        if stopped:
            second.stop()
        return stopped

    before: ReplayResult | None = None
    try:
        after = replay(changed, orders, catalogue, calendar=calendar, start=w.start, end=w.end,
                       max_evaluations=max_evaluations, progress=mine)
        if stopped:
            second.stop()
        # the parent's share is done: keep reporting the child's until it answers
        while not second.read(PROGRESS_POLL):
            if not second.alive():
                second.read()
                break
            if progress is not None and not stopped and progress(after.orders + second.done):
                stopped = True
                second.stop()
            if time.monotonic() > deadline + PROGRESS_POLL * 5:
                break  # a stuck child: replayed here below (truncated by the deadline)
        if second.answer is not None and second.answer[0] == "ok":
            before = second.answer[1]
        elif second.proc is not None:
            log.warning("whatif: the second process did not answer (%s); replaying the published versions here",
                        second.answer[1] if second.answer else "no answer by the deadline")
    finally:
        second.close()
    if before is None:
        done = second.done
        before = replay(currents, orders, catalogue, calendar=calendar, start=w.start, end=w.end,
                        max_evaluations=max_evaluations,
                        progress=lambda count: mine(count + after.orders - done))
    return before, after


def _stopped(w: Window, orders: list[OrderTimeline], capped: bool) -> dict[str, Any]:
    return {"start": w.start, "end": w.end, "orders": len(orders), "orders_capped": capped, "truncated": True,
            "replayed_orders": 0, "evaluations": 0, "load_seconds": 0, "seconds": 0, "rules": []}


def _version(session: Session, key: str, status: str) -> int | None:
    row = RULES.with_status(session, key, status)
    return row.version if row is not None else None


def _rule_read(session: Session, diff: RuleDiff, numbers: dict[int, str]) -> dict[str, Any]:
    def examples(ids: tuple[int, ...]) -> list[dict[str, Any]]:
        return [{"id": i, "number": numbers.get(i, str(i))} for i in ids[:EXAMPLES]]

    return {
        "fired_before": max(diff.fired_before, 0), "fired_after": diff.fired_after,
        "orders_before": diff.orders_before, "orders_after": diff.orders_after,
        "added_count": len(diff.added), "removed_count": len(diff.removed), "moved_count": len(diff.moved),
        "added": examples(diff.added), "removed": examples(diff.removed),
        "moved": [{"id": o, "number": numbers.get(o, str(o)), "before": b, "after": a}
                  for o, b, a in diff.moved[:EXAMPLES]],
        "todos": _todos(session, diff.todos_before, diff.todos_after),
        "error_before": diff.error_before, "error_after": diff.error_after,
    }


def _todos(session: Session, before: dict[str, int], after: dict[str, int]) -> list[dict[str, Any]]:
    """To-dos per assignee (role, the owner, a named user, …), in the reader's language."""
    users = [int(k[5:]) for k in set(before) | set(after) if k.startswith("user:") and k[5:].isdigit()]
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(users))).all()) if users else {}
    out = []
    for key in sorted(set(before) | set(after)):
        kind, _, detail = key.partition(":")
        if kind == "user":
            label = names.get(int(detail), detail) if detail.isdigit() else detail
        else:
            label = sentences.who(kind, detail or None)
        out.append({"assignee": key, "label": label, "before": before.get(key, 0), "after": after.get(key, 0)})
    return out
