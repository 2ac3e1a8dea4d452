"""`digestcast web`: uvicorn with the app factory, N processes, the proxy's addresses, and
/metrics on its own port when METRICS_PORT is set.

Each uvicorn worker process calls `web.app:app_from_env` and builds its app from the
environment, so nothing built here (settings objects, connections) crosses a fork. With more
than one worker the process counters go through prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, a temporary directory made here unless one is set), so every
scrape counts the requests of all workers, whichever worker answers it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from web.observe import MULTIPROC_ENV, process_registry
from worker.metrics import DatabaseCollector
from worker.settings import Settings

APP_FACTORY = "web.app:app_from_env"
# uvicorn's httptools protocol sending a head and its body in one write (web/onewrite.py)
ONE_WRITE_PROTOCOL = "web.onewrite:OneWriteHttpToolsProtocol"


class Together(Collector):
    """Several registries exposed as one (process counters and database figures)."""

    def __init__(self, *registries: CollectorRegistry) -> None:
        self.registries = registries

    def collect(self) -> Iterable[Metric]:
        for registry in self.registries:
            yield from registry.collect()


@contextmanager
def multiprocess_metrics(workers: int) -> Iterator[None]:
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="digestcast-metrics-") as folder:
        os.environ[MULTIPROC_ENV] = folder  # inherited by the worker processes uvicorn spawns
        try:
            yield
        finally:
            os.environ.pop(MULTIPROC_ENV, None)


def start_metrics_server(settings: Settings) -> WSGIServer | None:
    """/metrics on METRICS_HOST:METRICS_PORT, served by this (the supervising) process."""
    if settings.metrics_port is None:
        return None
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(settings))
    exposed = CollectorRegistry(auto_describe=False)
    exposed.register(Together(process_registry(), database))
    server, _thread = start_http_server(
        settings.metrics_port, addr=settings.metrics_host, registry=exposed
    )
    return server


def serve(
    settings: Settings,
    host: str,
    port: int,
    *,
    workers: int = 1,
    forwarded_allow_ips: str | None = None,
) -> None:
    import uvicorn

    with multiprocess_metrics(workers):
        start_metrics_server(settings)
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            # X-Forwarded-For/-Proto count only from these addresses (None: uvicorn's default,
            # $FORWARDED_ALLOW_IPS or 127.0.0.1): the throttles, HSTS and Secure cookies then
            # see the real client and scheme behind the proxy
            http=ONE_WRITE_PROTOCOL,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            server_header=False,
            access_log=settings.web_access_log,
            # uvicorn's own lines go through our logging (JSON when LOG_JSON is on); the
            # factory configures it in every worker process
            log_config=None,
        )
