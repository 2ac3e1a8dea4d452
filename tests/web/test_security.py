"""web/security.py: the security headers on every answer and the signed double-submit CSRF."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from web.security import (
    CSP_HEADER,
    CSRF_COOKIE,
    PAGE_CSP,
    csrf_ok,
    csrf_token,
    security_headers,
    set_csrf_cookie,
)
from worker.settings import Settings


def request_with(cookie: str | None = None, scheme: str = "https") -> Request:
    headers = [(b"cookie", f"{CSRF_COOKIE}={cookie}".encode())] if cookie else []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/subscribe",
        "scheme": scheme,
        "server": ("daily.example.org", 443),
        "headers": headers,
    }
    return Request(scope)


def test_hsts_only_over_https() -> None:
    plain = dict(security_headers(https=False))
    tls = dict(security_headers(https=True))
    assert b"strict-transport-security" not in plain
    assert tls[b"strict-transport-security"] == b"max-age=31536000"
    assert plain[CSP_HEADER.encode()] == PAGE_CSP.encode()
    assert plain[b"x-frame-options"] == b"DENY"


def test_every_answer_carries_the_headers(client: TestClient) -> None:
    for path in ("/subscribe", "/no-such-page"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers[CSP_HEADER]
        assert r.headers["strict-transport-security"] == "max-age=31536000"


def test_a_fresh_token_is_valid_only_with_its_cookie(settings: Settings) -> None:
    token = csrf_token(request_with(), settings)
    assert csrf_ok(request_with(token), settings, token)
    assert not csrf_ok(request_with(), settings, token)  # no cookie
    assert not csrf_ok(request_with(token), settings, token + "x")  # field differs
    assert not csrf_ok(request_with(token), settings, None)
    assert not csrf_ok(request_with(token), settings, "")


def test_a_valid_cookie_is_reused_and_a_forged_one_replaced(settings: Settings) -> None:
    token = csrf_token(request_with(), settings)
    assert csrf_token(request_with(token), settings) == token
    forged = "forged.value.here"
    assert csrf_token(request_with(forged), settings) != forged
    assert not csrf_ok(request_with(forged), settings, forged)


def test_a_token_signed_with_another_key_is_refused(settings: Settings) -> None:
    other = settings.model_copy(update={"secret_key": SecretStr("another-secret-key-" * 3)})
    token = csrf_token(request_with(), other)
    assert not csrf_ok(request_with(token), settings, token)


def test_cookie_is_strict_httponly_and_secure_over_https() -> None:
    response = Response()
    set_csrf_cookie(response, request_with(scheme="https"), "tok")
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(f"{CSRF_COOKIE}=tok")
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    response = Response()
    set_csrf_cookie(response, request_with(scheme="http"), "tok")
    assert "secure" not in response.headers["set-cookie"].lower()


def test_form_pages_set_the_cookie_they_embed(client: TestClient) -> None:
    r = client.get("/subscribe")
    token = client.cookies.get(CSRF_COOKIE)
    assert token and f'value="{token}"' in r.text
