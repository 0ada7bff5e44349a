"""The what-if pages: /designer/rules/{key}/whatif?weeks=N shows what the rule's draft would have
done over the last N weeks of real orders, beside the published version (backend/replay).
/designer/whatif does it for every rule with a draft at once. A window of more than a few hundred
orders is replayed by the worker: the page then redirects to the run's progress (whatif_runs.py).
Nothing is created or sent. A broken draft or a bad week count is said on the page, not a 500."""

from __future__ import annotations

from fastapi import APIRouter, Request

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.definitions.lifecycle import require_designer
from backend.errors import GendanError
from backend.replay import runs, service
from designer.pages.whatif_runs import named, problems_of, redirect_to_run, rule_names, week_count
from designer.pages.whatif_runs import router as runs_pages_router
from frontend.pages.common import PageActor
from frontend.templating import render

router = APIRouter(include_in_schema=False)
router.include_router(runs_pages_router)  # /designer/whatif/runs/{id}: a run's progress, then the difference


@router.get("/designer/rules/{key}/whatif")
def what_if_page(request: Request, session: DbSession, actor: PageActor, key: str, weeks: str = "4"):
    require_designer(actor)
    result, error, problems = None, None, []
    try:
        result, run = runs.ask(session, actor=actor, kind="rule", key=key, weeks=week_count(weeks), now=utcnow())
        if run is not None:
            return redirect_to_run(run.id)
    except GendanError as exc:
        if exc.code == "rule.not_found":
            raise
        error = i18n.translate_error(exc.code, named(session, "rule", exc.params))
        problems = problems_of(exc)
    return _page(request, session, key, weeks, result, error, problems)


@router.get("/designer/whatif")
def rule_set_page(request: Request, session: DbSession, actor: PageActor, weeks: str = "4"):
    """Every rule with a draft, replayed beside its published version (the rule set before publishing)."""
    require_designer(actor)
    result, error = None, None
    try:
        result, run = runs.ask(session, actor=actor, kind="rule_set", weeks=week_count(weeks), now=utcnow())
        if run is not None:
            return redirect_to_run(run.id)
    except GendanError as exc:
        error = i18n.translate_error(exc.code, exc.params)
    return _page(request, session, "", weeks, result, error, [])


def _page(request: Request, session, key: str, weeks: str, result, error, problems):
    return render(request, "rules/whatif.html", {
        "nav": "designer", "key": key, **rule_names(session, key, result), "weeks": weeks if weeks.isdigit() else service.DEFAULT_WEEKS,
        "week_choices": range(1, service.MAX_WEEKS + 1), "result": result, "error": error, "problems": problems,
    })
