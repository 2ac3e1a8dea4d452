"""A database or Redis that is down answers 503 with Retry-After, never a 500.

Routes reach PostgreSQL and Redis directly; when either is down (restarted, failed over,
stopped) the exception they raise is answered here: the reader gets "try again in a moment"
(the ops API and JSON clients a JSON body), the log one line per outage (worker/outage.py).
Nothing else is caught: a real bug still surfaces as one. The next request after the
dependency is back works again by itself (the engine's pool pings each connection it lends).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from web.deps import render
from worker import outage
from worker.i18n import N_

RETRY_AFTER_SECONDS = 30


def _answer(request: Request) -> Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    wants_json = request.url.path.startswith("/admin/") or "json" in request.headers.get(
        "accept", ""
    )
    if wants_json:
        body = {"detail": "temporarily unavailable, try again shortly"}
        return JSONResponse(body, status_code=503, headers=headers)
    return render(
        request,
        "message.html",
        {
            "title": N_("Please try again in a moment"),
            "message": N_("This page is briefly unavailable. Please try again in a minute."),
        },
        status_code=503,
        headers=headers,
    )


async def dependency_down(request: Request, exc: Exception) -> Response:
    if outage.database_unavailable(exc):
        outage.DATABASE.failed(exc, "pages answer 503 until it is back")
    elif outage.broker_unavailable(exc):
        outage.BROKER.failed(exc, "pages that need it answer 503 until it is back")
    else:
        raise exc  # not an outage: FastAPI's own 500 handling, as for any other bug
    return _answer(request)


def install(app: FastAPI) -> None:
    import psycopg
    import redis
    from kombu.exceptions import OperationalError as KombuOperationalError
    from sqlalchemy.exc import DBAPIError

    for kind in (
        DBAPIError,
        psycopg.OperationalError,
        outage.DatabaseUnavailable,
        redis.ConnectionError,
        redis.TimeoutError,
        KombuOperationalError,
    ):
        app.add_exception_handler(kind, dependency_down)
