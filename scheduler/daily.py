"""The scheduled day: build before the send time, send once at it, catch up when beat missed it.

Exactly once, independently of how many schedulers or triggers there are:
- the digest row for a day is unique (`Digest.date`);
- `send_for_day` holds that row's lock (SELECT ... FOR UPDATE on PostgreSQL) while it builds
  and claims, and delivery's `start_send` claims the send in the same transaction, so a second
  trigger (a second beat, a retry, the ops API, `digestcast send`) waits, then finds the send
  claimed and does nothing; the ledger is unique per (digest, subscriber) as a last guard.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler import policy
from scheduler.schedule import build_time, fire_on, next_fire
from worker.db import session_scope
from worker.models import Digest, DigestState
from worker.settings import Settings
from worker.storage import Storage, get_storage

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "digestcast:beat:heartbeat"


def _locked_digest(session: Session, day: date) -> Digest:
    """The day's digest row, created if needed, locked until the transaction ends."""
    query = select(Digest).where(Digest.date == day).with_for_update()
    digest = session.scalars(query).first()
    if digest is not None:
        return digest
    try:
        with session.begin_nested():
            session.add(Digest(date=day, state=DigestState.built))
    except IntegrityError:
        pass  # another trigger created it; the locking read below waits for it
    return session.scalars(query.execution_options(populate_existing=True)).one()


def build_for_day(settings: Settings, day: date, storage: Storage | None = None) -> dict[str, Any]:
    """Pre-build the day's digest (the beat entry shortly before the send time)."""
    from worker.digest.service import build_digest

    storage = storage or get_storage(settings)
    with session_scope(settings) as session:
        digest = _locked_digest(session, day)
        if digest.send_claimed_at is not None:
            return _result(day, "none", digest, reason="send already claimed")
        if _closed(digest):
            return _result(day, "none", digest, reason=digest.skip_reason)
        digest = build_digest(session, settings, storage, day)
        return {
            "day": day.isoformat(),
            "action": "built",
            "digest_id": digest.id,
            "state": str(digest.state),
            "articles": digest.article_count,
            "feed_items": digest.feed_item_count,
        }


def send_for_day(settings: Settings, day: date, storage: Storage | None = None) -> dict[str, Any]:
    """Build (or rebuild, to include late items) the day's digest, apply the quiet-day policy,
    and claim and start its send; a no-op for a day already claimed, sent or skipped."""
    from worker.delivery.service import start_send
    from worker.digest.service import build_digest

    storage = storage or get_storage(settings)
    with session_scope(settings) as session:
        digest = _locked_digest(session, day)
        edition = "full"
        if digest.send_claimed_at is None:
            if _closed(digest):
                # recorded by catch-up or the quiet-day policy: final for the schedule
                # (`digestcast send --date` reopens it on purpose, see reopen_day)
                return _result(day, "none", digest, reason=digest.skip_reason)
            digest = build_digest(session, settings, storage, day)
            if digest.state == DigestState.skipped:
                # an empty window stays open: catch-up looks again within the grace window
                log.warning("digest %s not sent: %s", day, digest.skip_reason)
                return _result(day, "skipped", digest, reason=digest.skip_reason)
            decision = policy.quiet_day(
                settings.quiet_day_policy,
                settings.quiet_day_min_items,
                digest.article_count,
                digest.feed_item_count,
            )
            if not decision.send:
                digest.state = DigestState.skipped
                digest.skip_reason = decision.reason or "quiet day"
                log.warning("digest %s not sent: %s", day, digest.skip_reason)
                return _result(day, "skipped", digest, reason=digest.skip_reason)
            edition = decision.edition
        # start_send claims in this transaction (we still hold the row lock) and commits
        sent = start_send(session, settings, digest.id)
        action = "sending" if sent.get("claimed") else "none"
        return _result(day, action, digest, edition=edition, send=sent)


def _result(day: date, action: str, digest: Digest, **extra: Any) -> dict[str, Any]:
    return {"day": day.isoformat(), "action": action, "digest_id": digest.id, **extra}


def _empty_day_reason() -> str:
    from worker.digest.service import EMPTY_DAY

    return EMPTY_DAY


def _closed(digest: Digest) -> bool:
    """Skipped by a decision (quiet-day policy, missed send): final for the schedule.

    A day skipped only because its window was empty stays open (items may still arrive)."""
    return (
        digest.send_claimed_at is None
        and digest.state == DigestState.skipped
        and digest.skip_reason not in (None, _empty_day_reason())
    )


def _schedule_state(digest: Digest | None) -> str | None:
    """The digest's state as the schedule sees it: an open skipped day counts as `built`."""
    if digest is None:
        return None
    if digest.state == DigestState.skipped and not _closed(digest):
        return str(DigestState.built)
    return str(digest.state)


def reopen_day(settings: Settings, day: date) -> bool:
    """Ops override (`digestcast send --date D`): make a day the schedule closed sendable
    again. True if it was closed; the caller then builds and sends it as usual."""
    with session_scope(settings) as session:
        digest = _locked_digest(session, day)
        if not _closed(digest):
            return False
        log.warning("digest %s reopened by ops (was: %s)", day, digest.skip_reason)
        digest.state = DigestState.built
        digest.skip_reason = None
        return True


def record_missed(settings: Settings, day: date, reason: str) -> bool:
    """Mark an unsent, unclaimed day `skipped` with `reason`; False if it was claimed meanwhile."""
    with session_scope(settings) as session:
        digest = _locked_digest(session, day)
        if digest.send_claimed_at is not None or _schedule_state(digest) != DigestState.built:
            return False
        if digest.skip_reason == _empty_day_reason():
            reason = f"not sent: {digest.skip_reason} at the send time and within the grace window"
        changed = session.execute(
            update(Digest)
            .where(
                Digest.id == digest.id,
                Digest.send_claimed_at.is_(None),
                Digest.state.in_((DigestState.built, DigestState.skipped)),
                or_(Digest.skip_reason.is_(None), Digest.skip_reason == _empty_day_reason()),
            )
            .values(state=DigestState.skipped, skip_reason=reason)
            .execution_options(synchronize_session=False)
        )
        ok = bool(changed.rowcount == 1)  # type: ignore[attr-defined]
    if ok:
        log.error("digest %s closed by catch-up: %s", day, reason)
    return ok


def catch_up_now(
    settings: Settings, now: datetime | None = None, storage: Storage | None = None
) -> dict[str, Any]:
    """Run at beat start and periodically: send a missed digest within the grace window,
    otherwise record the day as missed."""
    now = now or datetime.now(UTC)
    grace = timedelta(hours=settings.catchup_grace_hours)
    with session_scope(settings) as session:
        probe = policy.catch_up(now, settings.send_time, settings.tz, grace, None, False)
        digest = session.scalars(select(Digest).where(Digest.date == probe.day)).first()
        state = _schedule_state(digest)
        claimed = digest is not None and digest.send_claimed_at is not None
    decision = policy.catch_up(now, settings.send_time, settings.tz, grace, state, claimed)
    result: dict[str, Any] = {
        "day": decision.day.isoformat(),
        "action": decision.action,
        "late_minutes": round(decision.late.total_seconds() / 60, 1),
        "reason": decision.reason,
    }
    if decision.action == "send":
        log.warning("catch-up: %s", decision.reason)
        result["send"] = send_for_day(settings, decision.day, storage)
    elif decision.action == "missed":
        result["recorded"] = record_missed(settings, decision.day, decision.reason)
    return result


# ---------------------------------------------------------------- status and liveness
def heartbeat(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Record that beat and a worker are alive (beat publishes it, a worker runs it)."""
    stamp = (now or datetime.now(UTC)).isoformat()
    if settings.broker_url and settings.broker_url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(settings.broker_url)
        try:
            ttl = max(60, int(settings.beat_heartbeat_seconds * 10))
            client.set(HEARTBEAT_KEY, stamp, ex=ttl)
        finally:
            client.close()
    return {"heartbeat": stamp}


def last_heartbeat(settings: Settings) -> datetime | None:
    if not settings.broker_url or not settings.broker_url.startswith(("redis://", "rediss://")):
        return None
    import redis

    client = redis.Redis.from_url(settings.broker_url, socket_timeout=2, socket_connect_timeout=2)
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
        for d in session.scalars(select(Digest).where(Digest.date >= since, Digest.date <= today))
    }
    day_rows: list[dict[str, Any]] = []
    for offset in range(days):
        day = today - timedelta(days=offset)
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
