"""Structured logs: JSON lines carrying the task id, digest date and article id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.conftest import make_settings
from worker.celery_app import app, configure
from worker.logging import bind_digest_date, configure_logging, task_context


@app.task(name="test.logging.speak")  # type: ignore[misc]
def speak(article_id: int) -> str:
    logging.getLogger("worker.audio.test").info("spoke article")
    structlog.get_logger("worker.audio.test").warning("slow engine", seconds=1.5)
    return "ok"


@app.task(name="test.logging.daily")  # type: ignore[misc]
def daily_task() -> str:
    bind_digest_date(date(2026, 11, 27))
    logging.getLogger("scheduler.test").info("sending")
    return "ok"


@pytest.fixture
def json_logs(tmp_path: Path) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    settings = make_settings(tmp_path, log_json=True)
    configure(settings)
    configure_logging(settings, stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_task_logs_carry_task_id_and_article_id(
    json_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker import logging as wlog

    monkeypatch.setitem(wlog.TASK_ARGUMENT_FIELDS, "test.logging.speak", "article_id")
    result = speak.apply(args=(42,), task_id="task-123")
    assert result.get() == "ok"
    logging.getLogger("worker.other").info("after the task")
    records = lines(json_logs)
    ours = [r for r in records if r.get("logger") == "worker.audio.test"]
    assert [r["event"] for r in ours] == ["spoke article", "slow engine"]
    for record in ours:
        assert record["task_id"] == "task-123"
        assert record["task"] == "test.logging.speak"
        assert record["article_id"] == 42
        assert "timestamp" in record and record["level"] in {"info", "warning"}
    assert ours[1]["seconds"] == 1.5
    after = next(r for r in records if r["event"] == "after the task")
    assert "task_id" not in after and "article_id" not in after


def test_scheduler_tasks_add_the_digest_date(json_logs: io.StringIO) -> None:
    daily_task.apply(task_id="task-9")
    logging.getLogger("worker.other").info("later")
    records = {r["event"]: r for r in lines(json_logs)}
    assert records["sending"]["digest_date"] == "2026-11-27"
    assert records["sending"]["task_id"] == "task-9"
    assert "digest_date" not in records["later"]


def test_task_context_names_the_argument() -> None:
    assert task_context("audio.synthesize", "t", [7]) == {
        "task_id": "t",
        "task": "audio.synthesize",
        "article_id": 7,
    }
    assert task_context("digest.build", "t", ["2026-11-27"])["digest_date"] == "2026-11-27"
    assert task_context("collect.all", "t", []) == {"task_id": "t", "task": "collect.all"}


def test_plain_text_when_json_is_off(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        configure_logging(make_settings(tmp_path, log_json=False), stream=stream)
        logging.getLogger("worker.x").warning("plain line")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        structlog.reset_defaults()
    text = stream.getvalue()
    assert "plain line" in text and not text.lstrip().startswith("{")
