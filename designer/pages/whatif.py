"""The what-if pages: /designer/rules/{key}/whatif?weeks=N shows what the rule's draft would have
done over the last N weeks of real orders, beside the published version (backend/replay).
/designer/whatif does it for every rule with a draft at once. Nothing is created or sent. A broken draft or a bad week count is said on the page, not a 500."""

from __future__ import annotations

from fastapi import APIRouter, Request

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.definitions.lifecycle import require_designer
from backend.errors import GendanError
from backend.replay import service
from frontend.pages.common import PageActor
from frontend.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/designer/rules/{key}/whatif")
def what_if_page(request: Request, session: DbSession, actor: PageActor, key: str, weeks: str = "4"):
    require_designer(actor)
    result, error, problems = None, None, []
    try:
        count = int(weeks) if weeks.strip().isdigit() and len(weeks) <= 3 else -1
        result = service.what_if(session, actor=actor, key=key, weeks=count, now=utcnow())
    except GendanError as exc:
        if exc.code == "rule.not_found":
            raise
        error = i18n.translate_error(exc.code, exc.params)
        problems = [f"{path}: {i18n.translate_error(code, params)}" for path, (code, params) in exc.fields.items()]
    return _page(request, key, weeks, result, error, problems)


@router.get("/designer/whatif")
def rule_set_page(request: Request, session: DbSession, actor: PageActor, weeks: str = "4"):
    """Every rule with a draft, replayed beside its published version (the rule set before publishing)."""
    require_designer(actor)
    result, error = None, None
    try:
        count = int(weeks) if weeks.strip().isdigit() and len(weeks) <= 3 else -1
        result = service.what_if_rule_set(session, actor=actor, weeks=count, now=utcnow())
    except GendanError as exc:
        error = i18n.translate_error(exc.code, exc.params)
    return _page(request, "", weeks, result, error, [])


def _page(request: Request, key: str, weeks: str, result, error, problems):
    return render(request, "rules/whatif.html", {
        "nav": "designer", "key": key, "weeks": weeks if weeks.isdigit() else service.DEFAULT_WEEKS,
        "week_choices": range(1, service.MAX_WEEKS + 1), "result": result, "error": error, "problems": problems,
    })
