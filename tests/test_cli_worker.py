"""`digestcast worker`: the queues and node name it hands to Celery (the worker's own start
is tested in the fault tests and tests/web/test_production.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import TEST_SECRET, make_settings
from tests.delivery.faults import point_app_at
from worker import pipeline
from worker.celery_app import app as celery_app
from worker.cli import app
from worker.settings import get_settings


@pytest.fixture
def argv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[list[str]]]:
    started: list[list[str]] = []
    monkeypatch.setenv("DIGESTCAST_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("DIGESTCAST_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("DIGESTCAST_SECRET_KEY", TEST_SECRET)
    monkeypatch.setattr(pipeline, "load_tasks", lambda settings: None)
    monkeypatch.setattr(celery_app, "worker_main", started.append)
    get_settings.cache_clear()
    yield started
    get_settings.cache_clear()
    point_app_at(make_settings(tmp_path))  # the CLI pointed the app at its broker


def test_default_worker_serves_both_queues(argv: list[list[str]]) -> None:
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 0, result.output
    assert "--queues=transactional,celery" in argv[0]
    assert not any(a.startswith("--hostname") for a in argv[0])


def test_transactional_worker_with_its_own_name(argv: list[list[str]]) -> None:
    args = ["worker", "--queues", "transactional", "--hostname", "mail@%h", "--concurrency", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert {"--queues=transactional", "--hostname=mail@%h", "--concurrency=1"} <= set(argv[0])


def test_unknown_queue_is_refused(argv: list[list[str]]) -> None:
    result = CliRunner().invoke(app, ["worker", "--queues", "transactionl"])
    assert result.exit_code == 2 and argv == []
    assert "choose among" in result.output
