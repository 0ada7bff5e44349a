"""`gendan` command line: serve, worker, migrate, demo, user create.

Errors are printed as `error: <code> <params>` plus the message in the terminal's language
(LC_ALL / LANG: zh_* gives Chinese, anything else English), and exit with status 1 (2 for bad
arguments), so scripts can match the code and people can read the message.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Annotated, Any

import typer

from backend.i18n import normalize, reset_locale, set_locale, translate_error
from backend.settings import SecretKeyError, Settings, ensure_secret_key, get_settings

app = typer.Typer(help="Gendan (跟单): self-hosted, no-code order tracking.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def say(code: str, params: dict[str, Any]) -> None:
    """Print a notice in the terminal's language."""
    token = set_locale(_terminal_locale())
    try:
        typer.echo(translate_error(code, params))
    finally:
        reset_locale(token)


def _terminal_locale() -> str:
    return normalize(os.environ.get("LC_ALL") or os.environ.get("LANG")) or "en"


def fail(code: str, params: dict[str, Any] | None = None, *, exit_code: int = 1,
         fields: dict[str, tuple[str, dict[str, Any]]] | None = None) -> typer.Exit:
    """Print a coded, translated error and return the Exit to raise."""
    params = params or {}
    token = set_locale(_terminal_locale())
    try:
        typer.echo(f"error: {code} {json.dumps(params, ensure_ascii=False, default=str)}", err=True)
        typer.echo(f"  {translate_error(code, params)}", err=True)
        for path, (field_code, field_params) in (fields or {}).items():
            typer.echo(f"  {path}: {field_code} — {translate_error(field_code, field_params)}", err=True)
    finally:
        reset_locale(token)
    return typer.Exit(exit_code)


@app.command()
def migrate() -> None:
    """Upgrade the database to the newest schema (keeps all data)."""
    from sqlalchemy.exc import OperationalError

    from backend.migrate import upgrade

    settings = get_settings()
    try:
        upgrade(settings.database_url)
    except OperationalError as exc:
        raise fail("cli.database_unreachable", {"database": _safe_url(settings.database_url),
                                                "detail": str(exc.orig).strip().splitlines()[0]}) from exc
    typer.echo(f"database is up to date: {_safe_url(settings.database_url)}")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          worker: Annotated[bool, typer.Option(help="Run the worker inside the server")] = True,
          prepare: Annotated[bool, typer.Option(help="First migrate and load the demo data unless loaded "
                                                     "(what `make run` does, in one process)")] = False) -> None:
    """Serve the web app (and, by default, the worker) on HOST:PORT."""
    import uvicorn

    from backend.app import create_app

    if prepare:  # one interpreter instead of three keeps a second `make run` to a few seconds
        migrate()
        demo(orders=3000, force=False)
    settings = _secured(get_settings())
    engine = _migrated_engine(settings.database_url)
    typer.echo(f"Gendan on http://{host}:{port}  (database: {_safe_url(settings.database_url)})")
    if not settings.base_url:
        _derive_base_url(settings, host, port)
    uvicorn.run(create_app(settings, engine=engine, start_worker=worker), host=host, port=port, log_level="info")


def _derive_base_url(settings, host: str, port: int) -> None:
    """Links sent to customers (e-mails the worker writes, with no request at hand) use this server's
    own address when GENDAN_BASE_URL is unset; the environment carries it to every Settings() read."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    settings.base_url = os.environ["GENDAN_BASE_URL"] = f"http://{shown}:{port}"
    if host not in ("127.0.0.1", "localhost", "::1"):  # reachable by others: a production set-up
        typer.echo(f"warning: GENDAN_BASE_URL is not set; links sent to customers use {settings.base_url}. "
                   "Set it to the address customers reach (https://gendan.example.com).", err=True)


def _stop_on_signals(stop: threading.Event) -> None:
    """Ctrl+C and SIGTERM (systemd, `docker stop`) end the worker cleanly: the jobs under way finish,
    the lanes stop, its partitions are given back. A process may start with these signals ignored or
    blocked, inherited from whatever started it (a test runner, a supervisor): it then never heard
    them and had to be killed. They are unblocked and handled here; a second one raises
    KeyboardInterrupt at once."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

    def handle(_signum, _frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


@app.command("worker")
def worker_cmd(once: Annotated[bool, typer.Option(help="Run every job once and exit (cron, checks)")] = False) -> None:
    """Run timers, rule scans and deliveries in this process (start several for scale)."""
    from backend.app import create_app
    from backend.worker.runner import run_due, run_forever

    settings = _secured(get_settings())
    engine = _migrated_engine(settings.database_url)
    application = create_app(settings, engine=engine, start_worker=False)  # assembles the pipeline and jobs
    jobs = application.state.jobs
    if once:
        done = run_due(application.state.engine, jobs, {})
        typer.echo(f"worker ran {len(done)} of {len(jobs)} jobs: "
                   + (", ".join(f"{name}={n}" for name, n in done.items()) or "-"))
        return
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        typer.echo(f"worker running {len(jobs)} jobs; Ctrl+C stops it")
        run_forever(application.state.engine, jobs, stop)
    except KeyboardInterrupt:  # a second Ctrl+C: stop without waiting for the jobs under way
        stop.set()
    from backend.worker.partitions import release_worker

    release_worker(application.state.engine)  # its partitions go to the other workers now
    typer.echo("worker stopped")


@app.command()
def demo(orders: Annotated[int, typer.Option(help="How many orders")] = 3000,
         force: Annotated[bool, typer.Option(help="Add another batch even if demo data exists")] = False) -> None:
    """Load realistic demo data (org chart, users, customers, orders with history) unless loaded."""
    from backend.demo import DEMO_PASSWORD, USERS, load_demo

    if not 0 <= orders <= 1_000_000:
        raise fail("cli.invalid_count", {"name": "--orders", "min": 0, "max": 1_000_000}, exit_code=2)
    settings = get_settings()
    engine = _migrated_engine(settings.database_url)
    try:
        loaded = load_demo(engine, orders=orders, force=force)
    finally:
        engine.dispose()
    if loaded:
        typer.echo(f"demo data loaded: {loaded}")
    else:
        typer.echo("demo data already present; nothing loaded")
    typer.echo(f"\nDemo sign-ins (password for all: {DEMO_PASSWORD})")
    for username, display, roles, _dep in USERS:
        typer.echo(f"  {username:<16} {_pad(display, 12)}{', '.join(roles)}")


@user_app.command("create")
def user_create(username: str, display_name: Annotated[str, typer.Option("--name")] = "",
                password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
                role: Annotated[list[str] | None, typer.Option("--role", help="Repeat for several roles")] = None,
                email: str | None = None) -> None:
    """Create a user (e.g. the first admin: gendan user create admin --role admin)."""
    from pydantic import ValidationError
    from sqlmodel import Session

    import backend.models  # noqa: F401
    from backend.clock import utcnow
    from backend.errors import GendanError
    from backend.people import service as people_service
    from backend.people.schemas import UserCreate

    try:
        payload = UserCreate(username=username, display_name=display_name or username, password=password,
                             roles=role or [], email=email)
    except ValidationError as exc:
        fields = {}
        for err in exc.errors():
            path = ".".join(map(str, err["loc"])) or "_"
            ctx = {k: v for k, v in (err.get("ctx") or {}).items() if k != "error"}
            fields[path] = (f"field.{err['type']}", {"field": path, **ctx})
        raise fail("validation.failed", {"count": len(fields)}, exit_code=2, fields=fields) from exc
    engine = _migrated_engine(get_settings().database_url)
    with Session(engine) as session:
        try:
            user = people_service.create_user(session, actor=None, payload=payload, now=utcnow())
        except GendanError as exc:
            raise fail(exc.code, exc.params, fields=exc.fields) from exc
    engine.dispose()
    typer.echo(f"created user {user.username} (id {user.id}) with roles {', '.join(user.roles) or '-'}")


def _secured(settings: Settings) -> Settings:
    """Settings with a private secret key (generated on the first start), or a translated refusal."""
    try:
        settings, generated = ensure_secret_key(settings)
    except SecretKeyError as exc:
        raise fail(exc.code, exc.params) from exc
    if generated is not None:
        say("settings.secret_key_generated", {"path": str(generated)})
    return settings


def _migrated_engine(url: str):
    """An engine on a database that has our tables, or a coded error telling what to do."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    from backend.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            has_tables = inspect(conn).has_table("sales_order")
    except OperationalError as exc:
        engine.dispose()
        raise fail("cli.database_unreachable", {"database": _safe_url(url),
                                                "detail": str(exc.orig).strip().splitlines()[0]}) from exc
    if not has_tables:
        engine.dispose()
        raise fail("cli.database_not_migrated", {"database": _safe_url(url)})
    return engine


def _pad(text: str, width: int) -> str:
    """Left-align for a terminal, where a Chinese character takes two columns."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(1, width - used)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()


from backend.cli import foresight as _foresight  # noqa: E402,F401  (gendan foresight train / score)
from backend.cli import imports as _imports  # noqa: E402,F401  (gendan import, gendan import-olist)
