"""What-if API: POST /api/v1/rules/{key}/whatif replays the last N weeks through the published
version and the draft (nothing stored or sent)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.replay import service
from backend.rules.router import ERRORS, bounded_body

router = APIRouter(prefix="/api/v1/rules", tags=["rules"], dependencies=[Depends(bounded_body)])


class WhatIfRequest(BaseModel):
    """`weeks`: how far back (1–12); `definition`: a changed version to try instead of the stored draft."""

    model_config = ConfigDict(extra="forbid")

    weeks: int = Field(default=service.DEFAULT_WEEKS, ge=1, le=service.MAX_WEEKS)
    definition: dict[str, Any] | None = None


class RuleSetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weeks: int = Field(default=service.DEFAULT_WEEKS, ge=1, le=service.MAX_WEEKS)


@router.post("/whatif", responses=ERRORS)
def what_if_rule_set(session: DbSession, actor: CurrentActor, body: RuleSetRequest | None = None) -> dict[str, Any]:
    """Every rule with a draft replayed beside its published version, in one pass (nothing stored or sent)."""
    body = body or RuleSetRequest()
    return service.what_if_rule_set(session, actor=actor, weeks=body.weeks, now=utcnow())


@router.post("/{key}/whatif", responses={**ERRORS, 409: {"description": "No draft to compare"}})
def what_if(session: DbSession, actor: CurrentActor, key: str, body: WhatIfRequest | None = None) -> dict[str, Any]:
    """What the draft would have done over the last `weeks` of real orders, beside the published version."""
    body = body or WhatIfRequest()
    return service.what_if(session, actor=actor, key=key, weeks=body.weeks, now=utcnow(), definition=body.definition)
