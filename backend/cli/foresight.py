"""`gendan foresight train`: train the delay-risk model now (the same run the worker and the button
make) and print its hold-out figures; `gendan foresight score` refreshes the stored scores."""

from __future__ import annotations

import typer

from backend.cli.main import _migrated_engine, app, fail, say
from backend.settings import get_settings

foresight_app = typer.Typer(help="Predicted completion and delay risk (Foresight).", no_args_is_help=True)
app.add_typer(foresight_app, name="foresight")


@foresight_app.command("train")
def train_cmd() -> None:
    """Train on the closed orders' history; the model goes live when it is not worse than the live one."""
    from backend.clock import utcnow
    from backend.db import new_session
    from backend.foresight import service

    engine = _migrated_engine(get_settings().database_url)
    try:
        run = service.train_now(engine, trigger="command", user_id=None, now=utcnow())
        if run.state != "done":
            error = run.error or {"code": "foresight.train_failed", "params": {}}
            raise fail(error["code"], error.get("params") or {})
        with new_session(engine, writes=False) as session:
            row = session.get(service.ForesightModel, run.model_id)
            chosen = (row.report or {}).get("chosen") or {}
            say("foresight.trained", {"id": row.id, "kind": row.kind, "orders": row.closed_orders,
                                      "auc": chosen.get("auc"), "brier": chosen.get("brier"),
                                      "live": "yes" if run.went_live else "no"})
            for note in service.notes_of(row.report or {}):
                from engine.foresight import render

                typer.echo("  " + render(note, "zh" if _zh() else "en"))
    finally:
        engine.dispose()


@foresight_app.command("score")
def score_cmd() -> None:
    """Score every open order with the live model (or the fallback) now."""
    from backend.clock import utcnow
    from backend.foresight import scoring

    engine = _migrated_engine(get_settings().database_url)
    try:
        say("foresight.scored", {"count": scoring.score_all(engine, utcnow())})
    finally:
        engine.dispose()


def _zh() -> bool:
    from backend.cli.main import _terminal_locale

    return _terminal_locale().startswith("zh")
