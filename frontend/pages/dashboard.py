"""Dashboard: open orders per stage, overdue and risk-flagged orders, orders created per week.

A small view-model service over backend/orders/stats.py (the SQL lives there); every figure is
limited to the orders the signed-in person may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.orders import stats
from frontend.pages.common import PageActor
from frontend.templating import render

router = APIRouter()


@dataclass(frozen=True)
class Dashboard:
    by_stage: list[stats.StageCount]
    open_total: int
    overdue_count: int
    overdue: list[stats.OrderLine]
    risk_count: int
    risky: list[stats.OrderLine]
    weeks: list[stats.WeekCount]
    week_max: int


def build_dashboard(session: Session, *, actor: Actor, now: datetime, weeks: int = 12) -> Dashboard:
    visible = stats.visible_clause(session, actor)  # the org-chart walk once, not per query
    by_stage = stats.count_by_stage(session, actor=actor, visible=visible)
    per_week = stats.created_per_week(session, actor=actor, now=now, weeks=weeks, visible=visible)
    return Dashboard(
        by_stage=by_stage, open_total=sum(s.count for s in by_stage),
        overdue_count=stats.count_overdue(session, actor=actor, now=now, visible=visible),
        overdue=stats.list_overdue(session, actor=actor, now=now, visible=visible),
        risk_count=stats.count_risk_flagged(session, actor=actor, visible=visible),
        risky=stats.list_risk_flagged(session, actor=actor, now=now, visible=visible),
        weeks=per_week, week_max=max((w.count for w in per_week), default=0),
    )


@router.get("/dashboard")
def dashboard(request: Request, session: DbSession, actor: PageActor):
    return render(request, "dashboard/index.html", {"nav": "dashboard",
                                                    "d": build_dashboard(session, actor=actor, now=utcnow())})
