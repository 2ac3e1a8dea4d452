"""Security headers and CSRF (a signed double-submit cookie).

CSRF: the page sets a cookie holding a token signed with SECRET_KEY (itsdangerous, timed) and puts
the same token in a hidden form field; a POST must carry both, equal and validly signed. A
forged cross-site form cannot read the cookie, so it cannot fill the field. The RFC 8058
one-click POST is the one form exempt from it: mail providers send it without cookies.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.deps import get_settings_from, render
from worker.settings import Settings
from worker.tokens import secret_keys

CSRF_COOKIE = "dc_csrf"
CSRF_FIELD = "csrf_token"
CSRF_SALT = "digestcast.csrf.v1"
CSRF_MAX_AGE_SECONDS = 6 * 3600

# Pages: our own CSS, scripts (the player, a static file: never inline), media and images;
# beacons back to us only; never framed.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# The archived email carries inline styles (MJML output) and remote images; still no script.
DIGEST_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "font-src https:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
CSP_HEADER = "content-security-policy"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_keys(settings), salt=CSRF_SALT)


def _valid(settings: Settings, token: str) -> bool:
    try:
        _serializer(settings).loads(token, max_age=CSRF_MAX_AGE_SECONDS)
    except BadSignature:
        return False
    return True


def csrf_token(request: Request, settings: Settings) -> str:
    """The token for a form: the request's cookie when still valid, else a new one."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and _valid(settings, existing):
        return existing
    return _serializer(settings).dumps(secrets.token_urlsafe(16))


def set_csrf_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        max_age=CSRF_MAX_AGE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def csrf_ok(request: Request, settings: Settings, submitted: object) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not isinstance(submitted, str) or not submitted:
        return False
    if not hmac.compare_digest(cookie.encode(), submitted.encode()):
        return False
    return _valid(settings, submitted)


def security_headers(https: bool) -> list[tuple[bytes, bytes]]:
    """The headers every answer carries unless it sets its own (the media fast path adds
    them itself: it answers outside the layer below)."""
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (CSP_HEADER.encode(), PAGE_CSP.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if https:
        # only over TLS (directly or via a proxy uvicorn trusts for X-Forwarded-Proto)
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


class SecurityHeaders:
    """Pure ASGI middleware (streams untouched) adding the headers to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in security_headers(scope.get("scheme") == "https"):
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def render_form(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    lang: str | None = None,
) -> HTMLResponse:
    """A page holding a form: the CSRF token in the page and in its double-submit cookie."""
    token = csrf_token(request, get_settings_from(request))
    response = render(
        request,
        template,
        {"csrf_token": token, "csrf_field": CSRF_FIELD, **context},
        status_code=status_code,
        lang=lang,
    )
    set_csrf_cookie(response, request, token)
    return response
