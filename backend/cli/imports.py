"""`gendan import` and `gendan import-olist`: a CSV or .xlsx file through the real import job path
(the worker's batches, inline), with history replay when the mapping declares `history`
(docs/ingest.md, "History replay")."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from backend.cli.main import _safe_url, app, fail, say

OLIST_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "olist"
MAX_SHOWN_ERRORS = 20


@app.command("import")
def import_file(file: Annotated[Path, typer.Argument(help="CSV or .xlsx file")],
                mapping: Annotated[Path, typer.Option(help="Mapping file (JSON; docs/ingest.md)")],
                limit: Annotated[int, typer.Option(help="Only the first N rows (0: all)")] = 0,
                db: Annotated[str, typer.Option(help="Database URL (default: GENDAN_DATABASE_URL)")] = "",
                user: Annotated[str, typer.Option(help="Admin who imports (default: the first admin)")] = "",
                batch_size: Annotated[int, typer.Option(help="Rows per transaction")] = 2000) -> None:
    """Import orders from FILE with the mapping in MAPPING (with their history when it declares one)."""
    _run(file, mapping, limit=limit, db=db, user=user, batch_size=batch_size, migrate=False)


@app.command("import-olist")
def import_olist(limit: Annotated[int, typer.Option(help="Only the first N of the 10,000 orders (0: all)")] = 0,
                 db: Annotated[str, typer.Option(help="Database URL (default: GENDAN_DATABASE_URL)")] = "",
                 user: Annotated[str, typer.Option(help="Admin who imports (default: the first admin)")] = "",
                 batch_size: Annotated[int, typer.Option(help="Rows per transaction")] = 2000) -> None:
    """Import the shared Olist orders (tests/data/olist, CC BY-NC-SA 4.0) with their history; migrates first."""
    _run(OLIST_DIR / "olist_orders_dataset.csv", OLIST_DIR / "mapping_history.json", limit=limit, db=db, user=user,
         batch_size=batch_size, migrate=True)


def _run(file: Path, mapping_path: Path, *, limit: int, db: str, user: str, batch_size: int, migrate: bool) -> None:
    from pydantic import ValidationError
    from sqlalchemy import select

    import backend.models  # noqa: F401
    from backend.auth.service import load_actor
    from backend.clock import utcnow
    from backend.db import new_session
    from backend.errors import GendanError
    from backend.ingest import service
    from backend.ingest.history import read_mapping_file
    from backend.ingest.models import ImportJob, ImportRowError
    from backend.people.models import User, UserRole
    from backend.pipeline_assembly import assemble
    from backend.settings import get_settings

    if not 0 <= limit <= 1_000_000:
        raise fail("cli.invalid_count", {"name": "--limit", "min": 0, "max": 1_000_000}, exit_code=2)
    if not 1 <= batch_size <= 20_000:
        raise fail("cli.invalid_count", {"name": "--batch-size", "min": 1, "max": 20_000}, exit_code=2)
    for path in (file, mapping_path):
        if not path.is_file():
            raise fail("cli.file_missing", {"path": str(path)}, exit_code=2)
    try:
        mapping = read_mapping_file(mapping_path)
    except (ValueError, ValidationError) as exc:  # JSON or mapping errors
        raise fail("cli.mapping_invalid", {"path": str(mapping_path), "detail": str(exc).splitlines()[0]},
                   exit_code=2) from exc
    content = file.read_bytes()
    if limit:
        content = b"".join(content.splitlines(keepends=True)[: limit + 1])
    url = db or get_settings().database_url
    if migrate:
        from backend.migrate import upgrade

        upgrade(url)
    from backend.cli.main import _migrated_engine

    engine = assemble(_migrated_engine(url))
    began = time.perf_counter()
    try:
        with new_session(engine) as session:
            query = select(User.id).join(UserRole, UserRole.user_id == User.id).where(
                UserRole.role == "admin", User.is_active.is_(True))
            query = query.where(User.username == user) if user else query.order_by(User.id)
            admin_id = session.exec(query.limit(1)).scalars().first()
            if admin_id is None:
                raise fail("cli.no_admin", {"user": user or "-"})
            actor = load_actor(session, admin_id, via="import")
            now = utcnow()
            try:
                job = service.upload_import(session, actor=actor, filename=file.name, content=content, now=now,
                                            max_bytes=200_000_000).job
                service.start_import(session, actor=actor, job_id=job.id, mapping=mapping, now=now)
            except GendanError as exc:
                raise fail(exc.code, exc.params, fields=exc.fields) from exc
        service.run_to_end(engine, job.id, now, batch_size=batch_size)
        took = time.perf_counter() - began
        with new_session(engine) as session:
            done = session.get(ImportJob, job.id)
            errors = session.exec(select(ImportRowError).where(ImportRowError.import_job_id == job.id)
                                  .order_by(ImportRowError.line).limit(MAX_SHOWN_ERRORS)).scalars().all()
            typer.echo(f"import {done.id} into {_safe_url(url)}: {done.total_rows} rows in {took:.1f} s — "
                       f"created {done.created_count}, updated {done.updated_count}, unchanged "
                       f"{done.unchanged_count}, failed {done.failed_count}")
            for error in errors:
                for e in error.errors:
                    typer.echo(f"  line {error.line}: {e.get('column') or e.get('field')}: ", nl=False)
                    say(e["code"], {"column": e.get("column") or e.get("field"), "field": e.get("field"),
                                    **(e.get("params") or {})})
            if done.failed_count > len(errors):
                typer.echo(f"  ... {done.failed_count - len(errors)} more (download them from the import's page)")
    finally:
        engine.dispose()
