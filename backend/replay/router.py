"""What-if API: POST /api/v1/rules/{key}/whatif replays the last N weeks through the published
version and the draft (nothing stored or sent)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.replay import runs, service
from backend.replay.models import WhatIfRun
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


RUN = {202: {"description": "A large window: queued for the worker; read GET /api/v1/whatif/runs/{id}"},
       429: {"description": "Too many replays queued or running"}}


@router.post("/whatif", responses={**ERRORS, **RUN})
def what_if_rule_set(session: DbSession, actor: CurrentActor, body: RuleSetRequest | None = None) -> Any:
    """Every rule with a draft replayed beside its published version, in one pass (nothing stored or sent).
    Over a few hundred orders the replay is queued for the worker (202 with the run)."""
    body = body or RuleSetRequest()
    return answer(*runs.ask(session, actor=actor, kind="rule_set", weeks=body.weeks, now=utcnow()))


@router.post("/{key}/whatif", responses={**ERRORS, **RUN, 409: {"description": "No draft to compare"}})
def what_if(session: DbSession, actor: CurrentActor, key: str, body: WhatIfRequest | None = None) -> Any:
    """What the draft would have done over the last `weeks` of real orders, beside the published version.
    Over a few hundred orders the replay is queued for the worker (202 with the run)."""
    body = body or WhatIfRequest()
    return answer(*runs.ask(session, actor=actor, kind="rule", key=key, weeks=body.weeks, now=utcnow(),
                            definition=body.definition))


def answer(result: dict[str, Any] | None, run: WhatIfRun | None) -> Any:
    """The inline answer (200), or the queued run (202) with where to read it."""
    if run is None:
        return result
    return JSONResponse(status_code=202, content={"run": {"id": run.id, "state": run.state,
                                                          "url": f"/api/v1/whatif/runs/{run.id}"}})
