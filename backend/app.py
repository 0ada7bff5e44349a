"""The composition root: settings -> database engine -> middleware -> routers and pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware

from backend.db import make_engine
from backend.errors import UnhandledErrorMiddleware, install_error_handlers
from backend.middleware import BodySizeLimitMiddleware, LocaleMiddleware, SecurityHeadersMiddleware
from backend.params import guard_params, install_data_error_handlers
from backend.settings import Settings, ensure_secret_key, get_settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None, *, engine=None, start_worker: bool | None = None,
               pipeline=None) -> FastAPI:
    """The app; `pipeline` replaces the standard order-change pipeline (tests that need another)."""
    settings, _generated = ensure_secret_key(settings or get_settings())  # never the public default
    # guard_params: integer and NUL checks on every route's parameters (backend/params.py).
    # /docs is a page of frontend/ (Swagger UI served locally, no CDN); ReDoc would load from one, so none
    app = FastAPI(title="Gendan", version="0.1.0", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  dependencies=[Depends(guard_params)])
    app.state.settings = settings
    _assemble(app, engine or make_engine(settings.database_url), pipeline)

    from backend.live import order_socket
    from frontend.error_pages import render_error
    from frontend.pages.common import LoginRequired, login_redirect
    from frontend.pages.order_live import push_html

    order_socket.render_parts = push_html  # a push carries the changed parts, rendered per viewer

    install_error_handlers(app, render_html=render_error)
    install_data_error_handlers(app)

    app.add_exception_handler(LoginRequired, login_redirect)
    # added innermost first: the body limit sees requests after the locale and session are set
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes,
                       upload_max_bytes=settings.max_upload_bytes)
    app.add_middleware(LocaleMiddleware)
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie="gendan_session",
                       max_age=settings.session_max_age_seconds, same_site="lax", https_only=settings.secure_cookies)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: error pages and 413s get the headers too

    _include_routers(app)
    # static files compressed (the flow designer's 420 KB canvas library travels as 120 KB: issue 17
    # saw the page take 6.6 s); pages are not, so no secret in a page is compressed beside echoed input
    app.mount("/static", GZipMiddleware(StaticFiles(directory=ROOT / "frontend" / "static", check_dir=False),
                                        minimum_size=1024), name="static")
    app.mount("/designer-static", GZipMiddleware(StaticFiles(directory=ROOT / "designer" / "static", check_dir=False),
                                                 minimum_size=1024), name="designer-static")
    if start_worker if start_worker is not None else settings.run_worker:
        from backend.worker.runner import attach_worker

        attach_worker(app)
    return app


def _include_routers(app: FastAPI) -> None:
    """The JSON API, then the pages people use (frontend/) and the designers (designer/)."""
    from backend.audit.router import router as audit_router
    from backend.auth.router import router as auth_router
    from backend.connectors.mapping_router import router as connector_mapping_router
    from backend.connectors.router import router as connectors_router
    from backend.customers.router import router as customers_router
    from backend.flows.router import router as flows_router
    from backend.forms.router import router as forms_router
    from backend.inbox.router import routers as inbox_routers
    from backend.ingest.router import router as ingest_router
    from backend.installation.router import router as calendar_router
    from backend.logistics.router import router as logistics_router
    from backend.notify.router import router as notify_router
    from backend.ocr.router import router as ocr_router
    from backend.orders.router import router as orders_router
    from backend.people.router import router as people_router
    from backend.portal.router import router as portal_router
    from backend.replay.flow_router import router as flow_whatif_router
    from backend.replay.router import router as whatif_router
    from backend.replay.runs_router import router as whatif_runs_router
    from backend.reports.image_router import router as report_images_router
    from backend.reports.router import dashboards_router
    from backend.reports.router import router as reports_router
    from backend.rules.router import router as rules_router
    from backend.tracking.router import router as tracking_router
    from designer.pages.dashboards import router as dashboard_pages_router
    from designer.pages.flow_whatif import router as flow_whatif_pages_router
    from designer.pages.flows import router as flow_pages_router
    from designer.pages.forms import router as form_pages_router
    from designer.pages.reports import router as report_pages_router
    from designer.pages.rules import router as rule_pages_router
    from designer.pages.whatif import router as whatif_pages_router
    from frontend.pages import router as pages_router
    from frontend.pages.audit import router as audit_pages_router
    from frontend.pages.customers import router as customer_pages_router

    for router in (auth_router, customers_router, orders_router, people_router, pages_router,
                   forms_router, form_pages_router, flows_router, flow_pages_router, rules_router,
                   rule_pages_router, *inbox_routers, notify_router, tracking_router, ingest_router,
                   audit_router, audit_pages_router, customer_pages_router, calendar_router,
                   connectors_router, connector_mapping_router, logistics_router, ocr_router, portal_router,
                   whatif_router, whatif_pages_router, reports_router, dashboards_router, report_pages_router,
                   dashboard_pages_router, flow_whatif_router, flow_whatif_pages_router, report_images_router,
                   whatif_runs_router):
        app.include_router(router)


def _assemble(app: FastAPI, engine, pipeline) -> None:
    """The order-change pipeline and the worker's jobs (backend/pipeline_assembly.py); the engine
    kept on app.state carries the pipeline to every session opened on it."""
    from backend.pipeline_assembly import assemble, build_jobs, build_pipeline

    app.state.pipeline = pipeline or build_pipeline()
    app.state.engine = assemble(engine, app.state.pipeline)
    app.state.jobs = build_jobs(scan_interval_seconds=app.state.settings.scan_interval_seconds,
                                upload_dir=app.state.settings.upload_dir)
