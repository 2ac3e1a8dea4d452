"""Running the schedule: exactly one beat, through celery-redbeat and its Redis lock.

`digestcast beat` calls `configure_beat(app, settings)` and starts celery beat. Every beat
process (one per host is fine) waits on the redbeat lock; only the holder sends tasks, and a
standby takes over when the holder stops renewing it (BEAT_LOCK_TIMEOUT_SECONDS). Independently
of the scheduler, the database claims each day's send once (`Digest.send_claimed_at`).

Embedded mode (no BROKER_URL) has no beat: tasks run in-process, so schedule `digestcast run`
with cron (or a systemd timer) instead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from celery.signals import beat_init
from redbeat.schedulers import RedBeatScheduler, RedBeatSchedulerEntry

from scheduler.schedule import beat_schedule
from worker.outage import is_redis
from worker.settings import Settings

log = logging.getLogger(__name__)

REDBEAT_PREFIX = "digestcast:redbeat:"
SCHEDULER_TASKS = "scheduler.tasks"


class BeatConfigError(RuntimeError):
    pass


class DSTSafeEntry(RedBeatSchedulerEntry):  # type: ignore[misc]
    """redbeat's entry with its due time computed in real (UTC) time.

    redbeat 2.4 computes `last_run_at + remaining_estimate(...)` on a datetime in the app
    timezone; Python adds a timedelta to a ZoneInfo datetime as wall-clock time, so across a
    DST change the due time (the entry's score in Redis) is an hour off: on 2026-10-25 the
    07:00 Kyiv send would be picked up at 08:00. celery's `remaining_estimate` is a real
    duration measured from now, so the due time is now + that duration, in UTC.
    """

    @property
    def due_at(self) -> datetime | None:
        if self.last_run_at is None:
            return self._default_now()  # type: ignore[no-any-return]
        delta: timedelta | None = self.schedule.remaining_estimate(self.last_run_at)
        if delta is None:
            return None
        if delta.total_seconds() < 0:
            return self._default_now()  # type: ignore[no-any-return]
        now: datetime = self.schedule.maybe_make_aware(self.schedule.now())
        return now.astimezone(UTC) + delta


class DSTSafeRedBeatScheduler(RedBeatScheduler):  # type: ignore[misc]
    """celery-redbeat (Redis-held schedule and lock) with DST-correct due times."""

    Entry = DSTSafeEntry


def configure_beat(app: Celery, settings: Settings) -> Celery:
    """Install the schedule and the redbeat scheduler on `app`; refuses embedded mode."""
    broker = settings.broker_url
    if not broker:
        raise BeatConfigError(
            "beat needs DIGESTCAST_BROKER_URL=redis://...; in embedded mode tasks run "
            "in-process: schedule `digestcast run` with cron instead"
        )
    if not is_redis(broker):
        raise BeatConfigError(f"redbeat keeps its schedule and lock in Redis; broker is {broker!r}")
    app.conf.update(
        beat_schedule=beat_schedule(settings),
        beat_scheduler="scheduler.beat:DSTSafeRedBeatScheduler",
        beat_max_loop_interval=settings.beat_max_interval_seconds,
        redbeat_redis_url=broker,
        # explicit, so redbeat does not fall back to the broker's transport options
        redbeat_redis_options={},
        redbeat_key_prefix=REDBEAT_PREFIX,
        redbeat_lock_timeout=settings.beat_lock_timeout_seconds,
    )
    beat_init.connect(_catch_up_on_start, weak=False, dispatch_uid="digestcast-catch-up")
    return app


def _catch_up_on_start(sender: Any = None, **_kwargs: Any) -> None:
    """A beat that starts after the send time sends the missed digest (or records it).

    Published as a task so the worker does the database work; `schedule.catch_up` is idempotent
    (the send is claimed once), so a standby beat sending it too is harmless.
    """
    app = getattr(getattr(sender, "scheduler", None), "app", None)
    if app is None:
        return
    try:
        app.send_task("schedule.catch_up", expires=600)
        log.info("beat started: catch-up check queued")
    except Exception:  # the periodic catch-up entry covers a broker hiccup at start
        log.exception("beat started: could not queue the catch-up check")
