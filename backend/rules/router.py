"""Rule JSON API (/api/v1/rules): thin; the service decides."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from backend import i18n
from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.errors import GendanError
from backend.rules import definitions, history, matching, sentences
from backend.rules.schemas import (
    DryRunRead,
    EnablePreviewRead,
    EnableRequest,
    FiringRead,
    IssueMessageRead,
    IssueRead,
    PreviewRead,
    PreviewRequest,
    RuleRead,
)

# A rule at the limits an admin meets (engine/rules/limits.py: 500-item lists, 100 operands) is a
# few tens of KB; the app-wide limit is 1 MB. Refused before the service reads the definition.
RULE_BODY_MAX = 256_000


def bounded_body(request: Request) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > RULE_BODY_MAX:
        raise GendanError("request.too_large", {"limit": RULE_BODY_MAX}, status=413)


router = APIRouter(prefix="/api/v1/rules", tags=["rules"], dependencies=[Depends(bounded_body)])
ERRORS = {401: {"description": "Not signed in"}, 403: {"description": "Not an admin or designer"},
          404: {"description": "No such rule"}, 409: {"description": "Not published / confirmation needed"},
          413: {"description": "Body over 256 KB"}, 422: {"description": "Invalid definition"}}


@router.get("", response_model=list[RuleRead], responses=ERRORS)
def list_rules(session: DbSession, actor: CurrentActor) -> list[RuleRead]:
    return definitions.list_rules(session, actor=actor)


@router.post("", response_model=RuleRead, status_code=201, responses=ERRORS)
def save_draft(session: DbSession, actor: CurrentActor, definition: Annotated[dict[str, Any], Body()]) -> RuleRead:
    """Store a definition as its key's draft."""
    return definitions.save_draft(session, actor=actor, definition=definition, now=utcnow())


@router.post("/validate", response_model=list[IssueMessageRead], responses=ERRORS)
def validate(session: DbSession, actor: CurrentActor,
             definition: Annotated[dict[str, Any], Body()]) -> list[IssueMessageRead]:
    """Every issue that would block publishing, each with its sentence in the user's language."""
    return [IssueMessageRead(**issue.model_dump(), message=i18n.translate_error(issue.code, issue.params),
                             place=sentences.place(issue.path, definition))
            for issue in definitions.validate_definition(session, actor=actor, definition=definition)]


@router.post("/dry-run", response_model=DryRunRead, responses=ERRORS)
def dry_run(session: DbSession, actor: CurrentActor, definition: Annotated[dict[str, Any], Body()]) -> DryRunRead:
    """Which orders match now and what would happen (nothing stored)."""
    return matching.dry_run(session, actor=actor, definition=definition, now=utcnow())


@router.post("/preview", response_model=PreviewRead, responses=ERRORS)
def preview_rule(session: DbSession, actor: CurrentActor, body: PreviewRequest) -> PreviewRead:
    """Every action's texts and people on one order (by number or id; default the first); nothing stored."""
    return matching.preview_rule(session, actor=actor, definition=body.definition, order=body.order, now=utcnow())


@router.get("/{key}", response_model=RuleRead, responses=ERRORS)
def get_rule(session: DbSession, actor: CurrentActor, key: str) -> RuleRead:
    return definitions.get_rule(session, actor=actor, key=key)


@router.post("/{key}/publish", response_model=RuleRead, responses=ERRORS)
def publish(session: DbSession, actor: CurrentActor, key: str, body: EnableRequest | None = None) -> RuleRead:
    """Publish the draft; an enabled rule stays enabled after the enable checks (`confirm` as for enable)."""
    body = body or EnableRequest()
    return definitions.publish_rule(session, actor=actor, key=key, confirm=body.confirm, start=body.start, now=utcnow())


@router.get("/{key}/enable-check", response_model=list[IssueRead], responses=ERRORS)
def enable_check(session: DbSession, actor: CurrentActor, key: str) -> list[IssueRead]:
    return definitions.check_enable(session, actor=actor, key=key, now=utcnow())


@router.post("/{key}/enable", response_model=RuleRead, responses=ERRORS)
def enable(session: DbSession, actor: CurrentActor, key: str, body: EnableRequest | None = None) -> RuleRead:
    """Enable the published version. `start`: "from_now" (default; the orders matching now are the
    baseline and do not fire) or "include_matching" (they fire too); `confirm` accepts the warnings."""
    body = body or EnableRequest()
    return definitions.enable_rule(session, actor=actor, key=key, confirm=body.confirm, start=body.start, now=utcnow())


@router.get("/{key}/enable-preview", response_model=EnablePreviewRead, responses=ERRORS)
def enable_preview(session: DbSession, actor: CurrentActor, key: str) -> EnablePreviewRead:
    """How many orders match now and who would get too many to-dos if they fired (nothing changes)."""
    return definitions.enable_preview(session, actor=actor, key=key, now=utcnow())


@router.post("/{key}/disable", response_model=RuleRead, responses=ERRORS)
def disable(session: DbSession, actor: CurrentActor, key: str) -> RuleRead:
    return definitions.disable_rule(session, actor=actor, key=key, now=utcnow())


@router.get("/{key}/firings", response_model=list[FiringRead], responses=ERRORS)
def firings(session: DbSession, actor: CurrentActor, key: str) -> list[FiringRead]:
    return history.list_firings(session, actor=actor, key=key)
