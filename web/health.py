"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from web.deps import get_settings_from
from web.observe import process_registry
from worker import outage
from worker.db import get_engine

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    return HealthOut(status="ok")


def _check_database(url: str) -> str:
    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # one log line per outage, not one per probe
        outage.DATABASE.failed(exc, "/readyz answers 503 until it is back")
        return f"error: {type(exc).__name__}"
    outage.DATABASE.ok()
    return "ok"


def _check_broker(url: str) -> str:
    try:
        if outage.is_redis(url):
            client = outage.redis_client(url)
            try:
                client.ping()
            finally:
                client.close()
        else:  # any other kombu transport (amqp://...): one connection attempt, no retries
            from kombu.connection import Connection

            with Connection(url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
                conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        outage.BROKER.failed(exc, "/readyz answers 503 until it is back")
        return f"error: {type(exc).__name__}"
    outage.BROKER.ok()
    return "ok"


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "A dependency is not reachable"}},
)
def readyz(request: Request) -> JSONResponse:
    settings = get_settings_from(request)
    checks = {"database": _check_database(settings.database_url)}
    if settings.broker_url:
        checks["broker"] = _check_broker(settings.broker_url)
    ready = all(v == "ok" for v in checks.values())
    body = ReadyOut(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}},
        401: {"description": "METRICS_TOKEN is set and the bearer token is not it"},
        404: {"description": "METRICS_PORT is set: /metrics is served there instead"},
    },
)
def metrics(request: Request) -> Response:
    settings = get_settings_from(request)
    if settings.metrics_port is not None:
        return Response("not found\n", status_code=404, media_type="text/plain")
    wanted = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if wanted:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), wanted.encode()
        ):
            return Response(
                "unauthorized\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": "Bearer"},
            )
    # process counters (worker.metrics, web.observe) in their registry (summed over the worker
    # processes with --workers); the database figures in this app's own registry, so several
    # apps (tests) never register the collector twice
    body = generate_latest(process_registry()) + generate_latest(request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
