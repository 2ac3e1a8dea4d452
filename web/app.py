"""The web process: subscribe, unsubscribe, listen, archive, ops API, health and metrics.

`create_app(settings)` takes its settings as a parameter (tests pass their own).
`app_from_env()` is the factory `digestcast web` hands to uvicorn (`factory=True`): each
`--workers` process builds its own app from the environment and `digestcast.toml`.

Layers, outermost first, around FastAPI's own stack (so they also wrap the 500 page that
FastAPI's ServerErrorMiddleware writes, the 404/405/413/422 answers and everything else):
RangeFastPath (a plain GET of a /media/ range, answered whole with the headers and counts of
the layers below: web/media_ranges.py) -> SecurityHeaders -> RequestMetrics -> HeadAsGet
-> MediaFastPath (/media/ only: web/media.py) -> FastAPI (body caps: FORM_MAX_BYTES for every
route, ADMIN_MAX_BODY_BYTES for /admin/, counted while reading, 413 past it).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from web import (
    admin,
    beacons,
    health,
    leave,
    listen,
    media,
    ops,
    pages,
    subscribe,
    unavailable,
    unsubscribe,
)
from web.media_ranges import RangeFastPath
from web.observe import RequestMetrics
from web.page_language import make_environment
from web.protocol import HeadAsGet, not_found_or_slash, redact_access_log
from web.security import SecurityHeaders
from web.throttle import SubscribeThrottles, beacon_throttle
from worker.metrics import DatabaseCollector
from worker.paths import templates_dir
from worker.secret_guard import require_strong_secret
from worker.settings import Settings, get_settings

# the files under /static/: the stylesheet every page shares, the player, the icon
STATIC_FILES = {
    "site.css": ("web/site.css", "text/css; charset=utf-8"),
    "player.js": ("web/player.js", "text/javascript; charset=utf-8"),
    "favicon.svg": ("web/favicon.svg", "image/svg+xml"),
    # the podcast's cover: the share card's image (Open Graph wants a raster image)
    "cover.png": ("podcast-cover.png", "image/png"),
}


class DigestcastApp(FastAPI):
    """FastAPI with our outermost layers around its whole middleware stack."""

    def build_middleware_stack(self) -> ASGIApp:
        inner = media.MediaFastPath(super().build_middleware_stack())
        return RangeFastPath(self, SecurityHeaders(RequestMetrics(HeadAsGet(inner))))


def create_app(settings: Settings) -> FastAPI:
    # the app signs tokens: with the documented default key anybody could forge them
    require_strong_secret(settings)
    app = DigestcastApp(
        title=f"digestcast web ({settings.newsletter_name})",
        version="0.1.0",
        description="Subscribe, unsubscribe, listen, archive; ops API under /admin/.",
        # the interactive docs pages load scripts from a CDN, which our CSP forbids;
        # the schema itself is published at /openapi.json
        docs_url=None,
        redoc_url=None,
        # Starlette's slash redirect echoes the Host header; ours (protocol.py) does not
        redirect_slashes=False,
        max_body_size=settings.form_max_bytes,
    )
    app.add_exception_handler(StarletteHTTPException, not_found_or_slash)
    unavailable.install(app)  # PostgreSQL or Redis down: 503 with Retry-After, not 500
    app.state.settings = settings
    app.state.jinja = make_environment()
    app.state.subscribe_throttles = SubscribeThrottles(settings)
    app.state.beacon_throttle = beacon_throttle(settings)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(settings))
    app.state.metrics_registry = registry

    static = {
        name: (templates_dir() / path).read_bytes() for name, (path, _) in STATIC_FILES.items()
    }

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        if name not in static:
            return Response("not found\n", status_code=404, media_type="text/plain")
        return Response(
            static[name],
            media_type=STATIC_FILES[name][1],
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        # browsers that ignore <link rel=icon> still get the mark (SVG answers here too)
        return Response(
            static["favicon.svg"],
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    for module in (health, subscribe, unsubscribe, leave, listen, pages, media, beacons):
        app.include_router(module.router)
    app.include_router(admin.router, max_body_size=settings.admin_max_body_bytes)
    app.include_router(beacons.admin_router)
    ops.install(app)  # the ops console, /ops/ (web/ops/)
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory: settings from the environment, this process's logging set up."""
    from worker.celery_app import configure
    from worker.logging import configure_logging

    settings = get_settings()
    configure_logging(settings)
    redact_access_log()
    configure(settings)
    return create_app(settings)
