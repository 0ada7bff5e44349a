"""A bug still answers in the product's shape: a coded, translated error with a reference."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _app_with_bug(app):
    @app.get("/api/v1/_boom")
    def boom():
        raise RuntimeError("bug")

    @app.get("/_boom")
    def boom_page():
        raise RuntimeError("bug")

    return app


def test_api_gets_json_with_a_reference(app):
    client = TestClient(_app_with_bug(app), raise_server_exceptions=False)
    resp = client.get("/api/v1/_boom", headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 500
    error = resp.json()["error"]
    assert error["code"] == "internal" and len(error["params"]["ref"]) == 8
    assert error["params"]["ref"] in error["message"] and "系统内部出错" in error["message"]


def test_a_page_gets_the_page_shell(app):
    client = TestClient(_app_with_bug(app), raise_server_exceptions=False)
    resp = client.get("/_boom", headers={"Accept": "text/html", "Accept-Language": "en"})
    assert resp.status_code == 500
    assert "<html" in resp.text and "Something went wrong on our side" in resp.text
