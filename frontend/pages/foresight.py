"""Foresight pages: the prediction card on the order page, and the admin model page (/admin/foresight)
with its Retrain button and progress bar (the run itself happens in the worker: backend/foresight)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from backend import i18n
from backend.auth.deps import DbSession
from backend.clock import as_utc, utcnow
from backend.errors import GendanError
from backend.foresight import reasons as foresight_reasons
from backend.foresight import service
from backend.foresight.models import ForesightModel, ForesightRun, ForesightScore
from engine.foresight import render as render_reason
from engine.foresight.explain import feature_label
from frontend.pages.admin import AdminActor
from frontend.pages.common import N_, STAGE_LABELS
from frontend.templating import is_htmx, render

router = APIRouter()

BASIS_LABELS = {"model": N_("learnt model"), "fallback": N_("per-stage medians"), "none": N_("no prediction")}
RUN_STEPS = {"read": N_("Reading history"), "train": N_("Training"), "stats": N_("Stage statistics"),
             "durations p50": N_("Stage durations (median)"), "durations p90": N_("Stage durations (p90)"),
             "delay risk": N_("Delay risk"), "evaluate": N_("Measuring on the hold-out"),
             "score": N_("Scoring open orders"), "done": N_("Finished")}


def _stage_label(stage: str) -> str:
    return i18n.gettext(STAGE_LABELS[stage]) if stage in STAGE_LABELS else stage


def risk_level(probability: float | None) -> str | None:
    if probability is None:
        return None
    return "high" if probability >= 0.6 else "medium" if probability >= 0.3 else "low"


def order_prediction(session: Session, order: Any) -> dict[str, Any] | None:
    """The order page's prediction card (`order` already passed the page's access check), or None for an
    order never scored (closed, or before the first scoring)."""
    if order.status != "open":
        return None
    score = session.get(ForesightScore, order.id)  # the prediction and its explanation, one row
    if score is None:
        return None
    locale = i18n.get_locale()
    return {
        "basis": score.basis, "basis_label": i18n.gettext(BASIS_LABELS.get(score.basis, score.basis)),
        "stage_done_at": as_utc(score.predicted_stage_done_at), "stage_done_p90_at": as_utc(score.stage_done_p90_at),
        "completion_at": as_utc(score.predicted_completion_at), "completion_p90_at": as_utc(score.completion_p90_at),
        "probability": score.delay_probability,
        "percent": None if score.delay_probability is None else round(score.delay_probability * 100),
        "level": risk_level(score.delay_probability),
        "reasons": [render_reason(r, locale, _stage_label)
                    for r in foresight_reasons.reasons_by_order(session, [order.id]).get(order.id, [])],
        "scored_at": as_utc(score.scored_at),
    }


def _run_view(run: ForesightRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    error = None
    if run.error:
        error = i18n.translate_error(run.error.get("code", "foresight.*"), run.error.get("params") or {})
    return {"id": run.id, "state": run.state, "progress": run.progress, "error": error,
            "step": i18n.gettext(RUN_STEPS[run.step]) if run.step in RUN_STEPS else (run.step or ""),
            "active": run.state in ("queued", "running"), "went_live": run.went_live, "model_id": run.model_id}


def _model_view(row: ForesightModel | None) -> dict[str, Any] | None:
    if row is None:
        return None
    locale = i18n.get_locale()
    report = row.report or {}
    chosen = report.get("chosen") or {}
    importances = (report.get("lightgbm") or {}).get("importances") or []
    return {
        "id": row.id, "kind": row.kind, "live": row.live, "created_at": as_utc(row.created_at),
        "closed_orders": row.closed_orders, "train_orders": report.get("train_orders"),
        "holdout_orders": report.get("holdout_orders"),
        "trained_from": as_utc(row.trained_from), "trained_to": as_utc(row.trained_to),
        "auc": chosen.get("auc"), "brier": chosen.get("brier"), "precision_at_10": chosen.get("precision_at_10"),
        "base_rate": chosen.get("base_rate"), "snapshots": chosen.get("snapshots"),
        "lift": (round(chosen["precision_at_10"] / chosen["base_rate"], 2)
                 if chosen.get("precision_at_10") is not None and chosen.get("base_rate") else None),
        "durations": chosen.get("durations") or {},
        "fallback": report.get("fallback") or {},
        "notes": [render_reason(r, locale, _stage_label) for r in report.get("notes") or []],
        "chart": {"reliability": chosen.get("reliability") or [],
                  "importances": [[feature_label(name, locale), share] for name, share in importances[:12]]},
    }


@router.get("/admin/foresight")
def model_page(request: Request, session: DbSession, actor: AdminActor):
    models = service.recent_models(session, 2)
    live = service.live_model_row(session)
    return render(request, "admin/foresight.html", {
        "nav": "admin", "tab": "foresight", "live": _model_view(live),
        "newest": _model_view(models[0]) if models else None,
        "previous": _model_view(models[1]) if len(models) > 1 else None,
        "run": _run_view(service.latest_run(session))})


@router.post("/admin/foresight/retrain")
def retrain(request: Request, session: DbSession, actor: AdminActor):
    run = service.request_training(session, trigger="button", user_id=actor.user_id, now=utcnow())
    if is_htmx(request):
        return render(request, "admin/_foresight_progress.html", {"run": _run_view(run)})
    return RedirectResponse("/admin/foresight", status_code=303)


@router.get("/admin/foresight/runs/{run_id}")
def run_progress(request: Request, session: DbSession, actor: AdminActor, run_id: int):
    run = session.get(ForesightRun, run_id)
    if run is None:
        raise GendanError("foresight.run_not_found", {"id": run_id})
    return render(request, "admin/_foresight_progress.html", {"run": _run_view(run)})
