"""The fields a to-do asks for: a rule's `payload.fields`, or the flow step's required and editable
designed fields, labelled in the reader's language with a fitting input."""

from __future__ import annotations

import re

from sqlmodel import Session

from backend.errors import GendanError
from backend.flows import service as flows_service
from backend.forms import service as forms_service
from backend.inbox.models import InboxItem
from backend.inbox.schemas import TaskField
from backend.orders.models import Order


def task_fields(item: InboxItem, session: Session | None = None) -> list[TaskField]:
    """The fields a to-do asks for: `payload.fields` (rules), or the flow node's editable and
    required designed fields (`data.<key>`, per the node's field permissions)."""
    if item.flow_instance_id is not None and session is not None and not (item.payload or {}).get("fields"):
        return _flow_node_fields(session, item)
    fields = []
    for raw in (item.payload or {}).get("fields") or []:
        try:
            fields.append(TaskField.model_validate(raw))
        except ValueError:
            continue  # a malformed field spec is the rule author's bug; it is not offered
    return fields


def _flow_node_fields(session: Session, item: InboxItem) -> list[TaskField]:
    payload = item.payload or {}
    if not payload.get("flow_key") or not item.node_key:
        return []
    # a page of 50 approvals of one flow parses its definition once (issue 17: a 10 s inbox)
    cache = session.info.get("inbox_read_cache")
    key = ("flow", payload["flow_key"], str(payload.get("flow_version")))
    try:
        if cache is not None and key in cache:
            definition = cache[key]
        else:
            definition = flows_service.parse_published(
                flows_service.get_row(session, payload["flow_key"], int(payload.get("flow_version") or 0)))
            if cache is not None:
                cache[key] = definition
        node = definition.nodes_by_key.get(item.node_key)
    except (GendanError, ValueError):
        return []
    if node is None:
        return []
    required = set(getattr(node, "required_fields", ()) or ())
    editable = [k for k, perm in (getattr(node, "field_permissions", {}) or {}).items() if perm == "editable"]
    specs = _designed_field_specs(session, item.order_id)
    fields = []
    for path in dict.fromkeys([*sorted(required), *editable]):
        if path.startswith("data.") and re.match(r"^[a-z][a-z0-9_]{0,59}$", path[5:]):
            label, kind = specs.get(path[5:], (path[5:], "text"))
            fields.append(TaskField(key=path[5:], label=label, type=kind, required=path in required))
    return fields


_INPUT_TYPES = {"date": "date", "number": "number", "money": "number", "percent": "number", "textarea": "textarea"}


def _designed_field_specs(session: Session, order_id: int | None) -> dict[str, tuple[str, str]]:
    """Label (in the reader's language) and input type of the order form's fields, so a flow task
    asks for 生产完成日期 with a date picker rather than for `production_done_on` in a text box.
    The order's own form version (immutable, so parsed once per session), else the published form."""
    order = session.get(Order, order_id) if order_id else None
    pinned = (order.form_key, order.form_version) if order is not None and order.form_key and order.form_version \
        else None
    locale = forms_service.engine_locale()
    cache = session.info.setdefault("inbox_form_specs", {})
    if pinned is not None and (pinned, locale) in cache:
        return cache[(pinned, locale)]
    defn = None
    if pinned is not None:
        try:
            defn = forms_service.get_definition(session, *pinned)
        except GendanError:
            defn = None
    if defn is None:
        # the published form, once per page read (to_reads keeps the cache for one call)
        read_cache = session.info.get("inbox_read_cache")
        if read_cache is not None and ("published_form", locale) in read_cache:
            return read_cache[("published_form", locale)]
        defn = forms_service.get_published(session)
    specs = {} if defn is None else {
        f.key: (f.text("label", locale) or f.key, _INPUT_TYPES.get(str(f.type.value), "text")) for f in defn.data_fields()}
    if pinned is not None:
        cache[(pinned, locale)] = specs
    elif session.info.get("inbox_read_cache") is not None:
        session.info["inbox_read_cache"][("published_form", locale)] = specs
    return specs
