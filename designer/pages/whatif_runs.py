"""What-if runs on the pages: /designer/whatif/runs/{id} shows a queued or running replay's progress
bar (the partial polls itself every second), then the difference on the rule / rule-set / flow page;
a failed run's error in the reader's language; a Cancel button. Only who asked (or an admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.replay import runs
from backend.replay.service import MAX_WEEKS
from frontend.pages import definition_names
from frontend.pages.common import PageActor
from frontend.templating import render

router = APIRouter(include_in_schema=False)


def run_url(run_id: int) -> str:
    return f"/designer/whatif/runs/{run_id}"


def redirect_to_run(run_id: int) -> RedirectResponse:
    return RedirectResponse(run_url(run_id), status_code=303)


def back_url(run: dict[str, Any]) -> str:
    if run["kind"] == "flow":
        return f"/designer/flows/{run['key']}"
    return f"/designer/rules/{run['key']}" if run["kind"] == "rule" else "/designer/rules"


def replay_url(run: dict[str, Any]) -> str:
    """Where "Replay again" goes: the rule's, the rule set's or the flow's what-if page."""
    return "/designer/whatif" if run["kind"] == "rule_set" else back_url(run) + "/whatif"


def named(session, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """An error's params with the definition's key ("Rule %(key)s has no draft") as its name."""
    if isinstance(params.get("key"), str):
        return {**params, "key": definition_names.name(session, kind, params["key"])}
    return params


def rule_names(session, key: str, result: Any) -> dict[str, Any]:
    """`name`: the page's rule by its name (the heading read "Rule delay_risk replayed"); `names`:
    key → name of every rule a rule-set replay lists."""
    result = result if isinstance(result, dict) else {}
    listed = [r.get("key") for r in (*result.get("rules", []), *result.get("refused", []))]
    found = definition_names.names(session, "rule", [k for k in [key, *listed] if isinstance(k, str) and k])
    return {"name": found.get(key, key), "names": found}


def _context(session, run: dict[str, Any]) -> dict[str, Any]:
    kind = "flow" if run["kind"] == "flow" else "rule"
    names = rule_names(session, run["key"] or "", run.get("result")) if kind == "rule" else {
        "name": definition_names.name(session, "flow", run["key"]) if run["key"] else "", "names": {}}
    return {"nav": "designer", "run": run, "key": run["key"], **names, "weeks": run["weeks"], "back": back_url(run),
            "replay_url": replay_url(run),
            "week_choices": range(1, MAX_WEEKS + 1), "active": run["state"] in runs.ACTIVE}


@router.get("/designer/whatif/runs/{run_id}")
def run_page(request: Request, session: DbSession, actor: PageActor, run_id: int):
    run = runs.read(session, actor=actor, run_id=run_id)
    if run["state"] != "done":
        return render(request, "whatif/run.html", _context(session, run))
    ctx = {**_context(session, run), "result": run["result"], "error": None, "problems": []}
    if run["kind"] == "flow":
        from designer.pages.flow_whatif import words
        return render(request, "flows/whatif.html", {**ctx, "result": words(run["result"])})
    return render(request, "rules/whatif.html", ctx)


@router.get("/designer/whatif/runs/{run_id}/progress")
def run_progress(request: Request, session: DbSession, actor: PageActor, run_id: int):
    """The progress partial while the run is queued or running; once it is not, htmx loads the page."""
    run = runs.read(session, actor=actor, run_id=run_id)
    if run["state"] not in runs.ACTIVE:
        return Response(status_code=200, headers={"HX-Redirect": run_url(run_id)})
    return render(request, "whatif/_progress.html", _context(session, run))


@router.post("/designer/whatif/runs/{run_id}/cancel")
def cancel_run(request: Request, session: DbSession, actor: PageActor, run_id: int):
    runs.cancel(session, actor=actor, run_id=run_id, now=utcnow())
    return redirect_to_run(run_id)


def week_count(weeks: str) -> int:
    """The page's ?weeks= as a number (-1 for anything else: the service says it is out of range)."""
    return int(weeks) if weeks.strip().isdigit() and len(weeks) <= 3 else -1


def problems_of(exc) -> list[str]:
    return [f"{path}: {i18n.translate_error(code, params)}" for path, (code, params) in exc.fields.items()]

