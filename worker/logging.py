"""Structured logs: one JSON object per line (LOG_JSON=true) carrying task id, digest date and
article id, for every logger (ours through the standard `logging` module, Celery's, uvicorn's).

`configure_logging(settings)` is called once per process (CLI entry points); it also takes over
Celery's logging setup, and binds task context from Celery's task_prerun/task_postrun signals
into structlog's contextvars, which every log line then carries.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from contextvars import Token
from datetime import date
from typing import Any

import structlog
from celery.signals import setup_logging, task_postrun, task_prerun

from worker.settings import Settings

# which positional argument of a task names what (tasks take ids as arguments)
TASK_ARGUMENT_FIELDS: dict[str, str] = {
    "audio.synthesize": "article_id",
    "collect.source": "source_id",
    "digest.build": "digest_date",
    "digest.send": "digest_id",
    "digest.send_batch": "digest_id",
    "digest.fan_out": "digest_id",
    "schedule.build_digest": "digest_date",
    "schedule.send_digest": "digest_date",
}

_tokens: dict[str, dict[str, Token[Any]]] = {}


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]


def configure_logging(settings: Settings, stream: Any = None) -> None:
    """Route stdlib logging and structlog through one handler: JSON lines or readable text."""
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # celery: keep our handler (no receivers -> celery installs its own) and bind task context
    setup_logging.connect(_keep_logging, weak=False, dispatch_uid="digestcast-logging")
    task_prerun.connect(_bind_task, weak=False, dispatch_uid="digestcast-prerun")
    task_postrun.connect(_unbind_task, weak=False, dispatch_uid="digestcast-postrun")


def _keep_logging(**_kwargs: Any) -> None:
    return None


def task_context(task_name: str, task_id: str, args: Any) -> dict[str, Any]:
    """The context a task's log lines carry (pure, for tests)."""
    context: dict[str, Any] = {"task_id": task_id, "task": task_name}
    field = TASK_ARGUMENT_FIELDS.get(task_name)
    if field and args:
        context[field] = args[0]
    return context


def _bind_task(
    sender: Any = None, task_id: str | None = None, args: Any = None, **_kwargs: Any
) -> None:
    if task_id is None:
        return
    name = str(getattr(sender, "name", "") or "")
    tokens = structlog.contextvars.bind_contextvars(**task_context(name, task_id, args))
    _tokens[task_id] = dict(tokens)


def _unbind_task(task_id: str | None = None, **_kwargs: Any) -> None:
    # reset (not clear): an eager task run inside another keeps its parent's context
    tokens = _tokens.pop(task_id or "", None)
    if tokens:
        structlog.contextvars.reset_contextvars(**tokens)


def bind_digest_date(day: date) -> None:
    """Tasks that compute their day (the scheduler's) add it to the running task's context
    (undone when the task ends, like the rest of it)."""
    from celery import current_task

    tokens = structlog.contextvars.bind_contextvars(digest_date=day.isoformat())
    task_id = getattr(getattr(current_task, "request", None), "id", None)
    if task_id in _tokens:
        for key, token in tokens.items():
            _tokens[task_id].setdefault(key, token)
