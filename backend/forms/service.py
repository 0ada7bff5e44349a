"""Form definition use cases: save draft, publish, history, diff, export / import, and the order
hook that validates every order's designed data against the form version it was created with.

Drafts, versions and publishing follow the lifecycle every designed definition shares
(backend/definitions/lifecycle.py). Publishing is all or nothing: the draft is validated by the
engine first (every issue comes back with its path, so the designer marks each field), then
compared with the published version; an incompatible type change that existing orders hold values
for is refused with that count.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from backend import i18n
from backend.auth.actor import Actor
from backend.batch_cache import batch_cache  # noqa: F401  (forms_service.batch_cache, used by the bulk import)
from backend.batch_cache import cached as _cached
from backend.customers.models import Customer
from backend.definitions.lifecycle import Lifecycle, require_designer
from backend.errors import GendanError
from backend.forms.models import FormDefinitionRow
from backend.forms.schemas import FormDiff, FormEvaluation, FormVersionRead, FormVersionSummary, IssueRead
from backend.orders.models import Order
from backend.people.models import Department, User
from backend.pipeline import OrderChange
from engine import forms as forms_engine
from engine.forms import FormDefinition, FormDefinitionError, Issue
from engine.nesting import MAX_NESTING, nested_deeper_than

DEFAULT_FORM_KEY = "order"
"""The order form of the installation: "New order" renders its published version."""

FORMS = Lifecycle("form", FormDefinitionRow)


def engine_locale() -> str:
    return "zh-CN" if i18n.get_locale() == "zh_CN" else "en"


def describe_issues(issues: list[Issue]) -> list[IssueRead]:
    """Issues with their message in the request's language (for the designer)."""
    locale = engine_locale()
    return [IssueRead(path=i.path, code=i.code, params=i.params,
                      message=forms_engine.render(i.code, i.params, locale)) for i in issues]


def _invalid(issues: list[Issue]) -> GendanError:
    fields: dict[str, tuple[str, dict[str, Any]]] = {}
    for issue in issues:
        fields.setdefault(issue.path or "_", (issue.code, issue.params))
    return GendanError("form.definition_invalid", {"count": len(issues)}, status=422, fields=fields)


def _to_read(row: FormDefinitionRow, *, with_issues: bool = True) -> FormVersionRead:
    read = FormVersionRead.model_validate(row)
    if with_issues and row.status == "draft":
        read.issues = describe_issues(forms_engine.validate_definition(row.definition))
    return read


# --- queries ---------------------------------------------------------------------------------


def _row(session: Session, key: str, version: int) -> FormDefinitionRow:
    return FORMS.get(session, key, version)


def _published_row(session: Session, key: str) -> FormDefinitionRow | None:
    return _cached(session, ("published", key), lambda: FORMS.with_status(session, key, "published"))


def _draft_row(session: Session, key: str) -> FormDefinitionRow | None:
    return FORMS.with_status(session, key, "draft")


def get_published(session: Session, key: str = DEFAULT_FORM_KEY) -> FormDefinition | None:
    row = _published_row(session, key)
    return forms_engine.parse_definition(row.definition) if row else None


def get_definition(session: Session, key: str, version: int) -> FormDefinition:
    """One version of a form, parsed (parsing a 25-field form takes well under a millisecond)."""
    return _cached(session, ("version", key, version),
                   lambda: forms_engine.parse_definition(_row(session, key, version).definition))


def list_versions(session: Session, *, actor: Actor, key: str = DEFAULT_FORM_KEY) -> list[FormVersionSummary]:
    return [FormVersionSummary.model_validate(r) for r in reversed(FORMS.versions(session, key))]


def get_version(session: Session, *, actor: Actor, key: str, version: int) -> FormVersionRead:
    return _to_read(_row(session, key, version))


def get_working_copy(session: Session, *, actor: Actor, key: str = DEFAULT_FORM_KEY) -> FormVersionRead | None:
    """What the designer opens: the draft if there is one, else the published version."""
    row = FORMS.working_copy(session, key)
    return _to_read(row) if row else None


# --- use cases --------------------------------------------------------------------------------


def save_draft(session: Session, *, actor: Actor, key: str, definition: dict[str, Any], now: datetime) -> FormVersionRead:
    """Store the designer's work as the key's draft (a new version after the published one).

    The draft must parse (shape), but may still have issues: they come back with it."""
    require_designer(actor)
    if nested_deeper_than(definition):  # before deepcopy and parsing, which recurse
        raise GendanError("form.too_deep", {"max": MAX_NESTING})

    def build(version: int) -> dict[str, Any]:
        raw = {**copy.deepcopy(definition), "key": key, "version": version}
        try:
            return forms_engine.parse_definition(raw).to_json()
        except FormDefinitionError as exc:
            raise _invalid(exc.issues) from exc

    draft = FORMS.store_draft(session, actor=actor, key=key, build=build, now=now)
    read = _to_read(draft)
    session.commit()
    return read


def publish_form(session: Session, *, actor: Actor, key: str = DEFAULT_FORM_KEY, now: datetime) -> FormVersionRead:
    """Publish the key's draft: validated first, compared with the published version, all or nothing."""
    require_designer(actor)
    draft = _draft_row(session, key)
    if draft is None:
        raise GendanError("form.no_draft", {"key": key}, status=409)
    issues = forms_engine.validate_definition(draft.definition)
    if issues:
        raise _invalid(issues)
    new = forms_engine.parse_definition(draft.definition)
    current = _published_row(session, key)
    if current is not None:
        compat = forms_engine.compatibility(forms_engine.parse_definition(current.definition), new)
        if not compat.is_compatible:
            affected = count_affected_orders(session, key, compat)
            if affected:
                fields = {c.path: ("form.incompatible_change", {"fields": c.path, "orders": affected})
                          for c in compat.incompatible}
                raise GendanError("form.incompatible_change",
                                  {"fields": ", ".join(c.path for c in compat.incompatible), "orders": affected},
                                  status=409, fields=fields)
    FORMS.publish(session, draft, actor=actor, now=now)
    read = _to_read(draft)
    session.commit()
    return read


def _order_data(session: Session, key: str, fields: list[str]) -> Iterator[dict[str, Any]]:
    """`data` of the form's orders holding anything under one of `fields` (SQL narrows, Python decides)."""
    holds = or_(*(Order.data[f].as_string().is_not(None) for f in fields))
    stmt = select(Order.data).where(Order.form_key == key, holds).execution_options(yield_per=500)
    for (data,) in session.exec(stmt):
        yield data or {}


def count_affected_orders(session: Session, key: str, compat: forms_engine.Compatibility) -> int:
    """Orders of this form holding a value an incompatible change would break (streamed, not loaded)."""
    if not compat.incompatible:
        return 0
    fields = sorted({c.path.split(".", 1)[0] for c in compat.incompatible})
    return sum(1 for data in _order_data(session, key, fields) if forms_engine.is_affected(compat, data))


def diff_versions(session: Session, *, actor: Actor, key: str, old: int, new: int) -> FormDiff:
    compat = forms_engine.compatibility(get_definition(session, key, old), get_definition(session, key, new))
    out = compat.to_json()
    return FormDiff(key=key, old_version=old, new_version=new, affected_orders=(
        count_affected_orders(session, key, compat) if compat.incompatible else 0), **out)


def export_form(session: Session, *, actor: Actor, key: str, version: int) -> dict[str, Any]:
    """The version as a portable JSON document (what import_form accepts)."""
    return FORMS.export(session, key, version)


def import_form(session: Session, *, actor: Actor, document: dict[str, Any] | str | bytes,
                now: datetime) -> FormVersionRead:
    """Import an exported definition as the draft of its key; refused whole if it has any issue."""
    require_designer(actor)
    issues = forms_engine.validate_definition(document)
    if issues:
        raise _invalid(issues)
    defn = forms_engine.parse_definition(document)
    return save_draft(session, actor=actor, key=defn.key, definition=defn.to_json(), now=now)


def discard_draft(session: Session, *, actor: Actor, key: str) -> None:
    require_designer(actor)
    if FORMS.discard_draft(session, key):
        session.commit()


def evaluate(session: Session, *, key: str, version: int | None, data: dict[str, Any],
             show_errors: bool, stage: str = "draft") -> FormEvaluation:
    """Run the engine over data typed so far (the same code that validates on save)."""
    if version is None:
        row = _draft_row(session, key) or _published_row(session, key)
        if row is None:
            raise GendanError("form.not_found", {"key": key, "version": 0})
        defn = forms_engine.parse_definition(row.definition)
    else:
        defn = get_definition(session, key, version)
    result = forms_engine.validate_data(defn, data, locale=engine_locale(), context={"stage": stage})
    return FormEvaluation(data=result.data, visible=result.visible, required=result.required,
                          totals=result.totals, errors=result.errors_by_path() if show_errors else {})


# --- orders ------------------------------------------------------------------------------------


def _exists(session: Session):
    models = {"user": User, "department": Department, "customer": Customer}

    def exists(kind: str, ids: set[int]) -> set[int]:
        model = models[kind]
        return set(session.exec(select(model.id).where(model.id.in_(sorted(ids)))).scalars().all())

    return exists


def check_unique(session: Session, defn: FormDefinition, order: Order, data: dict[str, Any]) -> dict[str, tuple[str, dict]]:
    """Fields marked unique whose value another order of the same form already holds: one JSON
    lookup per field in SQL (`data->>'key'` on PostgreSQL, `json_extract` on SQLite), not a scan in
    Python. At scale it wants an expression index per unique field (not created yet)."""
    clashes: dict[str, tuple[str, dict]] = {}
    for f in defn.data_fields():
        value = data.get(f.key)
        if not f.unique or value in (None, ""):
            continue
        element = Order.data[f.key]
        same = element.as_string() == value if isinstance(value, str) else element.as_float() == float(value)
        stmt = select(Order.number).where(Order.form_key == defn.key, same)
        if order.id is not None:
            stmt = stmt.where(Order.id != order.id)
        number = session.execute(stmt.limit(1)).scalar_one_or_none()
        if number is not None:
            clashes[f.key] = ("form.value_taken", {"field": f.key, "number": number})
    return clashes


NEW_ORDER_CONTEXT = {"stage": "draft"}
STAGE_ORDER = ("draft", "approval", "tech_confirm", "production", "shipping", "delivered", "invoicing", "payment",
               "completed")
"""The fulfilment stages in order (the B2B template's), for "shown from stage X on"."""


def shown_from_stage(stage: str) -> dict[str, Any]:
    """The `visible_if` the form designer's "Shown from stage" picker writes (same shape in
    designer/static/js/forms/designer.js): the field appears once the order reaches `stage`."""
    return {"in": [{"var": "stage"}, list(STAGE_ORDER[STAGE_ORDER.index(stage):])]}


def order_context(order: Any) -> dict[str, Any]:
    """The order facts a form's expressions may read besides its fields (engine.forms
    `ORDER_CONTEXT`): a field "shown from the production stage on" reads `stage`."""
    return {"stage": getattr(order, "stage", None) or NEW_ORDER_CONTEXT["stage"]}


def validate_order_form(session: Session, change: OrderChange) -> None:
    """Check stage of the order pipeline: pin a new order to the published form version, then
    validate and recompute its `data` with the version it was created with, whoever writes it (a
    person, an import, a rule's or flow's `SetField`). Raises form.validation_failed (422) with one
    message per field path. Runs without autoflush: the order's pending change must not reach the
    database before it is validated."""
    if not change.is_new and "data" not in change.changed_fields:
        return  # data untouched by this change
    previous = None if change.is_new else (change.before or {}).get("data") or {}
    with session.no_autoflush:
        _validate_order_form(session, change.order, is_new=change.is_new, previous=previous)


def _validate_order_form(session: Session, order: Order, *, is_new: bool, previous: dict[str, Any] | None) -> None:
    if is_new and order.form_key is None:
        row = _published_row(session, DEFAULT_FORM_KEY)
        if row is None:
            return  # no form designed yet: designed data is stored as sent
        order.form_key, order.form_version = row.key, row.version
    if order.form_key is None or order.form_version is None:
        return
    defn = get_definition(session, order.form_key, order.form_version)
    _, archived = forms_engine.split_archived(defn, previous or {})
    current = {k: v for k, v in (order.data or {}).items() if k not in archived}  # new unknown keys are errors
    result = forms_engine.validate_data(defn, current, locale=engine_locale(), previous=previous,
                                        exists=_exists(session), context=order_context(order))
    fields = {e.path: (e.code, e.params) for e in result.errors}
    if not fields:
        fields = check_unique(session, defn, order, result.data)
    if fields:
        raise GendanError("form.validation_failed", {"count": len(fields)}, status=422, fields=fields)
    order.data = {**archived, **result.data}

