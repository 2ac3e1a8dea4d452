"""`digestcast web`'s own parts: /metrics on a port of its own, the multiprocess folder."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from web.observe import MULTIPROC_ENV
from web.serve import multiprocess_metrics, start_metrics_server
from worker.metrics import MESSAGES_SENT
from worker.settings import Settings


def test_metrics_port_serves_process_and_database_figures(settings: Settings) -> None:
    port = free_port()
    MESSAGES_SENT.inc()
    server = start_metrics_server(settings.model_copy(update={"metrics_port": port}))
    assert server is not None
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
    assert "digestcast_messages_sent_total" in body  # this process's counters
    assert "digestcast_database_up 1.0" in body  # and the database's figures
    assert start_metrics_server(settings) is None  # METRICS_PORT unset: nothing started


def test_several_workers_get_a_multiprocess_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with multiprocess_metrics(1):
        assert MULTIPROC_ENV not in os.environ  # one process: plain counters
    with multiprocess_metrics(2):
        folder = Path(os.environ[MULTIPROC_ENV])
        assert folder.is_dir()
    assert MULTIPROC_ENV not in os.environ and not folder.exists()
    monkeypatch.setenv(MULTIPROC_ENV, "/ops/chose/this")
    with multiprocess_metrics(4):
        assert os.environ[MULTIPROC_ENV] == "/ops/chose/this"  # kept as given
