"""Where the order-change pipeline and the worker's jobs are put together, once, in order.

Read this file to know what happens when an order changes and what the worker does; nothing
else registers anything. `create_app` calls `assemble` (so do `gendan worker`, the demo loader
and the tests' database fixture); the resulting database handle carries the pipeline to every
session opened on it (backend/pipeline.py).

    checks (before the row is written)       stages (after, same transaction)
    validate_form      forms/service.py      record_event   orders/service.py
    import_status      ingest/service.py     foresight      foresight/on_change.py (re-score)
                                             order_scores   scores/on_change.py (marks, priority)
    stage_held_by_flow flows/service_instance flows         flows/service_instance.py
                                             rules          rules/firing.py (event path)
    shipped_at         logistics/service.py  tracking       tracking/service.py (customer messages)
    signed_at          logistics/service.py
    reached            orders/reached.py (delivered_at, stages_entered)
                                             logistics      logistics/service.py (shipments)
                                             live           live/publish.py
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from backend.connectors import runner as connectors_runner
from backend.flows import service_instance as flows_instances
from backend.foresight import on_change as foresight_on_change
from backend.foresight import tasks as foresight_tasks
from backend.forms import files as forms_files
from backend.forms import service as forms_service
from backend.ingest import service as ingest_service
from backend.ingest import tasks as ingest_tasks
from backend.live import publish as live_publish
from backend.logistics import service as logistics_service
from backend.logistics import sources as logistics_sources
from backend.notify import tasks as notify_tasks
from backend.ocr import tasks as ocr_tasks
from backend.orders import reached as orders_reached
from backend.orders import service as orders_service
from backend.orders.models import load_predictions
from backend.pipeline import EffectAppliers, NamedStage, OrderChange, Pipeline, attach
from backend.portal import tasks as portal_tasks
from backend.replay import runs as whatif_runs
from backend.reports import tasks as reports_tasks
from backend.rules import due_build as rules_due_build
from backend.rules import due_index as rules_due
from backend.rules import firing as rules_firing
from backend.rules import tasks as rules_tasks
from backend.rules.due_wake import DueWake
from backend.scores import on_change as scores_on_change
from backend.scores import service as scores_service
from backend.tracking import service as tracking_service
from backend.worker.runner import Job


def evaluate_rules(session: Session, change: OrderChange) -> None:
    """Rules stage: the enabled event rules whose trigger this change matches. A thin adapter over
    the rules' event hook, whose `changes` are the before values of the changed columns (the new
    snapshot for a new order)."""
    changes = change.after if change.is_new else {c: (change.before or {})[c] for c in change.columns}
    rules_firing.evaluate_event_rules(session, change.order, changes=changes, actor=change.actor, now=change.now,
                                      is_new=change.is_new)


def evaluate_rules_many(session: Session, changes: list[OrderChange]) -> None:
    """The rules stage for many changes (the bulk import): nothing at all, not even one query per
    order, when no event rule is enabled; else each change in turn."""
    if not rules_firing.has_enabled_event_rules(session):
        return
    load_predictions(session, [c.order for c in changes])  # deferred on Order: one query, not one per order
    for change in changes:
        evaluate_rules(session, change)


def build_pipeline() -> Pipeline:
    """The one order-change pipeline, in order (see the module docstring for the files)."""
    return Pipeline(
        checks=(
            NamedStage("validate_form", forms_service.validate_order_form),
            NamedStage("import_status", ingest_service.apply_pending_status),
            NamedStage("stage_held_by_flow", flows_instances.refuse_stage_while_running),
            NamedStage("shipped_at", logistics_service.stamp_shipped_at),
            NamedStage("signed_at", logistics_service.stamp_signed_at),
            NamedStage("reached", orders_reached.stamp_reached),  # last: reads what the checks above set
        ),
        stages=(
            NamedStage("record_event", orders_service.record_change, orders_service.record_changes),
            NamedStage("foresight", foresight_on_change.rescore_on_change),
            NamedStage("order_scores", scores_on_change.on_order_change, scores_on_change.on_order_changes),
            NamedStage("flows", flows_instances.on_order_change, flows_instances.on_order_changes),
            NamedStage("rules", evaluate_rules, evaluate_rules_many),
            NamedStage("rules_due", rules_due.on_order_change, rules_due.on_order_changes),
            NamedStage("tracking", tracking_service.on_order_change, tracking_service.on_order_changes),
            NamedStage("logistics", logistics_service.subscribe),
            NamedStage("live", live_publish.on_order_change, live_publish.on_order_changes),
        ),
        appliers=EffectAppliers(by_type=flows_instances.effect_appliers(), on_touched=live_publish.on_user_touched),
    )


def build_jobs(*, scan_interval_seconds: float = 60, upload_dir: Path | None = None) -> tuple[Job, ...]:
    """Every worker job, with its interval: the one list `gendan serve` and `gendan worker` run."""
    return (
        Job("flow_timers", flows_instances.run_due_timers, 15),
        # woken by NOTIFY (or the poll), over the partitions this worker holds
        Job("rules_due", (due_wake := DueWake(job="rules_due")).run, 1, wake=due_wake, partitioned=True),
        Job("rules_due_build", rules_due_build.job, 5),
        # over the partitions this worker holds (the runner's heartbeat claims them): the minute
        # scan, the hourly reconciliation, and the overdue to-dos
        Job(rules_tasks.SCAN_JOB, rules_tasks.check_time_rules, scan_interval_seconds, partitioned=True),
        Job(rules_tasks.OVERDUE_JOB, rules_tasks.signal_overdue_todos, scan_interval_seconds, partitioned=True),
        Job("notify.deliver_outbox", notify_tasks.deliver_outbox, 5),
        Job("notify.dispatch_notifications", notify_tasks.dispatch_notifications, 10),
        Job("notify.send_digests", notify_tasks.send_digests, 300),
        Job("reports.send_schedules", reports_tasks.send_schedules, 30, lane="analysis"),
        Job("ingest.process_imports", ingest_tasks.process_imports, 1, lane="data"),
        Job("connectors.run_due", connectors_runner.run_due_connectors, 15, lane="data"),
        Job("logistics.poll_due", logistics_sources.poll_due, 60),
        Job("portal.issue_due_links", portal_tasks.issue_due_links, 15),
        Job("portal.remind_parties", portal_tasks.remind_parties, 3600),
        Job("order_scores", scores_service.refresh_scores, scores_service.EVERY_SECONDS, lane="analysis"),
        Job("order_scores.changed", scores_service.refresh_changed_scores, scores_service.CHANGED_EVERY_SECONDS),
        Job("foresight.train_due", foresight_tasks.train_due, 10, lane="analysis"),
        Job("foresight.score_open_orders", foresight_tasks.score_open_orders, 300, lane="analysis"),
        Job("whatif.run_queued", whatif_runs.run_queued, 2, lane="analysis"),
        *((Job("forms.delete_orphan_uploads", lambda engine, now: forms_files.delete_orphans(upload_dir, engine, now),
               3600),) if upload_dir is not None else ()),
        *((Job("ocr.read_contracts", lambda engine, now: ocr_tasks.read_contracts(engine, now, upload_dir), 2,
                   lane="data"),)
          if upload_dir is not None else ()),
    )


def assemble(bind: Engine | Connection, pipeline: Pipeline | None = None) -> Engine | Connection:
    """The database handle to hand out: sessions on it run `pipeline` (the standard one by default).
    Also hooks the session events that carry live pushes to commit (once per process)."""
    live_publish.listen()
    return attach(bind, pipeline or build_pipeline())
