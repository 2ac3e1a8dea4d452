"""A guard on every published task: no ETA/countdown beyond Redis's visibility timeout.

With the Redis transport, a message that is not acknowledged within `visibility_timeout`
(1 h here) is delivered again; a task with an ETA further away than that sits unacknowledged in
a worker and is redelivered again and again, so it runs several times (celery #2599, #4400,
#7918; kombu #337). Long waits belong to the database (a due time that beat's periodic tasks
look at, as delivery's retries and the catch-up check do), never to the broker.

Receivers of `before_task_publish` cannot refuse a message (celery logs and swallows their
exceptions), so the guard pulls an over-long ETA in to just under the limit and logs an error
naming the task: it runs early once instead of many times.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.signals import before_task_publish

log = logging.getLogger(__name__)

DEFAULT_VISIBILITY_TIMEOUT = 3600.0
MARGIN_SECONDS = 60.0


def clamp_eta(eta: str | None, now: datetime, visibility_timeout: float) -> str | None:
    """The ETA to publish: unchanged when it is close enough, else just under the limit."""
    if not eta:
        return eta
    when = datetime.fromisoformat(eta)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    limit = now + timedelta(seconds=max(0.0, visibility_timeout - MARGIN_SECONDS))
    if when <= limit:
        return eta
    return limit.isoformat()


def _visibility_timeout() -> float:
    from worker.celery_app import app

    options = app.conf.broker_transport_options or {}
    return float(options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT))


def guard_eta(sender: Any = None, headers: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    if not headers or not headers.get("eta"):
        return
    original = headers["eta"]
    clamped = clamp_eta(original, datetime.now(UTC), _visibility_timeout())
    if clamped != original:
        headers["eta"] = clamped
        log.error(
            "task %s (%s) asked for ETA %s, beyond the broker's visibility timeout; "
            "moved to %s so it is not redelivered in a loop. Keep long waits in the database.",
            sender,
            headers.get("id"),
            original,
            clamped,
        )


def install() -> None:
    before_task_publish.connect(guard_eta, weak=False, dispatch_uid="digestcast-eta-guard")
