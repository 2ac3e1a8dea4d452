"""Helpers of the collect tests: a real HTTP server on 127.0.0.1 with scriptable routes."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from worker import db
from worker.collect.collector import collect_source
from worker.collect.sources import sync_sources
from worker.settings import Settings
from worker.storage import LocalStorage

CORPUS = Path(__file__).resolve().parent / "corpus"
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    delay: float = 0.0  # seconds before answering (timeouts)
    location: str | None = None  # for 3xx


@dataclass
class Hit:
    path: str
    headers: dict[str, str]


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route | Callable[[], Route]] = {}
        self.hits: list[Hit] = []
        # requests being answered, and the most at once, by the Host they were sent to
        self.inflight: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
                with server.lock:
                    server.inflight[host] += 1
                    server.peak[host] = max(server.peak[host], server.inflight[host])
                try:
                    self.answer()
                finally:
                    with server.lock:
                        server.inflight[host] -= 1

            def answer(self) -> None:
                server.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}))
                found = server.routes.get(self.path)
                route = found() if callable(found) else found
                if route is None:
                    route = Route(status=404, body=b"not found", content_type="text/plain")
                if route.delay:
                    time.sleep(route.delay)
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                if (route.etag and inm == route.etag) or (
                    route.last_modified and ims == route.last_modified and not route.etag
                ):
                    self.send_response(304)
                    if route.etag:
                        self.send_header("ETag", route.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = route.body
                self.send_response(route.status)
                if route.location:
                    self.send_header("Location", route.location)
                if route.gzip and "gzip" in (self.headers.get("Accept-Encoding") or ""):
                    body = gzip.compress(body)
                    self.send_header("Content-Encoding", "gzip")
                if route.etag:
                    self.send_header("ETag", route.etag)
                if route.last_modified:
                    self.send_header("Last-Modified", route.last_modified)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def write_sources(settings: Settings, *entries: dict[str, object]) -> Settings:
    lines = []
    for entry in entries:
        lines.append("[[source]]")
        for key, value in {"local": True, **entry}.items():
            lines.append(f"{key} = {json.dumps(value)}")
    path = settings.data_dir.parent / "sources.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return settings.model_copy(update={"sources": path})


def feed_file(settings: Settings, name: str, data: bytes) -> str:
    path = settings.data_dir.parent / "feeds" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.stat().st_mtime if path.exists() else 0.0
    path.write_bytes(data)
    # a later mtime (to the second) each write, so the file:// "conditional GET" sees a change
    stamp = max(float(int(path.stat().st_mtime)), float(int(before))) + 1
    os.utime(path, (stamp, stamp))
    return f"feeds/{name}"


def collect_all(settings: Settings, now: datetime = NOW) -> dict[str, dict[str, object]]:
    storage = LocalStorage(settings.data_dir)
    results = {}
    with db.session_scope(settings) as session:
        for source in sync_sources(session, settings):
            results[source.name] = collect_source(
                session, settings, storage, source.id, now=now
            ).as_dict()
    return results
