"""Fixtures of the collect tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.collect.helpers import FeedServer


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A threaded HTTP server on 127.0.0.1; set `server.routes[path] = Route(...)`."""
    server = FeedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
