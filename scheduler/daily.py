"""The schedule's liveness and what `digestcast status` shows of it.

What the beat's tasks do to an edition (build ahead, send at the send time, catch up, the
approval deadline) is the edition lifecycle's (worker/edition/lifecycle.py): the same road as
the CLI and the ops API, with the same row lock, so a second trigger finds the send claimed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.schedule import build_time, fire_on, next_fire
from worker import newsletters
from worker.models import Digest
from worker.outage import broker_redis
from worker.settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "digestcast:beat:heartbeat"


# ---------------------------------------------------------------- status and liveness
def heartbeat(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Record that beat and a worker are alive (beat publishes it, a worker runs it)."""
    stamp = (now or datetime.now(UTC)).isoformat()
    client = broker_redis(settings)
    if client is not None:
        try:
            ttl = max(60, int(settings.beat_heartbeat_seconds * 10))
            client.set(HEARTBEAT_KEY, stamp, ex=ttl)
        finally:
            client.close()
    return {"heartbeat": stamp}


def last_heartbeat(settings: Settings) -> datetime | None:
    client = broker_redis(settings)
    if client is None:
        return None
    import redis

    try:
        raw = client.get(HEARTBEAT_KEY)
    except redis.RedisError:
        return None
    finally:
        client.close()
    return datetime.fromisoformat(raw.decode()) if isinstance(raw, bytes) else None


def scheduler_status(
    session: Session, settings: Settings, now: datetime | None = None, days: int = 7
) -> dict[str, list[dict[str, Any]]]:
    """Rows for `digestcast status`: next runs, beat liveness, and the last days' outcomes."""
    now = now or datetime.now(UTC)
    tz = settings.tz
    send = next_fire(now, settings.send_time, tz)
    build = next_fire(now, build_time(settings), tz)
    beat_seen = last_heartbeat(settings)
    schedule_rows: list[dict[str, Any]] = [
        {"what": "next build", "when": f"{build.astimezone(tz):%Y-%m-%d %H:%M %Z}"},
        {"what": "next send", "when": f"{send.astimezone(tz):%Y-%m-%d %H:%M %Z}"},
        {
            "what": "beat heartbeat",
            "when": f"{beat_seen.astimezone(tz):%Y-%m-%d %H:%M:%S %Z}"
            if beat_seen
            else ("embedded: no beat (digestcast-run.timer)" if settings.embedded else "NOT SEEN"),
        },
    ]
    today = now.astimezone(tz).date()
    since = today - timedelta(days=days - 1)
    digests = {
        d.date: d
        for d in session.scalars(
            select(Digest).where(
                Digest.newsletter == newsletters.current(settings).slug,
                Digest.date >= since,
                Digest.date <= today,
            )
        )
    }
    day_rows: list[dict[str, Any]] = []
    newsletter = newsletters.current(settings)
    for offset in range(days):
        day = today - timedelta(days=offset)
        if not newsletter.publishes_on(day):
            continue  # a weekly's other days
        digest = digests.get(day)
        due = fire_on(day, settings.send_time, tz) <= now
        if digest is None:
            outcome = "NO DIGEST (missed?)" if due else "pending"
            day_rows.append({"date": day.isoformat(), "state": outcome, "reason": ""})
            continue
        day_rows.append(
            {
                "date": day.isoformat(),
                "state": str(digest.state),
                "reason": digest.skip_reason or "",
            }
        )
    return {"Schedule": schedule_rows, f"Last {days} days": day_rows}
