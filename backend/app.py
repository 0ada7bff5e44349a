"""The composition root: settings -> database engine -> middleware -> routers and pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from backend.db import make_engine
from backend.errors import UnhandledErrorMiddleware, install_error_handlers
from backend.middleware import BodySizeLimitMiddleware, LocaleMiddleware
from backend.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None, *, engine=None, start_worker: bool | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)
    # /docs is a page of frontend/ (Swagger UI served locally, no CDN); ReDoc would load from one, so none
    app = FastAPI(title="Gendan", version="0.1.0", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.settings = settings
    app.state.engine = engine

    install_error_handlers(app)
    from frontend.pages.common import LoginRequired, login_redirect

    app.add_exception_handler(LoginRequired, login_redirect)
    # added innermost first: the body limit sees requests after the locale and session are set
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(LocaleMiddleware)
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie="gendan_session",
                       max_age=settings.session_max_age_seconds, same_site="lax", https_only=settings.secure_cookies)

    _include_routers(app)
    app.mount("/static", StaticFiles(directory=ROOT / "frontend" / "static", check_dir=False), name="static")
    app.mount("/designer-static", StaticFiles(directory=ROOT / "designer" / "static", check_dir=False),
              name="designer-static")
    _install_hooks(app)
    if start_worker if start_worker is not None else settings.run_worker:
        from backend.worker.runner import attach_worker

        attach_worker(app)
    return app


def _include_routers(app: FastAPI) -> None:
    from backend.auth.router import router as auth_router
    from backend.customers.router import router as customers_router
    from backend.orders.router import router as orders_router
    from backend.people.router import router as people_router
    from frontend.pages import router as pages_router

    for router in (auth_router, customers_router, orders_router, people_router, pages_router):
        app.include_router(router)
    for router in _optional_routers():
        app.include_router(router)


def _optional_routers() -> list:
    """Routers of domains built in parallel; each is listed here once it exists."""
    routers = []
    from backend.forms.router import router as forms_router
    from designer.pages.forms import router as form_pages_router

    routers += [forms_router, form_pages_router]
    from backend.flows.router import router as flows_router
    from designer.pages.flows import router as flow_pages_router

    routers += [flows_router, flow_pages_router]
    from backend.rules.router import router as rules_router
    from designer.pages.rules import router as rule_pages_router

    routers += [rules_router, rule_pages_router]
    from backend.inbox.router import routers as inbox_routers
    from backend.notify.router import router as notify_router
    from backend.tracking.router import router as tracking_router

    routers += [*inbox_routers, notify_router, tracking_router]
    from backend.ingest.router import router as ingest_router

    routers.append(ingest_router)
    from backend.audit.router import router as audit_router
    from frontend.pages.audit import router as audit_pages_router
    from frontend.pages.customers import router as customer_pages_router

    routers += [audit_router, audit_pages_router, customer_pages_router]
    return routers


def _install_hooks(app: FastAPI) -> None:
    """Order hooks (form validation, flow start, event rules) are wired here, once per process."""
    from backend.forms import messages as form_messages
    from backend.forms import service as forms_service

    form_messages.register()
    forms_service.install()
    from backend.flows import messages as flow_messages
    from backend.flows import service_instance as flows_instances

    flow_messages.register()
    flows_instances.install()
    from backend.rules import messages as rule_messages
    from backend.rules import service as rules_service
    from backend.rules import tasks as rules_tasks

    rule_messages.register()
    rules_service.install()
    rules_tasks.install(app.state.settings.scan_interval_seconds)
