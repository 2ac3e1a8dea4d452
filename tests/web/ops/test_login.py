"""web/ops/login.py: signing in and out of the console, where a login may send the browser,
and the one-time set-password page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.web.ops.conftest import PASSWORD, csrf, sign_in
from web.ops.login import _next
from web.ops.pages import SESSION_COOKIE


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("/ops/editions/2026-11-27", "/ops/editions/2026-11-27"),
        ("/ops/audit?actor=a%40b", "/ops/audit?actor=a%40b"),
        (None, "/ops/"),
        ("", "/ops/"),
        ("https://evil.example/ops/", "/ops/"),
        ("//evil.example/ops/", "/ops/"),
        ("/ops//evil.example", "/ops/"),
        ("/elsewhere", "/ops/"),
        ("/ops/<script>", "/ops/"),
    ],
)
def test_next_stays_on_console_paths(value: str | None, target: str) -> None:
    assert _next(value) == target


def test_login_redirects_to_next_with_a_strict_session_cookie(bare_console: TestClient) -> None:
    token = csrf(bare_console.get("/ops/login").text)
    r = bare_console.post(
        "/ops/login",
        data={
            "email": "viewer@example.org",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/ops/audit",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/ops/audit"
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith(SESSION_COOKIE)
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ops" in cookie
    assert bare_console.get("/ops/audit").status_code == 200


def test_a_wrong_password_is_401_and_keeps_the_email(bare_console: TestClient) -> None:
    token = csrf(bare_console.get("/ops/login").text)
    r = bare_console.post(
        "/ops/login",
        data={"email": "viewer@example.org", "password": "wrong", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 401
    assert 'value="viewer@example.org"' in r.text
    assert SESSION_COOKIE not in bare_console.cookies


def test_logout_ends_the_session(bare_console: TestClient) -> None:
    token = sign_in(bare_console, "viewer@example.org")
    assert bare_console.get("/ops/audit", follow_redirects=False).status_code == 200
    r = bare_console.post("/ops/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ops/login"
    assert bare_console.get("/ops/audit", follow_redirects=False).status_code != 200


def test_an_unknown_set_password_link_is_404(bare_console: TestClient) -> None:
    r = bare_console.get("/ops/set-password/not-a-token")
    assert r.status_code == 404
    assert "This link is not valid any more" in r.text
    token = csrf(bare_console.get("/ops/login").text)
    r = bare_console.post(
        "/ops/set-password/not-a-token",
        data={"password": "x" * 20, "confirm": "x" * 20, "csrf_token": token},
    )
    assert r.status_code == 404
