"""Flow definition use cases: save draft, validate, publish, history, export / import, simulate.

Drafts, versions and publishing follow the lifecycle every designed definition shares
(backend/definitions/lifecycle.py). Publishing is all or nothing: the engine validates the graph
(networkx) against the published order form's fields and returns every issue with the nodes to
highlight; only a clean draft becomes the published version, and the previous published version
is retired.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend.auth.actor import Actor
from backend.batch_cache import cached
from backend.definitions.lifecycle import Lifecycle, require_designer
from backend.errors import GendanError
from backend.flows import messages
from backend.flows.directory import load_directory
from backend.flows.models import FlowDefinitionRow
from backend.flows.schemas import (
    FlowVersionRead,
    FlowVersionSummary,
    IssueRead,
    SimulationIn,
    SimulationRead,
    SimulationStep,
)
from backend.installation.service import installation_calendar
from backend.people.models import User
from engine.calendar import BusinessCalendar
from engine.flows import FlowDefinition, FlowError, FlowIssue, FlowState, parse_and_validate, step
from engine.flows.bpmn import from_bpmn, to_bpmn
from engine.flows.definition import load_definition, load_template
from engine.flows.errors import FlowDefinitionError
from engine.flows.events import Approve, CompleteTask, Start

DEFAULT_FLOW_KEY = "order"
"""The flow every new order starts, once a version of it is published."""

FLOWS = Lifecycle("flow", FlowDefinitionRow)


def error(code: str, **params: Any) -> GendanError:
    return GendanError(code, params)


def from_flow_error(exc: FlowError) -> GendanError:
    return error(exc.code, **exc.params)


def issues_read(issues: list[FlowIssue]) -> list[IssueRead]:
    return [IssueRead(path=i.path, code=i.code, nodes=list(i.nodes), params=i.params,
                      message=messages.render(i.code, {**i.params, "nodes": ", ".join(i.nodes)}))
            for i in issues]


def invalid(issues: list[FlowIssue]) -> GendanError:
    fields = {f"{i.path or '_'}#{n}": (i.code, {**i.params, "nodes": list(i.nodes)}) for n, i in enumerate(issues)}
    return GendanError("flow.definition_invalid", {"count": len(issues)}, status=422, fields=fields)


def form_field_keys(session: Session) -> list[str] | None:
    """Designed field keys of the published order form (None when forms are not set up)."""
    try:
        from backend.forms import service as forms_service
    except ImportError:  # pragma: no cover - forms ship with the product
        return None
    form = forms_service.get_published(session)
    if form is None:
        return None
    return [f.key for f in form.data_fields()]


def published_row(session: Session, key: str) -> FlowDefinitionRow | None:
    """The published version of `key` (read once per bulk-import batch, see backend/batch_cache.py)."""
    return cached(session, ("flow.published", key), lambda: FLOWS.with_status(session, key, "published"))


def get_row(session: Session, key: str, version: int) -> FlowDefinitionRow:
    return FLOWS.get(session, key, version)


def to_read(session: Session, row: FlowDefinitionRow) -> FlowVersionRead:
    read = FlowVersionRead.model_validate(row, from_attributes=True)
    if row.status == "draft":
        _, issues = parse_and_validate(row.definition, form_fields=form_field_keys(session))
        read.issues = issues_read(issues)
    return read


# --- queries -----------------------------------------------------------------------------------


def list_flows(session: Session, *, actor: Actor) -> list[FlowVersionSummary]:
    """The newest version of every flow key."""
    return [FlowVersionSummary.model_validate(r) for r in FLOWS.newest_per_key(session)]


def list_versions(session: Session, *, actor: Actor, key: str) -> list[FlowVersionSummary]:
    return [FlowVersionSummary.model_validate(r) for r in FLOWS.versions(session, key)]


def get_version(session: Session, *, actor: Actor, key: str, version: int) -> FlowVersionRead:
    return to_read(session, get_row(session, key, version))


def get_working_copy(session: Session, *, actor: Actor, key: str) -> FlowVersionRead | None:
    row = FLOWS.working_copy(session, key)
    return to_read(session, row) if row else None


def validate_definition(session: Session, *, actor: Actor, definition: dict[str, Any]) -> list[IssueRead]:
    _, issues = parse_and_validate(definition, form_fields=form_field_keys(session),
                                   directory=load_directory(session))
    return issues_read(issues)


# --- use cases ---------------------------------------------------------------------------------


def _store_draft(session: Session, *, actor: Actor, key: str, definition: dict[str, Any],
                 now: datetime) -> FlowDefinitionRow:
    def build(version: int) -> dict[str, Any]:
        defn, issues = parse_and_validate({**definition, "key": key, "version": version})
        if defn is None:
            raise invalid(issues)
        return defn.to_json()

    return FLOWS.store_draft(session, actor=actor, key=key, build=build, now=now)


def save_draft(session: Session, *, actor: Actor, key: str, definition: dict[str, Any],
               now: datetime) -> FlowVersionRead:
    """Store the designer's working copy (graph problems are allowed in a draft and listed)."""
    require_designer(actor)
    row = _store_draft(session, actor=actor, key=key, definition=definition, now=now)
    session.commit()
    return to_read(session, row)


def publish_flow(session: Session, *, actor: Actor, key: str, now: datetime) -> FlowVersionRead:
    """Validate the draft; when clean it becomes the published version (new orders use it)."""
    require_designer(actor)
    draft = FLOWS.with_status(session, key, "draft")
    if draft is None:
        raise error("flow.no_draft", key=key)
    defn, issues = parse_and_validate(draft.definition, form_fields=form_field_keys(session),
                                      directory=load_directory(session))
    if issues:
        raise invalid(issues)
    FLOWS.publish(session, draft, actor=actor, now=now)
    session.commit()
    return to_read(session, draft)


def discard_draft(session: Session, *, actor: Actor, key: str) -> None:
    require_designer(actor)
    if FLOWS.discard_draft(session, key):
        session.commit()


def install_template(session: Session, *, actor: Actor, key: str, template: str, now: datetime) -> FlowVersionRead:
    """Start a draft from a shipped template (`b2b_fulfilment`)."""
    require_designer(actor)
    try:
        defn = load_template(template)
    except ValueError as exc:
        raise error("flow.not_found", key=template) from exc
    row = _store_draft(session, actor=actor, key=key, definition=defn.to_json(), now=now)
    session.commit()
    return to_read(session, row)


def export_flow(session: Session, *, actor: Actor, key: str, version: int, fmt: str) -> tuple[str, str]:
    """(content, media type) of one version as JSON or BPMN 2.0 XML."""
    defn = load_definition(FLOWS.export(session, key, version))
    if fmt == "bpmn":
        return to_bpmn(defn), "application/xml"
    return json.dumps(defn.to_json(), ensure_ascii=False, indent=1), "application/json"


def import_flow(session: Session, *, actor: Actor, key: str, content: str | bytes, now: datetime) -> FlowVersionRead:
    """A JSON export or a BPMN 2.0 XML file becomes the draft of `key`."""
    require_designer(actor)
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    if text.lstrip().startswith("<"):
        try:
            definition = from_bpmn(text, key=key).to_json()
        except FlowDefinitionError as exc:
            raise invalid(exc.issues) from exc
    else:
        try:
            definition = json.loads(text)
        except json.JSONDecodeError as exc:
            raise invalid([FlowIssue("", "flow.schema_invalid", (), {"msg": str(exc)})]) from exc
        if not isinstance(definition, dict):
            raise invalid([FlowIssue("", "flow.schema_invalid", (), {"msg": "not an object"})])
    row = _store_draft(session, actor=actor, key=key, definition=definition, now=now)
    session.commit()
    return to_read(session, row)


def simulate(session: Session, *, actor: Actor, payload: SimulationIn, now: datetime) -> SimulationRead:
    """Step a test order through the flow: every to-do is approved by its first holder.

    Shows which path the facts take and who would get each to-do. Nothing is stored.
    """
    defn, issues = parse_and_validate(payload.definition, form_fields=form_field_keys(session))
    if defn is None or any(i.code in ("flow.no_start", "flow.multiple_starts") for i in issues):
        return SimulationRead(status="invalid", path=[], visited=[], steps=[], issues=issues_read(issues))
    defn = on_installation_calendar(session, defn)
    directory = load_directory(session)
    names = dict(session.exec(select(User.id, User.display_name)).all())
    facts = dict(payload.facts)
    state = FlowState()
    steps: list[SimulationStep] = []
    # the test order's owner starts it, unless the designer names someone (or it is themself)
    owner = facts.get("owner_id")
    initiator = payload.initiator_id or (owner if isinstance(owner, int) and not isinstance(owner, bool) else None) \
        or actor.user_id
    try:
        result = step(defn, state, Start(initiator_id=initiator), now, directory=directory, facts=facts)
        state = result.state
        for _ in range(100):
            pending = state.pending_tasks()
            if state.status != "running" or not pending:
                break
            task = pending[0]
            node = defn.node(task.node_key)
            holders = [t for t in pending if t.node_key == task.node_key]
            values = {f: facts.get(f) or "(simulated)" for f in node.required_fields}
            steps.append(SimulationStep(node_key=task.node_key, action=task.kind, assignees=[
                {"id": t.assignee_id, "name": names.get(t.assignee_id, str(t.assignee_id))} for t in holders]))
            event = (Approve(actor_id=task.assignee_id, task_id=task.id, values=values) if task.kind == "approval"
                     else CompleteTask(actor_id=task.assignee_id, task_id=task.id, values=values))
            state = step(defn, state, event, now, directory=directory, facts=facts).state
    except FlowError as exc:
        return SimulationRead(status="error", path=state.path(), visited=_visited(state), steps=steps,
                              issues=[IssueRead(path="", code=exc.code, params=exc.params,
                                                message=messages.render(exc.code, exc.params))])
    for token in state.tokens:
        if token.blocked:
            steps.append(SimulationStep(node_key=token.node_key, action=f"blocked:{token.blocked}"))
        elif defn.node(token.node_key).type == "wait":
            steps.append(SimulationStep(node_key=token.node_key, action="wait"))
    return SimulationRead(status=state.status, path=state.path(), visited=_visited(state), steps=steps,
                          issues=issues_read(issues))


def _visited(state: FlowState) -> list[str]:
    return list(dict.fromkeys(h.node_key for h in state.history if h.action == "node_entered" and h.node_key))


def parse_published(row: FlowDefinitionRow) -> FlowDefinition:
    return load_definition(row.definition)


_DEFAULT_CALENDAR = BusinessCalendar().model_dump(mode="json")


def on_installation_calendar(session: Session, defn: FlowDefinition) -> FlowDefinition:
    """The definition as it runs here: time limits and dates count on the installation calendar.

    A definition carries a calendar, but the designer has no control for it, so nearly every
    definition holds the built-in default (Shanghai, Monday to Friday); that one means "the
    installation's". A calendar that differs from it (written into the JSON or a BPMN file on
    purpose) is kept.
    """
    if defn.calendar.model_dump(mode="json") != _DEFAULT_CALENDAR:
        return defn
    return defn.model_copy(update={"calendar": installation_calendar(session)})
