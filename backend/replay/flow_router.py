"""Flow what-if API: POST /api/v1/flows/{key}/whatif replays the last N weeks of orders that ran the
flow through its published version and its draft (nothing stored or sent)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.replay import runs
from backend.replay.router import RUN, answer
from backend.replay.service import DEFAULT_WEEKS, MAX_WEEKS
from backend.rules.router import bounded_body

router = APIRouter(prefix="/api/v1/flows", tags=["flows"], dependencies=[Depends(bounded_body)])
ERRORS = {401: {"description": "Not signed in"}, 403: {"description": "Not an admin or designer"},
          404: {"description": "No such flow"}, 409: {"description": "No draft, or nothing published"},
          413: {"description": "Body over 256 KB"}, 422: {"description": "Invalid draft or weeks"}}


class FlowWhatIfRequest(BaseModel):
    """`weeks`: how far back (1–12); `definition`: a changed version to try instead of the stored draft."""

    model_config = ConfigDict(extra="forbid")

    weeks: int = Field(default=DEFAULT_WEEKS, ge=1, le=MAX_WEEKS)
    definition: dict[str, Any] | None = None


@router.post("/{key}/whatif", responses={**ERRORS, **RUN})
def flow_what_if(session: DbSession, actor: CurrentActor, key: str, body: FlowWhatIfRequest | None = None) -> Any:
    """What the draft would have done to the orders that ran the flow in the last `weeks`, beside the
    published version: changed paths, to-dos per assignee, step durations, stuck orders. Over a few
    hundred orders the replay is queued for the worker (202 with the run)."""
    body = body or FlowWhatIfRequest()
    return answer(*runs.ask(session, actor=actor, kind="flow", key=key, weeks=body.weeks, now=utcnow(),
                            definition=body.definition))
