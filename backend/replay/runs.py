"""What-if runs: a replay over more than `INLINE_MAX_ORDERS` orders is not answered inside the web
request but queued as a `whatif_run` row and replayed by the worker, with progress, a lease, cancel,
a per-user limit and an expiry. Small windows are still answered inline.

    request (page / API)                     worker job `whatif.run_queued`
    ask(): validate the draft, size the      cleanup(): expired runs deleted
      window; small → the answer now;        claim(): the oldest queued run (or a running one whose
      large → a run row (draft snapshot,       lease ran out: its worker died) under a lease, one
      its hash, who asked, weeks)              UPDATE … FOR UPDATE SKIP LOCKED
    read(): state, progress, the result      execute(): the replay with the snapshot as the
      (example orders the reader may not       requester; progress written (and the lease renewed,
      see are left out), "the draft changed    compare-and-set) about once a second; cancelled or
      since this replay"                       taken over → it stops; done / failed (error code)

Nothing real is written by a replay: the run row is the only row.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.auth.service import load_actor
from backend.clock import as_utc, utcnow
from backend.db import new_session
from backend.definitions.lifecycle import require_designer
from backend.errors import GendanError
from backend.flows.service import FLOWS
from backend.orders.access import visible_orders_clause
from backend.orders.models import Order
from backend.replay import flows, service
from backend.replay.models import WhatIfRun
from backend.rules.context import catalogue_for
from backend.rules.definitions import RULES

log = logging.getLogger("gendan.whatif")

KINDS = ("rule", "rule_set", "flow")
INLINE_MAX_ORDERS = 300  # a window with more orders is replayed by the worker
MAX_ACTIVE_PER_USER = 3  # queued or running runs one person may have
LEASE = timedelta(minutes=5)  # a worker that has not written progress for this long is taken over
RESULT_TTL = timedelta(days=1)  # a finished run is deleted after this
WORKER_TIME_LIMIT = 1800.0  # seconds: the worker's bound (the request's is service.TIME_LIMIT_SECONDS)
PROGRESS_EVERY = 1.0  # seconds between progress writes
MAX_RESULT_BYTES = 2_000_000
ACTIVE = ("queued", "running")


# ---- the request -------------------------------------------------------------------------------

def draft_of(session: Session, kind: str, key: str, definition: dict[str, Any] | None = None) -> dict[str, Any]:
    """What would be replayed now: the given or stored draft (rule, flow), every stored draft (rule set)."""
    if kind == "rule_set":
        return service.rule_set_drafts(session)
    if definition is not None:
        return definition
    row = (RULES if kind == "rule" else FLOWS).with_status(session, key, "draft")
    return row.definition if row is not None else {}


def digest(draft: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(draft, sort_keys=True, default=str).encode()).hexdigest()


def _replay(session: Session, actor: Actor, kind: str, key: str, weeks: int, now: datetime,
            draft: dict[str, Any] | None, **bounds: Any) -> dict[str, Any]:
    if kind == "rule":
        return service.what_if(session, actor=actor, key=key, weeks=weeks, now=now, definition=draft, **bounds)
    if kind == "flow":
        return flows.flow_what_if(session, actor=actor, key=key, weeks=weeks, now=now, definition=draft, **bounds)
    return service.what_if_rule_set(session, actor=actor, weeks=weeks, now=now, drafts=draft, **bounds)


def _check(session: Session, kind: str, key: str, weeks: Any, now: datetime,
           definition: dict[str, Any] | None) -> tuple[service.Window, bool]:
    """Refuse a bad week count or a broken draft at once; say whether the window is large."""
    w = service.window(weeks, now)
    if kind == "rule":
        service._draft(session, key, definition, catalogue_for(session))
        _ids, large = service.order_ids(session, w, INLINE_MAX_ORDERS)
    elif kind == "flow":
        flows._definitions(session, key, definition)
        _pairs, large = flows.instances(session, key, w, INLINE_MAX_ORDERS)
    else:
        _ids, large = service.order_ids(session, w, INLINE_MAX_ORDERS)
    return w, large


def ask(session: Session, *, actor: Actor, kind: str, key: str = "", weeks: Any = service.DEFAULT_WEEKS,
        now: datetime, definition: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, WhatIfRun | None]:
    """(the answer, None) for a small window; (None, the queued run) for a large one. The same
    person asking the same replay of the same draft again gets the run already under way."""
    require_designer(actor)
    if kind not in KINDS:
        raise GendanError("whatif.run_not_found", {"id": kind})
    _w, large = _check(session, kind, key, weeks, now, definition)
    if not large:
        result = _replay(session, actor, kind, key, weeks, now, definition)
        return visible_examples(session, actor, result), None
    draft = draft_of(session, kind, key, definition)
    hashed = digest(draft)
    active = session.exec(select(WhatIfRun).where(WhatIfRun.requested_by == actor.user_id,
                                                  WhatIfRun.state.in_(ACTIVE))).scalars().all()
    for run in active:
        if (run.kind, run.key, run.weeks, run.draft_hash) == (kind, key, weeks, hashed):
            return None, run
    if len(active) >= MAX_ACTIVE_PER_USER:
        raise GendanError("whatif.too_many_runs", {"max": MAX_ACTIVE_PER_USER})
    run = WhatIfRun(kind=kind, key=key, weeks=weeks, draft=draft, draft_hash=hashed, requested_by=actor.user_id,
                    created_at=now)
    session.add(run)
    session.commit()
    return None, run


def cancel(session: Session, *, actor: Actor, run_id: int, now: datetime) -> WhatIfRun:
    """Stop a queued or running run (its worker notices at its next progress write)."""
    run = _own(session, actor, run_id)
    session.execute(update(WhatIfRun).where(WhatIfRun.id == run_id, WhatIfRun.state.in_(ACTIVE))
                    .values(state="cancelled", finished_at=now, expires_at=now + RESULT_TTL, locked_until=None))
    session.commit()
    session.refresh(run)
    return run


def _own(session: Session, actor: Actor, run_id: int) -> WhatIfRun:
    """The run if the actor asked for it (or is an admin); not found otherwise (no hint it exists)."""
    require_designer(actor)
    run = session.get(WhatIfRun, run_id)
    if run is None or (run.requested_by != actor.user_id and not actor.is_admin):
        raise GendanError("whatif.run_not_found", {"id": run_id})
    return run


def read(session: Session, *, actor: Actor, run_id: int) -> dict[str, Any]:
    """The run as the reader may see it: state, progress, the error in the reader's language, the
    result with only the example orders the reader may see, whether the draft changed since."""
    run = _own(session, actor, run_id)
    out: dict[str, Any] = {
        "id": run.id, "kind": run.kind, "key": run.key, "weeks": run.weeks, "state": run.state,
        "progress_done": run.progress_done, "progress_total": run.progress_total,
        "percent": int(100 * run.progress_done / run.progress_total) if run.progress_total else 0,
        "created_at": run.created_at, "finished_at": run.finished_at,
        "draft_changed": digest(draft_of(session, run.kind, run.key)) != run.draft_hash,
        "result": None, "error": None,
    }
    if run.error:
        code, params = run.error.get("code", "internal"), run.error.get("params") or {}
        out["error"] = {"code": code, "message": i18n.translate_error(code, params),
                        "problems": [f"{path}: {i18n.translate_error(c, p)}"
                                     for path, (c, p) in (run.error.get("fields") or {}).items()]}
    if run.state == "done" and run.result is not None:
        out["result"] = visible_examples(session, actor, _revive(run.result))
    return out


# ---- example orders by row-level access --------------------------------------------------------

def _examples(value: Any, found: list[list[dict[str, Any]]]) -> None:
    """Every list of example orders ({"id", "number", …}) in a result, in place."""
    if isinstance(value, dict):
        for v in value.values():
            _examples(v, found)
    elif isinstance(value, list):
        if value and all(isinstance(o, dict) and "id" in o and "number" in o for o in value):
            found.append(value)
        else:
            for v in value:
                _examples(v, found)


def visible_examples(session: Session, actor: Actor, result: dict[str, Any]) -> dict[str, Any]:
    """The result with the example orders the actor may not open left out (counts stay complete);
    `hidden_examples` says how many were left out."""
    lists: list[list[dict[str, Any]]] = []
    _examples(result, lists)
    ids = {o["id"] for lst in lists for o in lst if isinstance(o["id"], int)}
    if not ids or actor.has_role("admin", "viewer"):
        result["hidden_examples"] = 0
        return result
    seen = set(session.execute(select(Order.id).where(Order.id.in_(sorted(ids)),
                                                      visible_orders_clause(session, actor))).scalars())
    hidden = 0
    for lst in lists:
        keep = [o for o in lst if o["id"] in seen]
        hidden += len(lst) - len(keep)
        lst[:] = keep
    result["hidden_examples"] = hidden
    return result


# ---- the worker --------------------------------------------------------------------------------

def cleanup(bind: Engine | Connection, now: datetime) -> int:
    """Delete finished runs past their expiry and queued runs nobody ran within RESULT_TTL."""
    with new_session(bind) as session:
        gone = session.execute(delete(WhatIfRun).where(or_(
            WhatIfRun.expires_at < now,
            (WhatIfRun.state == "queued") & (WhatIfRun.created_at < now - RESULT_TTL)))).rowcount
        session.commit()
    return gone or 0


def claim(bind: Engine | Connection, now: datetime, *, lease: timedelta = LEASE) -> tuple[int, datetime] | None:
    """The oldest queued run, or a running one whose lease ran out (its worker died), marked
    running under a lease: (id, token). One UPDATE (SKIP LOCKED on PostgreSQL)."""
    due = or_(WhatIfRun.state == "queued", (WhatIfRun.state == "running") & (WhatIfRun.locked_until < now))
    picked = select(WhatIfRun.id).where(due).order_by(WhatIfRun.id).limit(1).with_for_update(skip_locked=True)
    token = now + lease
    with new_session(bind) as session:
        ids = session.execute(
            update(WhatIfRun).where(WhatIfRun.id.in_(picked.scalar_subquery()))
            .values(state="running", locked_until=token, started_at=func.coalesce(WhatIfRun.started_at, now))
            .returning(WhatIfRun.id).execution_options(synchronize_session=False)).scalars().all()
        session.commit()
    return (ids[0], token) if ids else None


class _Stopped(Exception):
    """The run was cancelled or taken over by another worker: stop without writing."""


def _held(session: Session, run_id: int, token: datetime, **values: Any) -> bool:
    """Compare-and-set: write `values` only while this worker still holds the running run."""
    done = session.execute(update(WhatIfRun).where(WhatIfRun.id == run_id, WhatIfRun.state == "running",
                                                   WhatIfRun.locked_until == token).values(**values)).rowcount
    session.commit()
    return done == 1


def execute(bind: Engine | Connection, run_id: int, token: datetime, now: datetime, *,
            clock: Callable[[], float] = time.monotonic, wall: Callable[[], datetime] | None = None,
            lease: timedelta = LEASE) -> str:
    """Replay a claimed run; returns its final state (done / failed / lost)."""
    wall = wall or (lambda: now)
    holder: dict[str, Any] = {"token": token, "last": clock() - PROGRESS_EVERY, "total": 0}

    def progress(done: int, total: int) -> bool:
        holder["total"] = total
        if clock() - holder["last"] < PROGRESS_EVERY:
            return False
        holder["last"] = clock()
        renewed = max(wall() + lease, holder["token"] + timedelta(seconds=1))
        with new_session(bind) as writer:
            if not _held(writer, run_id, holder["token"], progress_done=done, progress_total=total,
                         locked_until=renewed):
                raise _Stopped
        holder["token"] = renewed
        return False

    with new_session(bind, writes=False) as session:
        run = session.get(WhatIfRun, run_id)
        if run is None:
            return "lost"
        kind, key, weeks, draft, requester = run.kind, run.key, run.weeks, run.draft, run.requested_by
        actor = load_actor(session, requester)
        try:
            if actor is None:
                raise GendanError("whatif.requester_gone", {})
            result = _replay(session, actor, kind, key, weeks, now, draft, time_limit=WORKER_TIME_LIMIT,
                             clock=clock, progress=progress)
            state, values = "done", {"result": _bounded(_plain(result))}
        except _Stopped:
            return "lost"
        except GendanError as exc:
            state, values = "failed", {"error": {"code": exc.code, "params": _plain(exc.params),
                                                 "fields": _plain(exc.fields)}}
        except Exception:  # a bug must end the run clearly, not leave it running
            log.exception("what-if run %s failed", run_id)
            state, values = "failed", {"error": {"code": "whatif.run_failed", "params": {}}}
        # the reading session only read; ending it with a commit keeps the progress written meanwhile
        # when both share one connection (the tests' savepoints), and costs nothing otherwise
        with contextlib.suppress(Exception):
            session.commit()
    finished = wall()
    if state == "done":
        values["progress_done"] = values["progress_total"] = max(holder["total"], 1)
    with new_session(bind) as writer:
        if not _held(writer, run_id, holder["token"], state=state, finished_at=finished,
                     expires_at=finished + RESULT_TTL, locked_until=None, **values):
            return "lost"
    return state


def run_queued(bind: Engine | Connection, now: datetime) -> int:
    """The worker job: expired runs deleted, then one queued run claimed and replayed."""
    cleanup(bind, now)
    claimed = claim(bind, now)
    if claimed is None:
        return 0
    run_id, token = claimed
    execute(bind, run_id, token, now, wall=utcnow)
    return 1


# ---- the stored result -------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """JSON-ready: datetimes as ISO text, decimals as numbers, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _bounded(result: dict[str, Any]) -> dict[str, Any]:
    """At most MAX_RESULT_BYTES: past it the example orders are dropped (the counts stay)."""
    if len(json.dumps(result)) <= MAX_RESULT_BYTES:
        return result
    lists: list[list[dict[str, Any]]] = []
    _examples(result, lists)
    for lst in lists:
        lst.clear()
    result["examples_dropped"] = True
    return result


DATETIME_KEYS = ("start", "end", "before", "after")


def _revive(value: Any, key: str = "") -> Any:
    """The stored result with its moments as datetimes again (for the pages' date filter)."""
    if isinstance(value, dict):
        return {k: _revive(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive(v) for v in value]
    if key in DATETIME_KEYS and isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value
