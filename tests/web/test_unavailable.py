"""web/unavailable.py: a database or Redis that is down answers 503 with Retry-After; any other
exception is still a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from web.app import create_app
from web.unavailable import RETRY_AFTER_SECONDS
from worker import outage
from worker.settings import Settings


def database_down() -> None:
    raise outage.DatabaseUnavailable("connection refused")


def redis_down() -> None:
    raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")


def a_bug() -> None:
    raise ValueError("not an outage")


@pytest.fixture
def failing(web_settings: Settings) -> Iterator[TestClient]:
    """The real app with three routes of this test that raise what a route meets."""
    app: FastAPI = create_app(web_settings)
    for path, endpoint in (("/db-down", database_down), ("/redis-down", redis_down)):
        app.add_api_route(path, endpoint)
        app.add_api_route("/admin" + path, endpoint)
    app.add_api_route("/bug", a_bug)
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            yield c
    finally:
        outage.DATABASE.ok()  # the outage state is per process: leave none to the next test
        outage.BROKER.ok()


@pytest.mark.parametrize("path", ["/db-down", "/redis-down"])
def test_pages_answer_503_with_retry_after(failing: TestClient, path: str) -> None:
    r = failing.get(path)
    assert r.status_code == 503
    assert r.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"].startswith("text/html")
    assert "Please try again in a moment" in r.text


@pytest.mark.parametrize("path", ["/admin/db-down", "/redis-down"])
def test_the_admin_api_and_json_clients_get_json(failing: TestClient, path: str) -> None:
    r = failing.get(path, headers={"Accept": "application/json"})
    assert r.status_code == 503
    assert r.json() == {"detail": "temporarily unavailable, try again shortly"}
    assert r.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def test_the_outage_is_logged_once(failing: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    outage.DATABASE.ok()
    with caplog.at_level("ERROR"):
        failing.get("/db-down")
        failing.get("/db-down")
    lines = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(lines) == 1


def test_a_bug_is_still_a_500(failing: TestClient) -> None:
    r = failing.get("/bug")
    assert r.status_code == 500
    assert "retry-after" not in r.headers
