"""The external party's pages (no login: the link's token is the key) and the admin page that keeps
external parties and their links.

`/p/{token}`: an order link shows the order's granted fields and a form for the editable ones; an
inbox link lists the party's orders ("waiting for you" first) and opens one at
`/p/{token}/orders/{order_id}`. Every refusal is the same 404 page; every request counts against a
per-address rate limit.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import i18n
from backend.auth import throttle
from backend.auth.actor import Actor
from backend.auth.deps import DbSession, _check_csrf
from backend.clock import utcnow
from backend.customers.models import Customer
from backend.errors import GendanError
from backend.flows.models import FlowDefinitionRow
from backend.notify.models import ChannelConfig
from backend.orders.models import Order
from backend.portal import access as party_side
from backend.portal import attachments as portal_attachments
from backend.portal import service as portal
from backend.portal import users as portal_users
from backend.portal.models import ExternalParty
from frontend.pages.admin import AdminActor, _flash, _pop_flash
from frontend.templating import render

router = APIRouter()
# a capability URL must not leak through Referer headers, caches or search engines
PRIVATE = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow", "Cache-Control": "no-store"}
READS_PER_MINUTE = 120
WRITES_PER_MINUTE = 30


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def rate_limited(session: Session, request: Request, *, write: bool) -> bool:
    """Count this request under the address's portal limit (the sign-in limiter's table and its one
    conditional UPDATE); True when the limit is used up. Unknown tokens count too, so guessing
    costs the same as using."""
    kind, limit = ("w", WRITES_PER_MINUTE) if write else ("r", READS_PER_MINUTE)
    ok = throttle.reserve(session, [throttle.Limit(f"portal:{kind}:{_client(request)}"[:200], limit)], utcnow())
    session.commit()
    return not ok


def _not_found(request: Request):
    return render(request, "portal/not_found.html", {}, status_code=404, headers=PRIVATE)


def _too_many(request: Request):
    return render(request, "portal/not_found.html",
                  {"message": i18n.translate_error("portal.rate_limited", {})}, status_code=429,
                  headers={**PRIVATE, "Retry-After": "60"})


def _party_locale(request: Request, locale: str):
    """The party's language, unless they picked one with the switcher (kept in the session)."""
    if request.session.get("lang"):
        return None
    return i18n.set_locale(locale or "zh_CN")


def _locale_of_token(session: Session, token: str) -> str:
    try:
        return party_side.resolve(session, token, utcnow()).party.locale
    except GendanError:
        return "zh_CN"


def _order_page(request: Request, session: Session, token: str, order_id: int | None, *, errors: dict | None = None,
                values: dict | None = None, message: str | None = None, status_code: int = 200):
    lang = _party_locale(request, _locale_of_token(session, token))
    try:
        try:
            v = party_side.view(session, token=token, now=utcnow(), order_id=order_id)
        except GendanError as exc:
            if exc.code != "portal.not_found":
                raise
            # in the visitor's own language: the party's would tell that the token is a real one
            if lang is not None:
                i18n.reset_locale(lang)
                lang = None
            return _not_found(request)
        base = f"/p/{token}" + (f"/orders/{order_id}" if order_id is not None else "")
        return render(request, "portal/order.html", {
            "v": v, "action": base, "inbox_url": f"/p/{token}" if order_id is not None else None,
            "errors": errors or {}, "values": values or {}, "message": message,
            "kind_label": i18n.gettext(portal.KIND_LABELS[v.party_kind]),
            "file_fields": portal_attachments.file_fields_for(
                session, token=token, order_id=order_id, now=utcnow(),
                body_limit=request.app.state.settings.max_body_bytes)}, status_code=status_code, headers=PRIVATE)
    finally:
        if lang is not None:
            i18n.reset_locale(lang)


@router.get("/p/{token}")
def portal_page(request: Request, session: DbSession, token: str):
    if rate_limited(session, request, write=False):
        return _too_many(request)
    try:
        access = party_side.resolve(session, token, utcnow())
    except GendanError as exc:
        if exc.code != "portal.not_found":
            raise
        return _not_found(request)
    if access.order is not None:
        return _order_page(request, session, token, None)
    lang = _party_locale(request, access.party.locale)
    try:
        party, rows = party_side.inbox(session, token=token, now=utcnow())
        return render(request, "portal/inbox.html", {"party": party, "rows": rows, "order_base": f"/p/{token}/orders",
                                                     "kind_label": i18n.gettext(portal.KIND_LABELS[party.kind])},
                      headers=PRIVATE)
    finally:
        if lang is not None:
            i18n.reset_locale(lang)


@router.get("/p/{token}/orders/{order_id}")
def portal_inbox_order(request: Request, session: DbSession, token: str, order_id: int):
    if rate_limited(session, request, write=False):
        return _too_many(request)
    return _order_page(request, session, token, order_id)


@router.post("/p/{token}")
async def portal_save(request: Request, session: DbSession, token: str):
    await _check_csrf(request)
    form = await request.form()
    return await run_in_threadpool(_save, request, session, token, None, form)


@router.post("/p/{token}/orders/{order_id}")
async def portal_inbox_save(request: Request, session: DbSession, token: str, order_id: int):
    await _check_csrf(request)
    form = await request.form()
    return await run_in_threadpool(_save, request, session, token, order_id, form)


def _save(request: Request, session: Session, token: str, order_id: int | None, form):
    if rate_limited(session, request, write=True):
        return _too_many(request)
    values = {k[2:]: str(v) for k, v in form.multi_items() if k.startswith("f_")}
    finish = form.get("finish") == "1"
    lang = _party_locale(request, _locale_of_token(session, token))
    try:
        party_side.submit(session, token=token, values=values, now=utcnow(), order_id=order_id, finish=finish)
    except GendanError as exc:
        session.rollback()
        if exc.code == "portal.not_found":
            if lang is not None:
                i18n.reset_locale(lang)
                lang = None
            return _not_found(request)
        errors = ({k: i18n.translate_error(c, p) for k, (c, p) in exc.fields.items()} if exc.fields
                  else {"_": i18n.translate_error(exc.code, exc.params)})
        return _order_page(request, session, token, order_id, errors=errors, values=values,
                           status_code=exc.status)
    finally:
        if lang is not None:
            i18n.reset_locale(lang)
    suffix = f"/orders/{order_id}" if order_id is not None else ""
    return RedirectResponse(f"/p/{token}{suffix}?saved=1", status_code=303)


# --- admin -----------------------------------------------------------------------------------------

def _outside_steps(session: Session) -> list[tuple[str, str]]:
    """The steps of the published flows that are given to someone outside, (key, name), offered
    beside the step key box: an admin had to know a key no page showed."""
    locale = i18n.get_locale()
    rows = session.exec(select(FlowDefinitionRow.definition).where(FlowDefinitionRow.status == "published")).scalars()
    steps = {}
    for definition in rows:
        for node in (definition or {}).get("nodes", ()):
            if node.get("external") and node.get("key"):
                names = node.get("name") or {}
                steps.setdefault(node["key"], names.get("zh-CN" if locale == "zh_CN" else "en") or node["key"])
    return sorted(steps.items())


def _admin(request: Request, session: Session, actor: Actor, *, form: dict | None = None, errors: dict | None = None,
           status_code: int = 200):
    parties = portal.list_parties(session, actor=actor)
    links = portal.list_links(session, actor=actor)
    base = request.app.state.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")
    numbers = {}
    order_ids = sorted({link.order_id for link in links if link.order_id})
    if order_ids:
        numbers = dict(session.exec(select(Order.id, Order.number).where(Order.id.in_(order_ids))).all())
    customers = session.exec(select(Customer.id, Customer.name).order_by(Customer.name).limit(500)).all()
    robots = session.exec(select(ChannelConfig.id, ChannelConfig.name).where(
        ChannelConfig.kind.in_(portal.ROBOT_KINDS)).order_by(ChannelConfig.name)).all()
    return render(request, "portal/admin.html", {
        "nav": "admin", "tab": "portal", "outside_steps": _outside_steps(session), "parties": parties, "party_names": {p.id: p.name for p in parties},
        "links": links, "base": base, "numbers": numbers, "now": utcnow(), "customers": customers, "robots": robots,
        "kinds": portal.PARTY_KINDS, "kind_labels": portal.KIND_LABELS, "form": form or {}, "errors": errors or {},
        "flash": _pop_flash(request), "new_link": request.session.pop("portal_new_link", None),
        "users": portal_users.list_users(session, actor=actor)},
        status_code=status_code)


@router.get("/admin/portal")
def admin_portal(request: Request, session: DbSession, actor: AdminActor):
    return _admin(request, session, actor)


def _errors_of(exc: GendanError) -> dict[str, str]:
    if exc.fields:
        return {k: i18n.translate_error(c, p) for k, (c, p) in exc.fields.items()}
    return {"_": i18n.translate_error(exc.code, exc.params)}


def _int_or_none(value) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


@router.post("/admin/portal/parties")
async def admin_create_party(request: Request, session: DbSession, actor: AdminActor):
    form = await request.form()
    return await run_in_threadpool(_create_party, request, session, actor, form)


def _create_party(request: Request, session: Session, actor: Actor, form):
    values = {k: str(form.get(k) or "") for k in ("kind", "name", "contact_name", "email", "phone", "locale")}
    values["customer_id"] = _int_or_none(form.get("customer_id"))
    values["robot_channel_id"] = _int_or_none(form.get("robot_channel_id"))
    try:
        party = portal.create_party(session, actor=actor, values=values, now=utcnow())
    except GendanError as exc:
        session.rollback()
        return _admin(request, session, actor, form=values, errors=_errors_of(exc), status_code=exc.status)
    _flash(request, i18n.gettext("%(name)s was added.", name=party.name))
    return RedirectResponse("/admin/portal", status_code=303)


@router.post("/admin/portal/parties/{party_id}/active")
async def admin_party_active(request: Request, session: DbSession, actor: AdminActor, party_id: int):
    form = await request.form()
    is_active = form.get("is_active") == "1"
    await run_in_threadpool(portal.update_party, session, actor=actor, party_id=party_id,
                            values={"is_active": is_active}, now=utcnow())
    return RedirectResponse("/admin/portal", status_code=303)


@router.post("/admin/portal/links")
async def admin_issue_link(request: Request, session: DbSession, actor: AdminActor):
    form = await request.form()
    return await run_in_threadpool(_issue, request, session, actor, form)


def _issue(request: Request, session: Session, actor: Actor, form):
    party_id = _int_or_none(form.get("party_id"))
    number = str(form.get("order_number") or "").strip()[:40]
    node_key = str(form.get("node_key") or "").strip()[:64] or None
    days = _int_or_none(form.get("days")) or portal.DEFAULT_DAYS
    values = {"party_id": party_id, "order_number": number, "node_key": node_key or "", "days": days}
    try:
        order_id = None
        if number and not node_key:
            raise GendanError("portal.node_missing")
        if number:
            order_id = session.exec(select(Order.id).where(Order.number == number)).scalars().first()
            if order_id is None:
                raise GendanError("order.not_found", {"id": number})
        if party_id is None:  # none chosen (none to choose before the first is added): "party - does not exist"
            raise GendanError("portal.party_missing", status=422)
        if session.get(ExternalParty, party_id) is None:
            raise GendanError("portal.party_not_found", {"id": party_id})
        base = request.app.state.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")
        link = portal.issue_link(session, actor=actor, party_id=party_id, order_id=order_id, node_key=node_key,
                                 days=days, now=utcnow(), base_url=base)
    except GendanError as exc:
        session.rollback()
        return _admin(request, session, actor, form=values, errors=_errors_of(exc), status_code=exc.status)
    request.session["portal_new_link"] = link.id
    return RedirectResponse("/admin/portal", status_code=303)


@router.post("/admin/portal/links/{link_id}/revoke")
def admin_revoke_link(request: Request, session: DbSession, actor: AdminActor, link_id: int):
    portal.revoke_link(session, actor=actor, link_id=link_id, now=utcnow())
    _flash(request, i18n.gettext("The link was revoked."))
    return RedirectResponse("/admin/portal", status_code=303)


@router.post("/admin/portal/users")
async def admin_create_user(request: Request, session: DbSession, actor: AdminActor):
    form = await request.form()
    return await run_in_threadpool(_create_user, request, session, actor, form)


def _create_user(request: Request, session: Session, actor: Actor, form):
    values = {"user_party_id": _int_or_none(form.get("party_id")), "username": str(form.get("username") or "")[:64],
              "display_name": str(form.get("display_name") or "")[:120]}
    try:
        if values["user_party_id"] is None:  # it said "external party 0 does not exist"
            raise GendanError("portal.party_missing", status=422,
                              fields={"party_id": ("portal.party_missing", {})})
        user = portal_users.create_user(session, actor=actor, party_id=values["user_party_id"],
                                        username=values["username"], display_name=values["display_name"],
                                        password=str(form.get("password") or "")[:200], now=utcnow())
    except GendanError as exc:
        session.rollback()
        errors = {f"user_{k}": v for k, v in _errors_of(exc).items()}
        return _admin(request, session, actor, form=values, errors=errors, status_code=exc.status)
    _flash(request, i18n.gettext("%(name)s was added.", name=user.username))
    return RedirectResponse("/admin/portal", status_code=303)


@router.post("/admin/portal/users/{user_id}/active")
async def admin_user_active(request: Request, session: DbSession, actor: AdminActor, user_id: int):
    form = await request.form()
    await run_in_threadpool(portal_users.set_active, session, actor=actor, user_id=user_id,
                            is_active=form.get("is_active") == "1", now=utcnow())
    return RedirectResponse("/admin/portal", status_code=303)
