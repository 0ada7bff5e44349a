"""Security headers on every response (pages, API, errors, static files). Regression (issue 18):
no CSP, X-Frame-Options or nosniff; an uploaded page could be framed or run script."""

from __future__ import annotations

import pytest

from tests.conftest import login
from tests.factories.people import make_user


def _policy(header: str) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


class TestSecurityHeaders:
    @pytest.mark.parametrize("path", ["/login", "/api/v1/orders", "/static/css/app.css", "/no-such-page"])
    def test_every_response_has_them(self, client, path):
        resp = client.get(path)
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "same-origin"
        policy = _policy(resp.headers["content-security-policy"])
        assert policy["default-src"] == "default-src 'self'"
        assert policy["frame-ancestors"] == "frame-ancestors 'none'"
        assert policy["object-src"] == "object-src 'none'"
        assert policy["script-src"] == "script-src 'self'"  # no inline code, no eval
        assert policy["connect-src"] == "connect-src 'self' ws://testserver wss://testserver"

    def test_signed_in_pages_and_writes_have_them(self, client, session):
        make_user(session, username="rep", roles=["sales"])
        session.commit()
        login(client, "rep")
        assert "frame-ancestors 'none'" in client.get("/orders").headers["content-security-policy"]
        refused = client.post("/api/v1/customers", json={"name": ""})
        assert refused.status_code == 422 and refused.headers["x-frame-options"] == "DENY"

    def test_only_the_form_preview_may_be_framed_and_only_by_this_server(self, client, session):
        make_user(session, username="designer", roles=["designer"])
        session.commit()
        login(client, "designer")
        preview = client.get("/designer/forms/order/preview")
        assert preview.headers["x-frame-options"] == "SAMEORIGIN"
        assert "frame-ancestors 'self'" in preview.headers["content-security-policy"]
        assert "script-src 'self';" in preview.headers["content-security-policy"]
        for path in ("/designer/forms/order", "/designer/forms/order/preview/x", "/orders"):
            resp = client.get(path)
            assert resp.headers["x-frame-options"] == "DENY", path
            assert "frame-ancestors 'none'" in resp.headers["content-security-policy"], path
