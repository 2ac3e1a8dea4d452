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
from typing import Any

from celery import Celery
from celery.signals import beat_init

from scheduler.schedule import beat_schedule
from worker.settings import Settings

log = logging.getLogger(__name__)

REDBEAT_PREFIX = "digestcast:redbeat:"
SCHEDULER_TASKS = "scheduler.tasks"


class BeatConfigError(RuntimeError):
    pass


def configure_beat(app: Celery, settings: Settings) -> Celery:
    """Install the schedule and the redbeat scheduler on `app`; refuses embedded mode."""
    broker = settings.broker_url
    if not broker:
        raise BeatConfigError(
            "beat needs DIGESTCAST_BROKER_URL=redis://...; in embedded mode tasks run "
            "in-process: schedule `digestcast run` with cron instead"
        )
    if not broker.startswith(("redis://", "rediss://")):
        raise BeatConfigError(f"redbeat keeps its schedule and lock in Redis; broker is {broker!r}")
    app.conf.update(
        beat_schedule=beat_schedule(settings),
        beat_scheduler="redbeat.RedBeatScheduler",
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
