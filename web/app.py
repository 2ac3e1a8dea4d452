"""The web process: subscribe, unsubscribe, listen, archive, ops API, health and metrics.

`create_app(settings)` takes its settings as a parameter (tests pass their own);
`digestcast web` runs uvicorn with `create_app(get_settings())`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry

from web import admin, health, media, pages, subscribe, unsubscribe
from web.deps import make_environment
from web.observe import RequestMetrics
from web.security import RateLimiter, SecurityHeaders
from worker.metrics import DatabaseCollector
from worker.paths import templates_dir
from worker.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title=f"digestcast web ({settings.newsletter_name})",
        version="0.1.0",
        description="Subscribe, unsubscribe, listen, archive; ops API under /admin/.",
        # the interactive docs pages load scripts from a CDN, which our CSP forbids;
        # the schema itself is published at /openapi.json
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.jinja = make_environment()
    app.state.subscribe_limiter = RateLimiter(
        settings.subscribe_rate_limit, settings.subscribe_rate_window_seconds
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(settings))
    app.state.metrics_registry = registry

    css = (templates_dir() / "web" / "site.css").read_bytes()

    @app.get("/static/site.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(
            css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # no icon; saves every page view a logged 404

    for module in (health, admin, subscribe, unsubscribe, pages, media):
        app.include_router(module.router)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetrics)
    return app
