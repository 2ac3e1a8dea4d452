"""Request metrics: count and latency per endpoint (bounded labels: endpoint names, not paths)."""

from __future__ import annotations

import os
import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "digestcast_http_requests", "HTTP requests answered", ["endpoint", "method", "status"]
)
HTTP_SECONDS = Histogram(
    "digestcast_http_request_seconds",
    "Time to the response headers",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
# set (by `digestcast web --workers N`, or by ops): the process counters of every worker
# process are kept in files there and summed at each scrape (prometheus_client multiprocess)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def process_registry() -> CollectorRegistry:
    """The process counters (worker.metrics, the HTTP counters above) as one registry."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception before the headers is a server error

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            # the router puts the matched endpoint into the scope; unmatched paths share one label
            endpoint = getattr(scope.get("endpoint"), "__name__", "unmatched")
            method = scope.get("method", "GET") if scope.get("method") in METHODS else "OTHER"
            HTTP_REQUESTS.labels(endpoint, method, str(status)).inc()
            HTTP_SECONDS.labels(endpoint).observe(time.perf_counter() - start)
