"""`gendan` command line: serve, worker, migrate, demo, user create."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from backend.settings import get_settings

app = typer.Typer(help="Gendan (跟单): self-hosted, no-code order tracking.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@app.command()
def migrate() -> None:
    """Upgrade the database to the newest schema (keeps all data)."""
    from backend.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    typer.echo(f"database is up to date: {_safe_url(settings.database_url)}")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          worker: Annotated[bool, typer.Option(help="Run the worker inside the server")] = True) -> None:
    """Serve the web app (and, by default, the worker) on HOST:PORT."""
    import uvicorn

    from backend.app import create_app

    settings = get_settings()
    typer.echo(f"Gendan on http://{host}:{port}  (database: {_safe_url(settings.database_url)})")
    uvicorn.run(create_app(settings, start_worker=worker), host=host, port=port, log_level="info")


@app.command("worker")
def worker_cmd() -> None:
    """Run timers, rule scans and deliveries in this process (start several for scale)."""
    from backend.app import create_app
    from backend.worker.runner import run_forever

    application = create_app(get_settings(), start_worker=False)  # registers every domain's jobs
    stop = threading.Event()
    typer.echo("worker running; Ctrl+C stops it")
    try:
        run_forever(application.state.engine, stop)
    except KeyboardInterrupt:
        stop.set()


@app.command()
def demo(orders: Annotated[int, typer.Option(help="How many orders")] = 3000,
         force: Annotated[bool, typer.Option(help="Load even if demo data exists")] = False) -> None:
    """Load realistic demo data (org chart, users, customers, orders with history) unless loaded."""
    from backend.db import make_engine
    from backend.demo import DEMO_PASSWORD, load_demo

    settings = get_settings()
    engine = make_engine(settings.database_url)
    loaded = load_demo(engine, orders=orders, force=force)
    if loaded:
        typer.echo(f"demo data loaded: {loaded}")
    else:
        typer.echo("demo data already present; nothing loaded")
    typer.echo(f"demo sign-ins (password for all: {DEMO_PASSWORD}): admin, sales.zhang, sales.li, "
               "manager.wang, director.chen, warehouse.zhao, finance.sun, designer.zhou")


@user_app.command("create")
def user_create(username: str, display_name: Annotated[str, typer.Option("--name")] = "",
                password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
                role: Annotated[list[str], typer.Option("--role", help="Repeat for several roles")] = None,  # type: ignore[assignment]
                email: str | None = None) -> None:
    """Create a user (e.g. the first admin: gendan user create admin --role admin)."""
    from pydantic import ValidationError
    from sqlmodel import Session

    import backend.models  # noqa: F401
    from backend.clock import utcnow
    from backend.db import make_engine
    from backend.errors import GendanError
    from backend.people import service as people_service
    from backend.people.schemas import UserCreate

    try:
        payload = UserCreate(username=username, display_name=display_name or username, password=password,
                             roles=role or [], email=email)
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"{'.'.join(map(str, err['loc']))}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    engine = make_engine(get_settings().database_url)
    with Session(engine) as session:
        try:
            user = people_service.create_user(session, actor=None, payload=payload, now=utcnow())
        except GendanError as exc:
            typer.echo(f"error: {exc.code} {exc.params}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"created user {user.username} (id {user.id}) with roles {', '.join(user.roles) or '-'}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
