"""/docs works on an intranet: Swagger UI comes from the app itself, not a CDN (blank offline before)."""

from __future__ import annotations

from urllib.parse import urlparse

from playwright.sync_api import Browser, expect


def test_api_docs_render_with_the_internet_blocked(browser: Browser, base_url):
    context = browser.new_context(locale="en-US")
    outside: list[str] = []

    def only_this_server(route) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    try:
        page = context.new_page()
        page.goto(f"{base_url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Gendan")
        expect(page.get_by_text("/api/v1/auth/token").first).to_be_visible()
        assert outside == [], f"/docs asked the internet for {outside}"
    finally:
        context.close()
