"""The scheduled day through the lifecycle on a real database: send once, quiet days, catch-up in
and out of grace (what the beat's tasks call)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scheduler import daily
from tests.conftest import EXAMPLES, make_settings
from tests.scheduler.conftest import (
    SAMPLE_DAY,
    kyiv,
    ledger_rows,
    load_sample_day,
    outbox_recipients,
)
from worker import db
from worker.celery_app import configure
from worker.digest.tasks import builder
from worker.edition import lifecycle
from worker.edition.core import EMPTY_DAY
from worker.models import Digest, DigestState
from worker.settings import Settings


def digest_row(settings: Settings) -> Digest | None:
    with db.session_scope(settings) as session:
        return session.scalars(select(Digest).where(Digest.date == SAMPLE_DAY)).first()


def finish(settings: Settings) -> None:
    """What the beat's `digest.reconcile` entry does every minute: mark drained digests sent."""
    lifecycle.reconcile(settings)


def send_for_day(settings: Settings) -> lifecycle.TransitionOutcome:
    """The beat's `schedule.send_digest`."""
    return lifecycle.start(settings, SAMPLE_DAY, by="beat", builder=builder())


def catch_up_now(settings: Settings, now: str) -> dict[str, Any]:
    return lifecycle.catch_up(settings, now=kyiv(now), builder=builder())


def test_send_for_day_sends_once_and_a_second_trigger_does_nothing(day_settings: Settings) -> None:
    first = send_for_day(day_settings)
    assert first.ok and first.to_state == "sending"
    recipients = outbox_recipients(day_settings)
    assert len(recipients) == 3
    again = send_for_day(day_settings)
    assert not again.ok and again.reason == "it is sent"
    assert outbox_recipients(day_settings) == recipients
    finish(day_settings)
    digest = digest_row(day_settings)
    assert digest is not None and digest.state == DigestState.sent


def test_build_ahead_then_send(day_settings: Settings) -> None:
    built = lifecycle.build(day_settings, SAMPLE_DAY, builder=builder())
    assert built.ok and built.to_state == "built" and built.detail["stories"] > 0
    assert outbox_recipients(day_settings) == []
    assert send_for_day(day_settings).to_state == "sending"
    assert not lifecycle.build(day_settings, SAMPLE_DAY, builder=builder()).ok


def test_quiet_day_skip_policy_records_the_reason(tmp_path: Path) -> None:
    s = make_settings(
        tmp_path,
        sources=EXAMPLES / "sources.toml",
        quiet_day_policy="skip",
        quiet_day_min_items=1000,
        briefing_stories=0,
    )
    db.upgrade(s)
    configure(s)
    load_sample_day(s)
    result = send_for_day(s)
    assert result.ok and result.to_state == "skipped"
    assert "QUIET_DAY_POLICY=skip" in result.reason
    digest = digest_row(s)
    assert digest is not None
    assert digest.state == DigestState.skipped and digest.send_claimed_at is None
    assert outbox_recipients(s) == []
    # the schedule does not revisit a skipped day
    assert not send_for_day(s).ok
    assert catch_up_now(s, "2026-11-27T08:00")["action"] == "none"


def test_catch_up_inside_grace_sends_the_missed_digest(day_settings: Settings) -> None:
    result = catch_up_now(day_settings, "2026-11-27T09:30")
    assert result["action"] == "send"
    assert result["late_minutes"] == 150
    assert result["send"]["to_state"] == "sending"
    assert len(outbox_recipients(day_settings)) == 3
    # the periodic check afterwards finds it handled
    later = catch_up_now(day_settings, "2026-11-27T09:45")
    assert later["action"] == "none"
    assert len(outbox_recipients(day_settings)) == 3


def test_catch_up_outside_grace_records_the_missed_day(day_settings: Settings) -> None:
    result = catch_up_now(day_settings, "2026-11-27T10:30")
    assert result["action"] == "missed"
    assert result["recorded"] is True
    assert outbox_recipients(day_settings) == []
    digest = digest_row(day_settings)
    assert digest is not None and digest.state == DigestState.missed
    assert digest.skip_reason is not None and "3.5 h late" in digest.skip_reason
    # reported once, then left alone; the scheduled send for that day does not fire it either
    assert catch_up_now(day_settings, "2026-11-27T10:45")["action"] == "none"
    assert not send_for_day(day_settings).ok
    with db.session_scope(day_settings) as session:
        report = daily.scheduler_status(session, day_settings, now=kyiv("2026-11-27T11:00"))
    days = {row["date"]: row for row in report["Last 7 days"]}
    assert days["2026-11-27"]["state"] == "missed"
    assert "missed" in days["2026-11-27"]["reason"]
    assert days["2026-11-26"]["state"] == "NO DIGEST (missed?)"
    when = {row["what"]: row["when"] for row in report["Schedule"]}
    assert when["next send"] == "2026-11-28 07:00 EET"
    assert when["next build"] == "2026-11-28 06:45 EET"


def test_a_claimed_day_is_never_recorded_missed(day_settings: Settings) -> None:
    send_for_day(day_settings)
    assert not lifecycle.miss(day_settings, SAMPLE_DAY, reason="test").ok
    digest = digest_row(day_settings)
    assert digest is not None and digest.state in (DigestState.sending, DigestState.sent)


# ---------------------------------------------------------------- concurrency, PostgreSQL
def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def runner(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as exc:  # reported by the test
            results[i] = exc

    threads = [threading.Thread(target=runner, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.mark.integration
def test_beat_twice_and_ops_trigger_at_once_send_one_message_each(
    tmp_path: Path, pg_url: str
) -> None:
    """Two beats' send tasks and an ops trigger (`digestcast send`, the ops API: the same
    lifecycle.start) at the same moment: one ledger row and one message each."""
    s = make_settings(
        tmp_path, database_url=pg_url, sources=EXAMPLES / "sources.toml", briefing_stories=0
    )
    db.upgrade(s)
    configure(s)
    subscribers = load_sample_day(s)

    def ops_trigger() -> lifecycle.TransitionOutcome:
        return lifecycle.start(s, SAMPLE_DAY, by="ops", builder=builder())

    results = run_together([lambda: send_for_day(s), lambda: send_for_day(s), ops_trigger])
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert [r.ok for r in results].count(True) == 1, results
    assert {r.reason for r in results if not r.ok} == {"already sending"}
    rows = ledger_rows(s)
    assert len(rows) == subscribers and all(n == 1 for _, n in rows)
    recipients = outbox_recipients(s)
    assert len(recipients) == subscribers == len(set(recipients))
    finish(s)
    digest = digest_row(s)
    assert digest is not None and digest.state == DigestState.sent
    assert digest.send_claimed_at is not None and digest.sent_at is not None
    assert digest.sent_at - digest.send_claimed_at < timedelta(minutes=5)
    db.get_engine(s.database_url).dispose()


def test_an_empty_prebuild_does_not_close_the_day(tmp_path: Path) -> None:
    """The 06:45 build found nothing (feeds late) and the 07:00 send was lost: catch-up
    still looks at the day, and sends once the items are there."""
    s = make_settings(tmp_path, sources=EXAMPLES / "sources.toml", briefing_stories=0)
    db.upgrade(s)
    configure(s)
    built = lifecycle.build(s, SAMPLE_DAY, builder=builder())  # nothing collected yet
    assert built.to_state == "built" and built.detail["stories"] == 0
    load_sample_day(s)  # the feeds arrive late
    result = catch_up_now(s, "2026-11-27T08:00")
    assert result["action"] == "send", result
    assert result["send"]["to_state"] == "sending"
    assert len(outbox_recipients(s)) == 3


def test_an_empty_prebuild_beyond_grace_is_recorded_missed(day_settings: Settings) -> None:
    with db.session_scope(day_settings) as session:
        session.add(Digest(date=SAMPLE_DAY, state=DigestState.skipped, skip_reason=EMPTY_DAY))
    result = catch_up_now(day_settings, "2026-11-27T12:00")
    assert result["action"] == "missed" and result["recorded"] is True
    digest = digest_row(day_settings)
    assert digest is not None and digest.state == DigestState.missed
    assert (digest.skip_reason or "").startswith("not sent: nothing was published")


def test_an_empty_day_beyond_grace_says_so(tmp_path: Path) -> None:
    s = make_settings(tmp_path, sources=EXAMPLES / "sources.toml", briefing_stories=0)
    db.upgrade(s)
    configure(s)
    assert send_for_day(s).to_state == "skipped"  # nothing collected
    result = catch_up_now(s, "2026-11-27T11:00")
    assert result["action"] == "missed"
    digest = digest_row(s)
    assert digest is not None and digest.state == DigestState.missed
    assert digest.skip_reason is not None
    assert digest.skip_reason.startswith("not sent: nothing was published")


def test_ops_force_a_missed_day_out(day_settings: Settings) -> None:
    catch_up_now(day_settings, "2026-11-27T11:00")
    refused = send_for_day(day_settings)
    assert not refused.ok and "send --force sends it anyway" in refused.reason
    forced = lifecycle.start(day_settings, SAMPLE_DAY, by="ops", force=True, builder=builder())
    assert forced.ok and forced.from_state == "missed" and forced.to_state == "sending"
    assert len(outbox_recipients(day_settings)) == 3
    assert lifecycle.start(day_settings, SAMPLE_DAY, force=True).reason == "it is sent"


@pytest.mark.integration
def test_heartbeat_is_what_status_reports(tmp_path: Path, redis_url: str) -> None:
    s = make_settings(tmp_path, broker_url=redis_url)
    db.upgrade(s)
    assert daily.last_heartbeat(s) is None
    at = kyiv("2026-11-27T06:59:30")
    assert daily.heartbeat(s, now=at) == {"heartbeat": at.isoformat()}
    assert daily.last_heartbeat(s) == at
    with db.session_scope(s) as session:
        rows = daily.scheduler_status(session, s, now=kyiv("2026-11-27T07:00"))["Schedule"]
    assert {"what": "beat heartbeat", "when": "2026-11-27 06:59:30 EET"} in rows
    unreachable = make_settings(tmp_path, broker_url="redis://127.0.0.1:1/0")
    assert daily.last_heartbeat(unreachable) is None
