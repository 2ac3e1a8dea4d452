"""The beat schedule as data, built from settings, and the wall-clock arithmetic it relies on.

Pure: nothing here talks to Redis, the database or the clock (callers pass `now`).

DST (Europe/Kyiv moves 03:00 -> 04:00 on the last Sunday of March and 04:00 -> 03:00 on the
last Sunday of October): a daily time names a *wall-clock* time, so 07:00 stays 07:00 local
and the UTC instant moves. A time that does not exist that day (inside the spring gap) fires at
the same offset after the gap (zoneinfo's fold=0 reading: 03:30 becomes 04:30); a time that
happens twice (inside the autumn fold) fires once, on its first occurrence. Celery's `crontab`
evaluated with the app timezone agrees with `next_fire` for the times the schedule uses; the
tests check both around 2026-03-29 and 2026-10-25.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab, schedule

from worker.newsletters import Newsletter, all_newsletters, scoped
from worker.settings import Settings

# Entry names (stable: redbeat keys are derived from them, renaming leaves an orphan entry).
COLLECT = "collect-all"
PODCASTS = "podcasts"
UPGRADE_AUDIO = "audio-upgrade-fallbacks"
BUILD = "digest-build"
SEND = "digest-send"
CATCH_UP = "catch-up"
RECONCILE = "delivery-reconcile"
HEARTBEAT = "beat-heartbeat"
INBOX_FETCH = "inbox-fetch"
APPROVAL_DEADLINE = "approval-deadline"
LEDGER_PARTITIONS = "ledger-partitions"


def fire_on(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant at which wall-clock time `at` happens on `day` in `tz`.

    Round-tripping through UTC normalises a time inside the spring gap (fold=0: the offset in
    force before the gap, so 03:30 -> 01:30 UTC -> 04:30 local) and picks the first of two
    occurrences inside the autumn fold.
    """
    local = datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz)
    return local.astimezone(UTC)


def next_fire(after: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The first instant strictly after `after` (aware) whose Kyiv wall clock reads `at`."""
    if after.tzinfo is None:
        raise ValueError("next_fire needs an aware datetime")
    day = after.astimezone(tz).date() - timedelta(days=1)
    while True:
        candidate = fire_on(day, at, tz)
        if candidate > after:
            return candidate
        day += timedelta(days=1)


def previous_fire(now: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The last instant at or before `now` (aware) whose wall clock reads `at`."""
    if now.tzinfo is None:
        raise ValueError("previous_fire needs an aware datetime")
    day = now.astimezone(tz).date() + timedelta(days=1)
    while True:
        candidate = fire_on(day, at, tz)
        if candidate <= now:
            return candidate
        day -= timedelta(days=1)


def build_time(settings: Settings) -> time:
    """SEND_TIME minus BUILD_LEAD_MINUTES, as a wall-clock time (may fall on the previous day)."""
    start = datetime.combine(date(2000, 1, 2), settings.send_time.replace(tzinfo=None))
    return (start - timedelta(minutes=settings.build_lead_minutes)).time()


def deadline_time(settings: Settings) -> time:
    """SEND_TIME plus APPROVAL_GRACE_MINUTES, as a wall-clock time (may fall on the next day)."""
    start = datetime.combine(date(2000, 1, 2), settings.send_time.replace(tzinfo=None))
    return (start + timedelta(minutes=settings.approval_grace_minutes)).time()


def send_day(settings: Settings, now: datetime) -> date:
    """The Kyiv day whose send time is the latest one at or before `now` (plus slack).

    Beat fires at or just after the send time; the slack covers a clock a little ahead.
    """
    latest = previous_fire(now + timedelta(minutes=5), settings.send_time, settings.tz)
    return latest.astimezone(settings.tz).date()


def build_day(settings: Settings, now: datetime) -> date:
    """The Kyiv day the next send is for: the build may run the evening before a 00:05 send."""
    upcoming = next_fire(now - timedelta(minutes=5), settings.send_time, settings.tz)
    return upcoming.astimezone(settings.tz).date()


def _every(minutes: int, offset: int = 0) -> crontab:
    """Every `minutes` (dividing the hour or not) starting at minute `offset`."""
    minutes = max(1, min(minutes, 60))
    marks = sorted({m % 60 for m in range(offset, offset + 60, minutes)})
    return crontab(minute=",".join(str(m) for m in marks))


def _daily(at: time) -> crontab:
    return crontab(hour=at.hour, minute=at.minute)


def _on(at: time, newsletter: Newsletter, day_before: bool = False) -> crontab:
    """Daily at `at`, or weekly on the newsletter's day (the day before, for a build that
    falls on the evening before its send)."""
    if newsletter.weekday is None:
        return _daily(at)
    weekday = (newsletter.weekday - (1 if day_before else 0)) % 7
    # celery counts from Sunday (0); ours from Monday (0)
    return crontab(hour=at.hour, minute=at.minute, day_of_week=(weekday + 1) % 7)


def edition_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """Build, send and (with approval) deadline entries for every newsletter. The first keeps
    the entry names of a single-newsletter install (redbeat keys), the others add `:<slug>`."""
    grace_seconds = int(settings.catchup_grace_hours * 3600)
    entries: dict[str, dict[str, Any]] = {}
    for index, newsletter in enumerate(all_newsletters(settings)):
        own = scoped(settings, newsletter)
        suffix = "" if index == 0 else f":{newsletter.slug}"
        kwargs = {"newsletter": newsletter.slug}
        build_at = build_time(own)
        entries[BUILD + suffix] = {
            "task": "schedule.build_digest",
            "schedule": _on(build_at, newsletter, day_before=build_at > own.send_time),
            "kwargs": kwargs,
            "options": {"expires": max(60, settings.build_lead_minutes * 60)},
        }
        entries[SEND + suffix] = {
            "task": "schedule.send_digest",
            "schedule": _on(own.send_time, newsletter),
            "kwargs": kwargs,
            "options": {"expires": max(60, grace_seconds)},
        }
        if settings.send_approval == "required":
            # an edition still held then is sent or skipped (APPROVAL_DEADLINE_ACTION);
            # catch-up applies it too when this run was missed
            entries[APPROVAL_DEADLINE + suffix] = {
                "task": "schedule.approval_deadline",
                "schedule": _on(deadline_time(own), newsletter),
                "kwargs": kwargs,
                "options": {"expires": max(60, grace_seconds)},
            }
    return entries


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """The periodic entries (celery `beat_schedule` format), all derived from settings.

    Crontabs are read in the app timezone (`configure` sets it to TIMEZONE). Each entry expires
    before its next run, so a backlog after a worker outage does not replay stale runs; the
    daily send expires after the grace window, after which catch-up decides instead.
    Nothing uses ETA/countdown: long delays would be redelivered after Redis's visibility timeout.
    """
    collect_seconds = settings.collect_every_minutes * 60
    entries: dict[str, dict[str, Any]] = {
        COLLECT: {
            "task": "collect.all",
            "schedule": _every(settings.collect_every_minutes),
            "options": {"expires": collect_seconds},
        },
        # production chains audio.synthesize from collect.source; the feed is republished
        # a few minutes after each collection
        PODCASTS: {
            "task": "audio.podcasts",
            "schedule": _every(settings.collect_every_minutes, offset=5),
            "options": {"expires": collect_seconds},
        },
        UPGRADE_AUDIO: {
            "task": "audio.upgrade_fallbacks",
            "schedule": crontab(minute=30),
            "options": {"expires": 3600},
        },
        **edition_entries(settings),
        CATCH_UP: {
            "task": "schedule.catch_up",
            # off the send minute so it does not race the send itself (harmless, but noisy)
            "schedule": _every(settings.catchup_every_minutes, offset=7),
            "options": {"expires": settings.catchup_every_minutes * 60},
        },
        RECONCILE: {
            "task": "digest.reconcile",
            "schedule": crontab(),  # every minute
            "options": {"expires": 60},
        },
        # the ledger's monthly partitions (PostgreSQL), made weeks before a send needs them,
        # at a quiet hour: making one briefly locks the ledger
        LEDGER_PARTITIONS: {
            "task": "delivery.partitions",
            "schedule": crontab(hour=3, minute=23),
            "options": {"expires": 6 * 3600},
        },
    }
    if settings.inbox_imap_url is not None:
        # bounces, complaints and unsubscribe requests from the mailbox (worker/inbox/)
        entries[INBOX_FETCH] = {
            "task": "inbox.fetch",
            "schedule": _every(settings.inbox_fetch_every_minutes, offset=3),
            "options": {"expires": settings.inbox_fetch_every_minutes * 60},
        }
    if settings.beat_heartbeat_seconds > 0:
        entries[HEARTBEAT] = {
            "task": "schedule.heartbeat",
            "schedule": schedule(run_every=timedelta(seconds=settings.beat_heartbeat_seconds)),
            "options": {"expires": max(1, int(settings.beat_heartbeat_seconds))},
        }
    return entries


def celery_next_fire(entry_schedule: crontab, after: datetime, tz: ZoneInfo) -> datetime:
    """When celery beat fires `entry_schedule` next after a run at `after` (for tests and status).

    Driven the way beat drives it: the last run in the app timezone, `remaining_estimate`
    measured in real (UTC) time, and the result added in UTC, never as wall-clock arithmetic.
    """
    last_run = after.astimezone(tz)
    entry_schedule.nowfun = lambda: last_run
    remaining: timedelta = entry_schedule.remaining_estimate(last_run)
    return after.astimezone(UTC) + remaining
