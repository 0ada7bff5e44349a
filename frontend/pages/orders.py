"""Orders list (filters, sorting, keyset pages, updated in place by htmx) and order detail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from backend import exports, i18n
from backend.auth.actor import Actor
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.customers.models import Customer, CustomerContact
from backend.errors import GendanError
from backend.flows.models import FlowDefinitionRow, FlowInstance
from backend.forms import service as forms_service
from backend.installation.service import get_installation
from backend.orders import service as orders_service
from backend.orders.schemas import OrderEventRead, OrderFilter, OrderPage, OrderUpdate
from backend.people.models import User, UserRole
from backend.people.org import team_user_ids
from backend.tracking import messages as tracking_messages
from frontend.pages import foresight as foresight_pages
from frontend.pages.common import (
    CHANNEL_LABELS,
    EVENT_LABELS,
    FIELD_LABELS,
    HIDDEN_FLOW_EVENTS,
    N_,
    STAGE_LABELS,
    STATUS_LABELS,
    PageActor,
    flag_label,
    tag_label,
)
from frontend.pages.form_view import format_value
from frontend.pages.notifications import delivery_problem
from frontend.pages.order_flow import ACTIONS as FLOW_EVENT_LABELS
from frontend.pages.order_form import designed_fields_view, loose_fields_view
from frontend.templating import _fmt_date, _fmt_money, is_htmx, render

router = APIRouter()

COLUMNS = [
    ("number", N_("Order no.")), ("customer", N_("Customer")), ("owner", N_("Owner")), ("stage", N_("Stage")),
    ("amount", N_("Amount")), ("planned_delivery", N_("Planned delivery")), ("created_at", N_("Created")),
    ("delay_probability", N_("Delay risk")),
]
FILTER_LABELS = {
    "q": N_("Search"), "stage": N_("Stage"), "status": N_("Status"), "owner_id": N_("Owner"),
    "customer_id": N_("Customer"), "created_from": N_("Created from"), "created_to": N_("Created to"),
    "delivery_from": N_("Delivery from"), "delivery_to": N_("Delivery to"), "amount_min": N_("Min. amount"),
    "amount_max": N_("Max. amount"), "tag": N_("Tags"), "priority_min": N_("Min. priority"),
    "churn_min": N_("Min. churn signals"), "overdue": N_("Overdue only"), "risk": N_("Risk-flagged only"),
    "delay_min": N_("High delay risk only"), "sort": N_("Sort"), "direction": N_("Sort"),
    "cursor": N_("Page"),
}
SORTABLE = {"number", "amount", "planned_delivery", "created_at", "delay_probability"}
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
        keys = dict.fromkeys(str(e["loc"][0]) for e in exc.errors() if e["loc"])
        bad = ", ".join(i18n.gettext(FILTER_LABELS[k]) if k in FILTER_LABELS else k for k in keys)
        message = i18n.gettext("These filters are not valid: %(fields)s", fields=bad)
        try:  # the form keeps everything else the person chose (their search text, stage, ...)
            kept = OrderFilter.model_validate({k: v for k, v in raw.items() if k not in keys})
        except ValidationError:
            kept = OrderFilter(with_total=True)
        return kept, message


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


def _owner_choices(session: Session, actor: Actor) -> list[User]:
    """Sales people for the owner filter: everyone for those who see all orders, else the team."""
    stmt = select(User).where(User.id.in_(select(UserRole.user_id).where(UserRole.role == "sales")))
    if not actor.has_role("admin", "viewer"):
        stmt = select(User).where(User.id.in_(sorted(team_user_ids(session, actor.user_id))))
    return list(session.exec(stmt.order_by(User.display_name)).scalars().all())


@router.get("/orders")
def orders_list(request: Request, session: DbSession, actor: PageActor):
    f, error = _filter_from_query(request)
    try:
        page = orders_service.list_orders(session, actor=actor, filters=f)
    except GendanError as exc:
        page, error = OrderPage(items=[], next_cursor=None), i18n.translate_error(exc.code, exc.params)
    owners = _owner_choices(session, actor)

    def sort_url(key: str) -> str:
        direction = "asc" if f.sort == key and f.direction == "desc" else "desc"
        return _query(f, sort=key, direction=direction, cursor=None)

    context = {
        "nav": "orders", "f": f, "page": page, "error": error, "owners": owners,
        "stages": list(STAGE_LABELS), "stage_labels": STAGE_LABELS, "columns": COLUMNS, "sortable": SORTABLE,
        "sort_url": sort_url, "next_url": _query(f, cursor=page.next_cursor), "first_url": _query(f, cursor=None),
        "can_create": orders_service.can_create_orders(actor),
        "export_url": _query(f, cursor=None).replace("/orders?", "/orders/export.xlsx?", 1),
        "can_bulk": actor.can_write and actor.has_role("admin", "sales"), "bulk_result": _bulk_result(request),
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "orders-table":
        return render(request, "orders/list.html", context, block="table")
    return render(request, "orders/list.html", context)


def _bulk_result(request: Request) -> str | None:
    done, failed = request.query_params.get("bulk_done"), request.query_params.get("bulk_failed")
    if not (done or "").isdigit() or not (failed or "").isdigit():
        return None
    text = i18n.ngettext("%(num)d order changed.", "%(num)d orders changed.", int(done))
    if int(failed):
        text += " " + i18n.ngettext("%(num)d order could not be changed (not yours, or changed meanwhile).",
                                    "%(num)d orders could not be changed (not yours, or changed meanwhile).",
                                    int(failed))
    return text


BULK_MAX = 200  # one page of the list


@router.post("/orders/bulk")
def orders_bulk(session: DbSession, actor: PageActor, action: Annotated[str, Form()],
                order_id: Annotated[list[int], Form()] = [],  # noqa: B006 (FastAPI reads the default)
                owner_id: Annotated[str, Form()] = "", tag: Annotated[str, Form()] = "",
                back: Annotated[str, Form()] = "/orders"):
    """Assign owner / add a tag to the ticked orders, each through update_order (its checks, its event)."""
    if action == "assign" and owner_id.isdigit():
        change = {"owner_id": int(owner_id)}
    elif action == "tag" and tag.strip():
        change = {"tag": tag.strip()[:40]}
    else:
        raise GendanError("validation.failed", {"count": 1}, status=422)
    done = failed = 0
    for oid in order_id[:BULK_MAX]:
        try:
            order = orders_service.get_order(session, actor=actor, order_id=oid)
            fields = dict(change)
            if "tag" in fields:
                fields = {"tags": list(dict.fromkeys([*order.tags, fields["tag"]]))}
            orders_service.update_order(session, actor=actor, order_id=oid,
                                        payload=OrderUpdate(version=order.version, **fields), now=utcnow())
            done += 1
        except (GendanError, ValidationError):
            session.rollback()
            failed += 1
    target = back if back.startswith("/orders") and "//" not in back else "/orders"
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}bulk_done={done}&bulk_failed={failed}", status_code=303)


EXPORT_MAX_ROWS = 10_000  # the list's own count cap: past it, narrow the filters (the file says so)


@router.get("/orders/export.xlsx")
def orders_export(request: Request, session: DbSession, actor: PageActor):
    """The current list (same filters and sort, only orders the reader may see) as an Excel file."""
    f, error = _filter_from_query(request)
    if error:
        raise GendanError("validation.failed", {"count": 1}, status=422)
    f = f.model_copy(update={"limit": 200, "cursor": None, "with_total": False})
    headers = [i18n.gettext(label) for _, label in COLUMNS] + [i18n.gettext("Status"), i18n.gettext("Currency"),
                                                               i18n.gettext("Tags")]
    rows: list[list[Any]] = []
    zone = get_installation(session).zone  # the pages' zone; Excel has none
    while len(rows) < EXPORT_MAX_ROWS:
        page = orders_service.list_orders(session, actor=actor, filters=f)
        for o in page.items:
            rows.append([o.number, o.customer_name, o.owner_name,
                         i18n.gettext(STAGE_LABELS[o.stage]) if o.stage in STAGE_LABELS else o.stage,
                         o.amount, o.planned_delivery, o.created_at.astimezone(zone).replace(tzinfo=None),
                         None if o.delay_probability is None else round(o.delay_probability, 3),
                         i18n.gettext(STATUS_LABELS[o.status]) if o.status in STATUS_LABELS else o.status,
                         o.currency, ", ".join(tag_label(t) for t in o.tags)])
        if not page.next_cursor:
            break
        f = f.model_copy(update={"cursor": page.next_cursor})
    rows = rows[:EXPORT_MAX_ROWS]
    content = exports.workbook_bytes(i18n.gettext("Orders"), headers, rows)
    name = f"orders-{utcnow().astimezone(zone):%Y%m%d-%H%M}.xlsx"
    return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


MESSAGE_EVENTS = {tracking_messages.RECEIVED, tracking_messages.REPLIED}


@dataclass(frozen=True)
class Change:
    field: str
    label: str
    before: str | None  # None: the field had no "before" (first set)
    after: str


@dataclass(frozen=True)
class TimelineEntry:
    type: str
    label: str
    at: datetime
    who: str
    changes: list[Change]
    note: str | None


def _names(session: Session, model, column, ids: set[int]) -> dict[int, str]:
    ids = {int(i) for i in ids if isinstance(i, int) or (isinstance(i, str) and i.isdigit())}
    if not ids:
        return {}
    return dict(session.exec(select(model.id, column).where(model.id.in_(ids))).all())


def _fmt(field: str, value: Any, *, currency: str, users: dict[int, str], customers: dict[int, str]) -> str:
    """A stored event value (JSON) as a person reads it."""
    if value is None or value == "" or value == []:
        return "—"
    if field == "owner_id":
        return users.get(int(value), f"#{value}")
    if field == "customer_id":
        return customers.get(int(value), f"#{value}")
    if field == "stage":
        return i18n.gettext(STAGE_LABELS[value]) if value in STAGE_LABELS else str(value)
    if field == "status":
        return i18n.gettext(STATUS_LABELS[value]) if value in STATUS_LABELS else str(value)
    if field == "amount":
        try:
            return _fmt_money(Decimal(str(value)), currency)
        except (InvalidOperation, ValueError):
            return str(value)
    if field in ("planned_delivery", "payment_due"):
        try:
            return _fmt_date(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if field == "risk_flags" and isinstance(value, list):
        return ", ".join(flag_label(str(v)) for v in value)
    if field == "tags" and isinstance(value, list):
        return ", ".join(tag_label(str(v)) for v in value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _step_names(session: Session, order_id: int) -> dict[str, str]:
    """node key -> the step's name in the reader's language, over every flow the order ran."""
    lang = "zh-CN" if i18n.get_locale() == "zh_CN" else "en"
    rows = session.exec(select(FlowDefinitionRow.definition).join(
        FlowInstance, FlowInstance.definition_id == FlowDefinitionRow.id).where(FlowInstance.order_id == order_id))
    names: dict[str, str] = {}
    for (definition,) in rows.all():
        for node in (definition or {}).get("nodes", []):
            name = node.get("name") or {}
            names[node["key"]] = name.get(lang) or name.get("zh-CN") or name.get("en") or node["key"]
    return names


def _flow_entry(e: OrderEventRead, steps: dict[str, str]) -> tuple[str, list[Change]]:
    """A flow event's label and the step it concerns; its task and edge ids mean nothing to a reader."""
    action = e.type.removeprefix("flow.")
    label = i18n.gettext(FLOW_EVENT_LABELS[action]) if action in FLOW_EVENT_LABELS else action
    node_key = (e.after or {}).get("node_key")
    changes = [Change("step", i18n.gettext("Step"), None, steps.get(node_key, node_key))] if node_key else []
    return label, changes


def _flow_note(e: OrderEventRead) -> str | None:
    """An auto-approval's note is its reason (the condition in words) in the reader's language."""
    reason = (e.after or {}).get("reason") if e.type == "flow.auto_approved" else None
    if not isinstance(reason, dict):
        return e.note
    lang = "zh-CN" if i18n.get_locale() == "zh_CN" else "en"
    return i18n.gettext("Condition met: %(reason)s", reason=reason.get(lang) or e.note or "")


def _refused_entry(e: OrderEventRead, *, form_fields: dict[str, Any], currency: str) -> TimelineEntry:
    """A rule's or flow's write the form (or the pipeline's depth limit) refused: which field, the
    value it tried, and why, in the reader's language (backend/effects.py:_refuse)."""
    after = e.after or {}
    field, value = str(after.get("field") or ""), after.get("value")
    if field.startswith("data."):
        change = _designed_change(field[5:], None, value, has_before=False, form_fields=form_fields,
                                  currency=currency)
    else:
        label = i18n.gettext(FIELD_LABELS[field]) if field in FIELD_LABELS else field
        change = Change(field, label, None, "—" if value in (None, "") else str(value)) if field else None
    reasons = [i18n.translate_error(f.get("code", ""), f.get("params") or {}) for f in (after.get("fields") or {}).values()]
    note = "; ".join(reasons) or i18n.translate_error(str(after.get("code") or ""), {})
    return TimelineEntry(type=e.type, label=i18n.gettext(EVENT_LABELS[e.type]), at=e.at,
                         who=e.actor_name or i18n.gettext("system"), changes=[change] if change else [], note=note)


def _designed_change(k: str, before: Any, after: Any, *, has_before: bool, form_fields: dict[str, Any],
                     currency: str) -> Change | None:
    """A designed field's change as the form names and formats it (生产完成日期, not
    data.production_done_on); None when nothing a reader would see changed (absent -> empty)."""
    if not has_before and after in (None, "", []):
        return None
    f = form_fields.get(k)
    label = (f.text("label", forms_service.engine_locale()) or k) if f is not None else k
    return Change(f"data.{k}", f"{i18n.gettext(FIELD_LABELS['data'])} · {label}",
                  _show_designed(f, before, currency) if has_before else None, _show_designed(f, after, currency))


def _show_designed(f: Any, value: Any, currency: str) -> str:
    if f is not None:
        return format_value(f, value, currency) or "—"
    return "—" if value in (None, "", []) else str(value)


def _form_fields(session: Session, form_key: str | None, form_version: int | None) -> dict[str, Any]:
    """key -> designed field of the order's form version (else the published form), for labels."""
    defn = None
    if form_key and form_version:
        try:
            defn = forms_service.get_definition(session, form_key, form_version)
        except GendanError:
            defn = None
    defn = defn or forms_service.get_published(session)
    return {f.key: f for f in defn.data_fields()} if defn else {}


def build_timeline(session: Session, events: list[OrderEventRead], *, currency: str,
                   order_id: int | None = None, form_fields: dict[str, Any] | None = None) -> list[TimelineEntry]:
    """Newest first, with readable labels and before/after values (names instead of ids)."""
    form_fields = form_fields or {}
    user_ids: set = set()
    customer_ids: set = set()
    for e in events:
        for side in (e.before or {}, e.after or {}):
            if side.get("owner_id") is not None:
                user_ids.add(side["owner_id"])
            if side.get("customer_id") is not None:
                customer_ids.add(side["customer_id"])
    users = _names(session, User, User.display_name, user_ids)
    customers = _names(session, Customer, Customer.name, customer_ids)
    steps = _step_names(session, order_id) if order_id is not None and any(
        e.type.startswith("flow.") for e in events) else {}
    entries = []
    for e in reversed(events):
        if e.type in HIDDEN_FLOW_EVENTS:
            continue
        if e.type.startswith("flow."):
            label, flow_changes = _flow_entry(e, steps)
            entries.append(TimelineEntry(type=e.type, label=label, at=e.at, who=e.actor_name or i18n.gettext("system"),
                                         changes=flow_changes, note=_flow_note(e)))
            continue
        if e.type == "effect_refused":
            entries.append(_refused_entry(e, form_fields=form_fields, currency=currency))
            continue
        changes: list[Change] = []
        # a creation's "after" is the whole order, shown in the fields already; a message's text is
        # its note, and its "after" says only how it came (contact, channel)
        if e.type != "created" and e.type not in MESSAGE_EVENTS:
            before = e.before or {}
            for key, value in (e.after or {}).items():
                if key == "data" and isinstance(value, dict):
                    old = before.get("data") or {}
                    for k, v in value.items():
                        if old.get(k) != v:
                            change = _designed_change(k, old.get(k), v, has_before=k in old,
                                                      form_fields=form_fields, currency=currency)
                            changes.extend([change] if change else [])
                    continue
                if key.startswith("data."):  # one designed field set by a task (field_set)
                    change = _designed_change(key[5:], before.get(key), value, has_before=key in before,
                                              form_fields=form_fields, currency=currency)
                    changes.extend([change] if change else [])
                    continue
                label = i18n.gettext(FIELD_LABELS[key]) if key in FIELD_LABELS else key
                kw = {"currency": currency, "users": users, "customers": customers}
                changes.append(Change(key, label, _fmt(key, before[key], **kw) if key in before else None,
                                      _fmt(key, value, **kw)))
        label = i18n.gettext(EVENT_LABELS[e.type]) if e.type in EVENT_LABELS else e.type
        who = e.actor_name or i18n.gettext("system")
        contact = (e.after or {}).get("contact") if e.type == tracking_messages.RECEIVED else None
        if contact:
            who = i18n.gettext("Customer (%(contact)s)", contact=contact)
        elif e.actor_id is None and e.actor_name == "customer":  # the tracking page's label (urges too)
            who = i18n.gettext("Customer")
        entries.append(TimelineEntry(type=e.type, label=label, at=e.at, who=who, changes=changes, note=e.note))
    return entries


def _detail_context(session: Session, actor: Actor, order_id: int, *, reply: dict | None = None) -> dict:
    """The order page's view model; `reply` is the reply box's state (text, error, sent channel)."""
    order = orders_service.get_order(session, actor=actor, order_id=order_id)
    events = orders_service.list_events(session, actor=actor, order_id=order_id)
    customer = session.get(Customer, order.customer_id)
    owner = session.get(User, order.owner_id)
    return {
        "nav": "orders", "order": order, "customer": customer, "owner": owner,
        "timeline": build_timeline(session, events, currency=order.currency, order_id=order.id,
                                   form_fields=_form_fields(session, order.form_key, order.form_version)),
        "channel_labels": CHANNEL_LABELS,
        "designed": designed_fields_view(session, order), "loose_fields": loose_fields_view(session, order),
        "conversation": tracking_messages.list_messages(session, order.id), "can_reply": actor.can_write,
        "contacts": session.exec(select(CustomerContact).where(CustomerContact.customer_id == order.customer_id)
                                 .order_by(CustomerContact.position, CustomerContact.id)).scalars().all(),
        "reply": reply or {}, "delivery_problem": delivery_problem,
        "prediction": foresight_pages.order_prediction(session, order),
    }


@router.get("/orders/{order_id}")
def order_detail(request: Request, session: DbSession, actor: PageActor, order_id: int):
    sent = request.query_params.get("replied")
    reply = {"is_sent": True, "channel": sent if sent in CHANNEL_LABELS and sent != "none" else None} \
        if sent is not None else None
    context = _detail_context(session, actor, order_id, reply=reply)
    context["saved"] = request.query_params.get("saved") == "1"  # back from "Edit order"
    return render(request, "orders/detail.html", context)


@router.get("/orders/{order_id}/messages")
def order_conversation(request: Request, session: DbSession, actor: PageActor, order_id: int):
    """The conversation alone: the order page re-reads it while a reply is on its way."""
    order = orders_service.get_order(session, actor=actor, order_id=order_id)
    return render(request, "orders/_conversation.html",
                  {"order": order, "conversation": tracking_messages.list_messages(session, order.id),
                   "channel_labels": CHANNEL_LABELS, "delivery_problem": delivery_problem})


@router.post("/orders/{order_id}/messages")
def order_reply(request: Request, session: DbSession, actor: PageActor, order_id: int,
                text: Annotated[str, Form()] = "", contact_id: Annotated[int | None, Form()] = None):
    """Staff reply to the customer's messages (to the primary contact or the one chosen); a
    refusal keeps the typed reply in the box."""
    try:
        channel = tracking_messages.reply(session, actor=actor, order_id=order_id, text=text, now=utcnow(),
                                          contact_id=contact_id)
    except GendanError as exc:
        if exc.code != "validation.failed":
            raise
        session.rollback()
        field = next((f for f in ("text", "contact_id") if f in exc.fields), None)
        error = i18n.translate_error(*exc.fields[field]) if field else i18n.translate_error(exc.code, exc.params)
        return render(request, "orders/detail.html",
                      _detail_context(session, actor, order_id, reply={"text": text, "error": error}),
                      status_code=422)
    return RedirectResponse(f"/orders/{order_id}?replied={channel or 'none'}#orders-messages", status_code=303)
