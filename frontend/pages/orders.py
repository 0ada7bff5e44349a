"""Orders list (filters, sorting, keyset pages, updated in place by htmx) and order detail."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select

from backend import i18n
from backend.auth.deps import DbSession
from backend.errors import GendanError
from backend.orders import service as orders_service
from backend.orders.schemas import OrderFilter, OrderPage
from backend.people.models import User, UserRole
from frontend.pages.common import EVENT_LABELS, FIELD_LABELS, STAGE_LABELS, PageActor
from frontend.templating import is_htmx, render

router = APIRouter()

COLUMNS = [
    ("number", "Number"), ("customer", "Customer"), ("owner", "Owner"), ("stage", "Stage"),
    ("amount", "Amount"), ("planned_delivery", "Planned delivery"), ("created_at", "Created"),
]
SORTABLE = {"number", "amount", "planned_delivery", "created_at"}
LIST_KEYS = {"stage", "status"}


def _filter_from_query(request: Request) -> tuple[OrderFilter, str | None]:
    raw: dict = {}
    for key, value in request.query_params.multi_items():
        if value == "" or key not in OrderFilter.model_fields:
            continue
        if key in LIST_KEYS:
            raw.setdefault(key, []).append(value)
        else:
            raw[key] = value
    raw.setdefault("with_total", True)
    try:
        return OrderFilter.model_validate(raw), None
    except ValidationError as exc:
        bad = ", ".join(str(e["loc"][0]) for e in exc.errors())
        return OrderFilter(with_total=True), i18n.gettext("These filters are not valid: %(fields)s", fields=bad)


def _query(f: OrderFilter, **overrides) -> str:
    data = f.model_dump(exclude_none=True, exclude={"with_total", "limit"}, mode="json")
    data.update(overrides)
    pairs = []
    for key, value in data.items():
        if value in (None, "", []):
            continue
        if isinstance(value, list):
            pairs.extend((key, v) for v in value)
        else:
            pairs.append((key, value))
    return "/orders?" + urlencode(pairs)


@router.get("/orders")
def orders_list(request: Request, session: DbSession, actor: PageActor):
    f, error = _filter_from_query(request)
    try:
        page = orders_service.list_orders(session, actor=actor, filters=f)
    except GendanError as exc:
        page, error = OrderPage(items=[], next_cursor=None), i18n.translate_error(exc.code, exc.params)
    owners = session.exec(
        select(User).where(User.id.in_(select(UserRole.user_id).where(UserRole.role == "sales")))
        .order_by(User.display_name)
    ).scalars().all()

    def sort_url(key: str) -> str:
        direction = "asc" if f.sort == key and f.direction == "desc" else "desc"
        return _query(f, sort=key, direction=direction, cursor=None)

    context = {
        "nav": "orders", "f": f, "page": page, "error": error, "owners": owners,
        "stages": list(STAGE_LABELS), "stage_labels": STAGE_LABELS, "columns": COLUMNS, "sortable": SORTABLE,
        "sort_url": sort_url, "next_url": _query(f, cursor=page.next_cursor), "first_url": _query(f, cursor=None),
        "can_create": actor.can_write,
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "orders-table":
        return render(request, "orders/list.html", context, block="table")
    return render(request, "orders/list.html", context)


@router.get("/orders/{order_id}")
def order_detail(request: Request, session: DbSession, actor: PageActor, order_id: int):
    order = orders_service.get_order(session, actor=actor, order_id=order_id)
    events = orders_service.list_events(session, actor=actor, order_id=order_id)
    return render(request, "orders/detail.html", {
        "nav": "orders", "order": order, "events": events, "stage_labels": STAGE_LABELS,
        "event_labels": EVENT_LABELS, "field_labels": FIELD_LABELS,
    })
