"""Process map page: the directly-follows graph of the visible orders beside the flow as drawn.

The SVG is laid out here (nodes left to right in the drawn order, forward jumps arc above, rework
loops arc below) and drawn by Jinja; the same edges are listed in a table for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from sqlalchemy import select

from backend import i18n
from backend.auth.deps import DbSession
from backend.customers.models import Customer
from backend.insight import process_map as service
from backend.people.models import User
from engine.insight.process_map import MapEdge
from frontend.pages import definition_names
from frontend.pages.common import PageActor
from frontend.templating import render

router = APIRouter()

NODE_W, NODE_H, GAP, MID = 124, 44, 120, 200
CUSTOMER_CHOICES = 300


def duration(seconds: float) -> str:
    """'2.5 d' / '3 h' / '12 min' (zh: '2.5 天' / '3 小时' / '12 分钟')."""
    if seconds >= 86_400:
        return i18n.gettext("%(n)s d") % {"n": _num(seconds / 86_400)}
    if seconds >= 3_600:
        return i18n.gettext("%(n)s h") % {"n": _num(seconds / 3_600)}
    return i18n.gettext("%(n)s min") % {"n": _num(seconds / 60)}


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if x < 10 else str(round(x))


@dataclass(frozen=True)
class DrawnEdge:
    edge: MapEdge
    path: str
    label_x: float
    label_y: float
    width: float
    label: str


def _x(position: int) -> float:
    return 20 + position * (NODE_W + GAP)


def layout(result: service.MapResult) -> tuple[list[DrawnEdge], int, int, int]:
    """The edges' paths and labels, and the SVG's width, top (viewBox min-y) and bottom."""
    pos = {n.stage: n.position for n in result.map.nodes}
    top = max((e.count for e in result.map.edges), default=1)
    drawn, lowest, highest = [], MID + NODE_H, MID - 24
    for e in result.map.edges:
        a, b = pos[e.source], pos[e.target]
        label = f"{e.count} · {duration(e.median_s)} · {duration(e.p90_s)}"
        width = round(1.5 + 6 * e.count / top, 1)
        if b == a + 1:
            x1, x2, y = _x(a) + NODE_W, _x(b), MID + NODE_H / 2
            path, lx, ly = f"M{x1},{y} L{x2},{y}", (x1 + x2) / 2, y - 8
        elif b > a:  # forward jump: an arc above
            x1, x2, y = _x(a) + NODE_W / 2, _x(b) + NODE_W / 2, MID
            lift = 40 + 22 * (b - a)
            path, lx, ly = f"M{x1},{y} C{x1},{y - lift} {x2},{y - lift} {x2},{y}", (x1 + x2) / 2, y - 0.75 * lift - 4
            highest = min(highest, ly - 14)
        else:  # backward or self: an arc below
            x1, x2, y = _x(a) + NODE_W * 0.65, _x(b) + NODE_W * 0.35, MID + NODE_H
            drop = 40 + 22 * (a - b)
            path, lx, ly = (f"M{x1},{y} C{x1},{y + drop} {x2},{y + drop} {x2},{y}", (x1 + x2) / 2,
                            y + 0.75 * drop + 14)
            lowest = max(lowest, ly + 10)
        drawn.append(DrawnEdge(edge=e, path=path, label_x=lx, label_y=ly, width=width, label=label))
    width = int(_x(len(pos)) + 20) if pos else 0
    return drawn, width, int(highest - 10), int(lowest + 20)


def _parse_date(raw: str | None, errors: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        errors.append(i18n.gettext("Not a date: %(value)s") % {"value": raw[:20]})
        return None


def _parse_id(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) < 12 else None


@router.get("/dashboard/process-map")
def process_map_page(request: Request, session: DbSession, actor: PageActor, created_from: str | None = None,
                     created_to: str | None = None, customer: str | None = None, owner: str | None = None):
    errors: list[str] = []
    f = service.MapFilter(created_from=_parse_date(created_from, errors), created_to=_parse_date(created_to, errors),
                          customer_id=_parse_id(customer), owner_id=_parse_id(owner))
    result = service.build(session, actor=actor, filters=f)
    edges, width, top, bottom = layout(result)
    owners = session.exec(select(User.id, User.display_name).where(User.is_active).order_by(User.display_name)
                          .limit(CUSTOMER_CHOICES)).all()
    customers = session.exec(select(Customer.id, Customer.name).order_by(Customer.name)
                             .limit(CUSTOMER_CHOICES)).all()
    return render(request, "dashboard/process_map.html", {
        "nav": "dashboard", "r": result, "edges": edges, "svg_w": width, "svg_top": top, "svg_h": bottom - top, "f": f,
        "errors": errors, "owners": owners, "customers": customers, "duration": duration,
        "node_w": NODE_W, "node_h": NODE_H, "mid": MID, "node_x": _x, "max_orders": service.MAX_ORDERS,
        # the flows the designed stages come from, by name ("order v1" on a zh-CN page before)
        "flow_names": definition_names.names(session, "flow", [key for key, _v in result.drawn_from or []]),
    })
