"""Celery tasks the beat schedule runs: thin wrappers around the edition lifecycle.

The day is computed when the task runs, from the Kyiv clock, unless given (`day_iso`), so a
message that waited in the queue never sends the wrong day; entries also expire (schedule.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from scheduler import daily, guards
from scheduler.schedule import build_day, send_day
from worker import newsletters
from worker.celery_app import app, current_settings
from worker.digest.tasks import builder
from worker.edition import lifecycle
from worker.logging import bind_digest_date
from worker.settings import Settings

# every process that loads the task modules (workers, beat, the CLI) publishes through the guard
guards.install()


def _day(day_iso: str | None, default: date) -> date:
    return date.fromisoformat(day_iso) if day_iso else default


def _settings(newsletter: str) -> Settings:
    """The newsletter's view of the settings ("": the first, as a beat from before sends)."""
    return newsletters.scoped(current_settings(), newsletter or None)


@app.task(name="schedule.build_digest")  # type: ignore[untyped-decorator]
def build_digest_task(day_iso: str | None = None, newsletter: str = "") -> dict[str, Any]:
    settings = _settings(newsletter)
    day = _day(day_iso, build_day(settings, datetime.now(UTC)))
    bind_digest_date(day)
    return lifecycle.build(settings, day, builder=builder(), by="beat").as_dict()


@app.task(name="schedule.send_digest", acks_late=True)  # type: ignore[untyped-decorator]
def send_digest_task(day_iso: str | None = None, newsletter: str = "") -> dict[str, Any]:
    settings = _settings(newsletter)
    day = _day(day_iso, send_day(settings, datetime.now(UTC)))
    bind_digest_date(day)
    return lifecycle.start(settings, day, by="beat", builder=builder()).as_dict()


@app.task(name="schedule.approval_deadline", acks_late=True)  # type: ignore[untyped-decorator]
def approval_deadline_task(day_iso: str | None = None, newsletter: str = "") -> dict[str, Any]:
    settings = _settings(newsletter)
    day = _day(day_iso, send_day(settings, datetime.now(UTC)))
    bind_digest_date(day)
    outcome = lifecycle.apply_deadline(settings, day, builder=builder())
    return outcome.as_dict() if outcome is not None else {"day": day.isoformat(), "due": False}


@app.task(name="schedule.catch_up", acks_late=True)  # type: ignore[untyped-decorator]
def catch_up_task() -> dict[str, Any]:
    """Each newsletter's catch-up; the first one's result at the top level (as before)."""
    settings = current_settings()
    results = [
        lifecycle.catch_up(newsletters.scoped(settings, n), builder=builder())
        for n in newsletters.all_newsletters(settings)
    ]
    return {**results[0], "newsletters": results}


@app.task(name="schedule.heartbeat", ignore_result=True)  # type: ignore[untyped-decorator]
def heartbeat_task() -> dict[str, Any]:
    return daily.heartbeat(current_settings())
