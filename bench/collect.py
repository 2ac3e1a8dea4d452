"""Benchmark: collecting 50 feeds x 100 items from a local HTTP server, then again when every
feed answers 304 Not Modified. Prints both times and `ratio: X` (second / first; must be <= 0.1).

Run: .venv/bin/python bench/collect.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker import db
from worker.celery_app import configure
from worker.collect.runner import run_collect
from worker.settings import Settings

FEEDS = int(os.environ.get("BENCH_FEEDS", "50"))
ITEMS = 100
START = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
PARAGRAPH = "<p>" + "Generated benchmark text for the collect stage. " * 12 + "</p>"


def make_feed(n: int) -> bytes:
    items = []
    for i in range(ITEMS):
        when = format_datetime(START + timedelta(minutes=n * ITEMS + i), usegmt=True)
        items.append(
            f"<item><title>Feed {n} story {i}: a headline of ordinary length</title>"
            f"<link>https://bench.example.org/{n}/{i}?utm_source=rss</link>"
            f"<guid isPermaLink='false'>bench-{n}-{i}</guid><pubDate>{when}</pubDate>"
            f"<category>Bench</category><description><![CDATA[{PARAGRAPH * 4}]]></description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {n}</title><link>https://bench.example.org/{n}/</link>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


FEED_BODIES = {f"/feed/{n}": make_feed(n) for n in range(FEEDS)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = FEED_BODIES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sources = root / "sources.toml"
        sources.write_text(
            "".join(
                f'[[source]]\nname = "Bench {n}"\nurl = "http://127.0.0.1:{port}/feed/{n}"\n'
                'kind = "articles"\nlocal = true\n\n'
                for n in range(FEEDS)
            )
        )
        settings = Settings(
            database_url=f"sqlite:///{root / 'bench.db'}",
            data_dir=root / "data",
            sources=sources,
            broker_url=None,
            collect_concurrency=int(os.environ.get("BENCH_CONCURRENCY", "4")),
        )
        db.upgrade(settings)
        configure(settings)

        started = time.perf_counter()
        first = run_collect(settings)
        first_s = time.perf_counter() - started
        new = sum(len(r["new_articles"]) for r in first)
        assert all(r["ok"] for r in first), [r for r in first if not r["ok"]]
        assert new == FEEDS * ITEMS, new

        started = time.perf_counter()
        second = run_collect(settings)
        second_s = time.perf_counter() - started
        assert all(r["ok"] and r["not_modified"] for r in second)
        db.get_engine(settings.database_url).dispose()
    server.shutdown()
    print(f"feeds: {FEEDS} x {ITEMS} items, concurrency {settings.collect_concurrency}")
    print(f"first run (200, {new} new articles + article.json): {first_s:.3f} s")
    print(f"second run (every feed 304 Not Modified): {second_s:.3f} s")
    print(f"ratio: {second_s / first_s:.4f}")


if __name__ == "__main__":
    main()
