"""The reconciliation found something the due-time index missed: tell the admins.

In steady state the reconciliation (backend/rules/tasks.py:reconcile) fires nothing: every order
change recomputes its moments and the worker fires them. A firing it does make is either a race
with the index (a due row for that rule and order was waiting: fine) or a path that changed an
order without the pipeline, or a moment computed wrong: a bug. For those: an error in the log, an
audit event per rule, and a notification to every admin in their language (flush + commit here).
With several workers each reconciles its own order partitions and tells the admins about what it
found there (the partitions are named in the log and the audit event).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, true
from sqlalchemy.engine import Connection, Engine

from backend import i18n
from backend.audit import service as audit
from backend.db import new_session
from backend.notify.models import Notification
from backend.people.models import User
from backend.people.org import users_with_role
from backend.rules.due_index import pending_at
from backend.rules.models import RuleDefinitionRow, RuleFiring

log = logging.getLogger("gendan.rules")
FIRING, RULES = RuleFiring.__table__, RuleDefinitionRow.__table__

__all__ = ["missed_firings"]


def missed_firings(bind: Engine | Connection, now: datetime, claim: Any = None) -> int:
    """The reconciliation's firings at `now` that no due row explains, in the partitions of `claim`
    (backend/worker/partitions.Claim; None: all); admins told. Returns them."""
    with new_session(bind) as session:
        found = session.execute(
            select(RULES.c.id, RULES.c.key, FIRING.c.order_id)
            .join(RULES, and_(RULES.c.key == FIRING.c.rule_key, RULES.c.version == FIRING.c.rule_version))
            .where(FIRING.c.trigger == "reconcile", FIRING.c.fired_at == now,
                   claim.where(FIRING.c.order_id) if claim is not None else true())).all()
        raced = pending_at(session, [(r, o) for r, _, o in found], now)
        missed: dict[str, list[int]] = {}
        for row_id, key, order_id in found:
            if (row_id, order_id) not in raced:
                missed.setdefault(key, []).append(order_id)
        if not missed:
            return 0
        count = sum(len(v) for v in missed.values())
        parts = sorted({o % claim.count for v in missed.values() for o in v}) if claim is not None else []
        log.error("rules reconciliation: %s firing(s) the due-time index missed: %s (partitions %s)", count,
                  {k: v[:20] for k, v in missed.items()}, parts or "all")
        for key, orders in missed.items():
            audit.record(session, None, "rule", key, "reconcile_missed", {},
                         {"orders": sorted(orders)[:100], "count": len(orders),
                          **({"partitions": sorted({o % claim.count for o in orders})} if claim is not None else {})},
                         now)
        _tell_admins(session, missed, count, now, ".".join(map(str, parts)))
        session.commit()
        return count


def _tell_admins(session, missed: dict[str, list[int]], count: int, now: datetime, parts: str = "") -> None:
    """One notification per admin per reconciliation that found something (per worker: `parts`
    are the partitions it found it in, so two workers reconciling at the same moment both tell)."""
    params = {"count": count, "rules": ", ".join(sorted(missed))[:500]}
    for user_id in users_with_role(session, "admin"):
        user = session.get(User, user_id)
        token = i18n.set_locale((user.locale if user is not None else None) or i18n.DEFAULT_LOCALE)
        try:
            title = i18n.translate_error("rule.due_missed_title", params)[:300]
            body = i18n.translate_error("rule.due_missed", params)[:4000]
        finally:
            i18n.reset_locale(token)
        session.add(Notification(dedupe_key=f"rule_due_missed:{now.isoformat()}:{parts + ':' if parts else ''}{user_id}", user_id=user_id,
                                 title=title, body=body, created_at=now))
