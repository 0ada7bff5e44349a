"""The API's interactive documentation (/docs), with Swagger UI served by the app itself.

FastAPI's default page loads Swagger UI from a CDN, so on an intranet with no internet access /docs
was blank; swagger-ui-dist is pinned in frontend/package.json and copied by scripts/vendor.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html

router = APIRouter()
VENDOR = "/static/vendor/swagger-ui-dist"


@router.get("/docs")
def api_docs(request: Request):
    return get_swagger_ui_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} API",
                               swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
                               swagger_css_url=f"{VENDOR}/swagger-ui.css",
                               swagger_favicon_url=f"{VENDOR}/favicon-32x32.png")
