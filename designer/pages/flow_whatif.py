"""The flow what-if page: /designer/flows/{key}/whatif?weeks=N shows what the flow's draft would have
done to the orders that ran the flow in the last N weeks, beside the published version
(backend/replay/flows.py): paths that change, to-dos per assignee, step durations, stuck orders.
Nothing is created or sent. A broken draft or a bad week count is said on the page, not a 500."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import utcnow
from backend.definitions.lifecycle import require_designer
from backend.errors import GendanError
from backend.replay import runs
from backend.replay.service import DEFAULT_WEEKS, MAX_WEEKS
from designer.pages.whatif_runs import named, redirect_to_run, week_count
from frontend.pages import definition_names
from frontend.pages.common import N_, PageActor, role_label
from frontend.templating import render

router = APIRouter(include_in_schema=False)

WHO = {
    "manager_chain": N_("the initiator's managers"), "owner_manager": N_("the owner's manager"),
    "initiator": N_("the initiator"), "initiator_choice": N_("people the initiator chose"),
    "users": N_("named people"), "field": N_("the person in an order field"), "admin": N_("administrators"),
    "manager": N_("managers (escalated)"),
}
OUTCOMES = {
    "completed": N_("Completed"), "cancelled": N_("Cancelled"), "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"), "sent_back": N_("Sent back, waiting for resubmission"),
    "running": N_("Still running at the end of the window"), "stuck": N_("Stuck"),
}
REASONS = {
    "no_history": N_("no recorded decision at this step or a similar one: the history cannot answer"),
    "flow.no_branch": N_("no path of the branch matches the order's recorded values"),
    "flow.no_approver": N_("nobody to give the step to"),
    "flow.waiting_for_field": N_("waits for a date field the order never had"),
    "flow.required_fields_missing": N_("a required field was never filled in the recorded history"),
    "flow.loop_limit": N_("the flow loops without settling"),
}
BASIS = {
    "step": N_("the same step in other orders"), "people": N_("steps given to the same people"),
    "type": N_("all steps of this type"),
}


def who(assignee: str) -> str:
    kind, _, detail = assignee.partition(":")
    if kind == "role":
        return i18n.gettext("everyone with the role %(role)s", role=role_label(detail))
    return i18n.gettext(WHO.get(kind, kind))


def step_name(names: dict[str, str]) -> str:
    if i18n.get_locale() == "zh_CN":
        found = names.get("zh-CN") or names.get("zh") or names.get("zh_CN")
    else:
        found = names.get("en")
    return found or next(iter(names.values()), "")


def words(result: dict[str, Any]) -> dict[str, Any]:
    for t in result["todos"]:
        t["label"] = who(t["assignee"])
    for o in result["outcomes"]:
        o["label"] = i18n.gettext(OUTCOMES.get(o["status"], o["status"]))
    for s in result["stuck"]:
        s["reason_words"] = i18n.gettext(REASONS[s["reason"]]) if s["reason"] in REASONS else s["reason"]
    for e in result["estimates"]:
        e["basis_words"] = i18n.gettext(BASIS.get(e["basis"], e["basis"]))
    for group in ("steps", "durations", "estimates", "stuck"):
        for row in result[group]:
            row["label"] = step_name(row["name"])
    return result


@router.get("/designer/flows/{key}/whatif")
def flow_what_if_page(request: Request, session: DbSession, actor: PageActor, key: str, weeks: str = "4"):
    require_designer(actor)
    result, error, problems = None, None, []
    try:
        answer, run = runs.ask(session, actor=actor, kind="flow", key=key, weeks=week_count(weeks), now=utcnow())
        if run is not None:
            return redirect_to_run(run.id)
        result = words(answer)
    except GendanError as exc:
        if exc.code == "flow.not_found":
            raise
        error = i18n.translate_error(exc.code, named(session, "flow", exc.params))
        problems = [i18n.translate_error(code, params) for _path, (code, params) in exc.fields.items()]
    return render(request, "flows/whatif.html", {
        "nav": "designer", "key": key, "name": definition_names.name(session, "flow", key), "weeks": weeks if weeks.isdigit() else DEFAULT_WEEKS,
        "week_choices": range(1, MAX_WEEKS + 1), "result": result, "error": error, "problems": problems,
    })
