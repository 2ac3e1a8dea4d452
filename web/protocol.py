"""HTTP behaviour every route gets without asking: HEAD for each GET, the trailing-slash
redirect (to PUBLIC_BASE_URL, never to the request's Host), tokens kept out of access logs.
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.deps import public_redirect

# path prefixes whose next segment is a signed token (unsubscribe, preferences, confirmation)
TOKEN_PREFIXES = ("/u/", "/preferences/", "/confirm/", "/ops/set-password/")
ACCESS_LOGGER = "uvicorn.access"


class HeadAsGet:
    """HEAD wherever GET works (RFC 9110: a server that answers GET answers HEAD).

    FastAPI routes take only the methods they name, so a HEAD the router refuses (405) is
    answered again as the GET, headers only: the same status, type and Content-Length, no
    body. Routes that handle HEAD themselves (media: no file is read) keep doing so.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return
        refused = False

        async def unless_refused(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] == 405:
                refused = True
            if not refused:
                await send(message)

        await self.app(scope, receive, unless_refused)
        if not refused:
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # a copy: the server's access log still says HEAD; what routing adds to it (the
        # matched endpoint, read by RequestMetrics) is copied back
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, headers_only)
        finally:
            scope.update({k: v for k, v in as_get.items() if k != "method"})


def _slash_twin(request: Request) -> str | None:
    """The path with its trailing slash added or removed, when a route answers that path."""
    scope = request.scope
    path: str = scope["path"]
    if path == "/" or scope["method"] not in ("GET", "HEAD"):
        return None
    raw: bytes = scope.get("raw_path") or path.encode("utf-8")
    if raw.endswith(b"/") != path.endswith("/"):
        return None  # an encoded slash (%2f) at the end: no twin worth sending anyone to
    twin_path = path.rstrip("/") if path.endswith("/") else path + "/"
    twin_raw = raw.rstrip(b"/") if raw.endswith(b"/") else raw + b"/"
    if not twin_path:
        return None
    twin_scope = {**scope, "path": twin_path, "raw_path": twin_raw}
    for route in request.app.router.routes:
        match, _ = route.matches(twin_scope)
        if match is not Match.NONE:
            query = scope.get("query_string", b"")
            target = twin_raw.decode("latin-1")
            return target + ("?" + query.decode("latin-1") if query else "")
    return None


async def not_found_or_slash(request: Request, exc: Exception) -> Response:
    """404s that only lack (or have) a trailing slash redirect to the right URL on
    PUBLIC_BASE_URL; Starlette's own slash redirect (off) builds it from the Host header."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and (target := _slash_twin(request)) is not None:
        return public_redirect(request, target)
    return await http_exception_handler(request, exc)


def redact_path(path: str) -> str:
    """A request path fit for a log line: token segments and query strings replaced."""
    bare, has_query, _ = path.partition("?")
    for prefix in TOKEN_PREFIXES:
        if bare.startswith(prefix):
            bare = prefix + "[token]"
            break
    return bare + ("?[query]" if has_query else "")


class RedactTokens(logging.Filter):
    """On uvicorn's access logger: its record's third argument is the path with the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def redact_access_log() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
