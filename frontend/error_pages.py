"""The HTML face of an error: the page shell for a browser navigating, a toast for an htmx swap.

backend/errors.py decides the code, the status and the message; the app's assembly
(backend/app.py) hands it this renderer, so the backend renders no templates itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from frontend.templating import render, render_toast


def render_error(request: Request, error: dict[str, Any], status: int, *, as_page: bool) -> HTMLResponse:
    """`error` is the body's "error" object (code, message, params, fields)."""
    if as_page:
        return render(request, "_error_page.html", {"error": error, "status": status}, status_code=status)
    return HTMLResponse(render_toast(request, error), status_code=status,
                        headers={"HX-Retarget": "#toast", "HX-Reswap": "innerHTML"})
