"""web/observe.py: requests counted per endpoint name (bounded labels), the process registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from web.observe import MULTIPROC_ENV, process_registry


def requests_seen(endpoint: str, method: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "digestcast_http_requests_total",
        {"endpoint": endpoint, "method": method, "status": status},
    )
    return value or 0.0


def seconds_observed(endpoint: str) -> float:
    value = REGISTRY.get_sample_value(
        "digestcast_http_request_seconds_count", {"endpoint": endpoint}
    )
    return value or 0.0


def test_a_request_is_counted_under_its_endpoint_name(client: TestClient) -> None:
    before = requests_seen("subscribe_form", "GET", "200")
    timed = seconds_observed("subscribe_form")
    assert client.get("/subscribe").status_code == 200
    assert requests_seen("subscribe_form", "GET", "200") == before + 1
    assert seconds_observed("subscribe_form") == timed + 1


def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    before = requests_seen("unmatched", "GET", "404")
    client.get("/no-such-page-1")
    client.get("/no-such-page-2")
    assert requests_seen("unmatched", "GET", "404") == before + 2


def test_odd_methods_are_labelled_other(client: TestClient) -> None:
    before = requests_seen("unmatched", "OTHER", "404") + requests_seen("unmatched", "OTHER", "405")
    client.request("PROPFIND", "/no-such-page")
    after = requests_seen("unmatched", "OTHER", "404") + requests_seen("unmatched", "OTHER", "405")
    assert after == before + 1


def test_process_registry_is_the_default_one_without_multiprocess(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    assert process_registry() is REGISTRY


def test_process_registry_reads_the_multiprocess_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    registry = process_registry()
    assert registry is not REGISTRY
    assert list(registry.collect()) == []  # no worker process has written a file yet
