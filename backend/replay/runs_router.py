"""What-if runs over HTTP: GET /api/v1/whatif/runs/{id} (state, progress, the result when done, the
error in the reader's language); POST /api/v1/whatif/runs/{id}/cancel. Only who asked (or an admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.auth.deps import CurrentActor, DbSession
from backend.clock import utcnow
from backend.replay import runs

router = APIRouter(prefix="/api/v1/whatif/runs", tags=["rules"])
ERRORS = {401: {"description": "Not signed in"}, 403: {"description": "Not an admin or designer"},
          404: {"description": "No such run (or not yours, or expired)"}}


@router.get("/{run_id}", responses=ERRORS)
def read_run(session: DbSession, actor: CurrentActor, run_id: int) -> dict[str, Any]:
    """The run: `state` queued / running / done / failed / cancelled, `progress_done` of `progress_total`
    orders, `result` when done (as the inline answer), `error` when failed, `draft_changed`."""
    return runs.read(session, actor=actor, run_id=run_id)


@router.post("/{run_id}/cancel", responses=ERRORS)
def cancel_run(session: DbSession, actor: CurrentActor, run_id: int) -> dict[str, Any]:
    """Stop a queued or running replay (a finished one is left as it is)."""
    runs.cancel(session, actor=actor, run_id=run_id, now=utcnow())
    return runs.read(session, actor=actor, run_id=run_id)
