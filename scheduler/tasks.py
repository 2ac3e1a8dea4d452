"""Celery tasks the beat schedule runs (thin wrappers around scheduler.daily).

The day is computed when the task runs, from the Kyiv clock, unless given (`day_iso`), so a
message that waited in the queue never sends the wrong day; entries also expire (schedule.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from scheduler import daily, guards
from scheduler.schedule import build_day, send_day
from worker.celery_app import app, current_settings
from worker.logging import bind_digest_date

# every process that loads the task modules (workers, beat, the CLI) publishes through the guard
guards.install()


def _day(day_iso: str | None, default: date) -> date:
    return date.fromisoformat(day_iso) if day_iso else default


@app.task(name="schedule.build_digest")  # type: ignore[untyped-decorator]
def build_digest_task(day_iso: str | None = None) -> dict[str, Any]:
    settings = current_settings()
    day = _day(day_iso, build_day(settings, datetime.now(UTC)))
    bind_digest_date(day)
    return daily.build_for_day(settings, day)


@app.task(name="schedule.send_digest", acks_late=True)  # type: ignore[untyped-decorator]
def send_digest_task(day_iso: str | None = None) -> dict[str, Any]:
    settings = current_settings()
    day = _day(day_iso, send_day(settings, datetime.now(UTC)))
    bind_digest_date(day)
    return daily.send_for_day(settings, day)


@app.task(name="schedule.catch_up", acks_late=True)  # type: ignore[untyped-decorator]
def catch_up_task() -> dict[str, Any]:
    return daily.catch_up_now(current_settings())


@app.task(name="schedule.heartbeat", ignore_result=True)  # type: ignore[untyped-decorator]
def heartbeat_task() -> dict[str, Any]:
    return daily.heartbeat(current_settings())
