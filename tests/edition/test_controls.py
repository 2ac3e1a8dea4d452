"""Pause, resume, cancel and auto-pause on a real cluster: PostgreSQL, our own Redis, two
`celery worker` processes and an SMTP server process that records when it accepted each
message. Every subscriber exactly once; nothing accepted while an edition is paused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.faults import drain, sent, wait_until_sent
from tests.delivery.helpers import DAY, add_subscribers, stage_digest
from tests.delivery.test_faults import make_cluster
from tests.scheduler.test_daily import run_together
from worker import db
from worker.edition import lifecycle
from worker.edition.lookup import find
from worker.models import DigestState
from worker.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["make_cluster"]  # the fixture, shared with the fault tests

# batches and chunks of production size, what a pause has to stop mid-stream (with a lease
# long enough for a chunk claimed ahead: nothing is killed here)
LARGE = {"send_batch_size": 2000, "send_claim_chunk": 500, "send_lease_seconds": 60}


def _prepare(settings: Settings, subscribers: int) -> int:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings, kb=2)
        add_subscribers(session, subscribers)
    return digest_id


def _state(settings: Settings) -> tuple[DigestState, str | None]:
    with db.session_scope(settings) as session:
        digest = find(session, DAY)
        assert digest is not None
        return DigestState(digest.state), digest.skip_reason


def _actions(settings: Settings, digest_id: int) -> list[str]:
    with db.session_scope(settings) as session:
        return [e["action"] for e in lifecycle.history(session, digest_id)]


def test_pause_mid_send_then_resume_sends_everyone_once_and_nothing_while_paused(
    make_cluster: Any,
) -> None:
    cluster, settings = make_cluster(**LARGE)
    subscribers = 20_000
    digest_id = _prepare(settings, subscribers)
    assert lifecycle.start(settings, DAY, by="test").ok
    wait_until_sent(settings, digest_id, 3000, timeout=120)
    paused = lifecycle.pause(settings, DAY, by="anna", reason="broken link", wait_seconds=15)
    assert paused.ok and paused.detail["in_flight"] == 0, paused
    quiet_from = time.time()
    at_pause = sent(settings, digest_id)
    assert at_pause < subscribers
    lifecycle.reconcile(settings)  # the reconciler must not undo the pause
    time.sleep(3)
    quiet_until = time.time()
    assert sent(settings, digest_id) == at_pause
    assert _state(settings) == (DigestState.paused, "paused by anna: broken link")
    again = lifecycle.pause(settings, DAY, by="bob")
    assert not again.ok and again.reason.startswith("already paused")

    assert lifecycle.resume(settings, DAY, by="anna").ok
    result = drain(settings, digest_id)
    assert result["counts"] == {"sent": subscribers}
    received = cluster.received()
    assert len(received) == subscribers and set(received.values()) == {1}
    during = [t for t in cluster.accepted_times() if quiet_from <= t <= quiet_until]
    assert during == [], f"{len(during)} messages accepted while paused"
    assert _state(settings)[0] == DigestState.sent
    assert _actions(settings, digest_id) == ["start", "pause", "resume", "finish"]


def test_cancel_mid_send_keeps_what_was_sent_and_cancels_the_rest(make_cluster: Any) -> None:
    cluster, settings = make_cluster(**LARGE)
    subscribers = 6000
    digest_id = _prepare(settings, subscribers)
    assert lifecycle.start(settings, DAY, by="test").ok
    wait_until_sent(settings, digest_id, 1000, timeout=120)
    cancelled = lifecycle.cancel(settings, DAY, by="anna", reason="wrong edition", wait_seconds=15)
    assert cancelled.ok and cancelled.detail["in_flight"] == 0, cancelled
    lifecycle.reconcile(settings)
    time.sleep(2)
    with db.session_scope(settings) as session:
        from worker.delivery.recovery import counts

        tally = counts(session, digest_id)
    assert set(tally) == {"sent", "cancelled"} and sum(tally.values()) == subscribers
    received = cluster.received()
    assert len(received) == tally["sent"] and set(received.values()) == {1}
    assert _state(settings)[0] == DigestState.cancelled
    refused = lifecycle.resume(settings, DAY, by="bob")
    assert not refused.ok and refused.reason.startswith("it is cancelled")
    assert "refused" in lifecycle.resend(settings, DAY, everyone=True)


def test_a_relay_refusing_everything_pauses_the_edition_and_resume_finishes(
    make_cluster: Any, tmp_path: Path
) -> None:
    switch = tmp_path / "relay-refuses"
    cluster, settings = make_cluster(
        {"refuse_while": str(switch)},
        auto_pause_window=200,
        auto_pause_error_rate=0.5,
        send_max_attempts=50,
        send_retry_base_seconds=30,
    )
    subscribers = 4000
    digest_id = _prepare(settings, subscribers)
    assert lifecycle.start(settings, DAY, by="test").ok
    wait_until_sent(settings, digest_id, 500, timeout=120)
    switch.touch()  # from now on every RCPT gets 451
    deadline = time.monotonic() + 60
    while _state(settings)[0] != DigestState.paused:
        assert time.monotonic() < deadline, "the edition did not pause itself"
        time.sleep(0.2)
    _, reason = _state(settings)
    assert reason is not None and reason.startswith("paused by auto-pause: auto-pause: ")
    assert "AUTO_PAUSE_ERROR_RATE" in reason
    switch.unlink()  # the relay recovers
    time.sleep(2)  # the batches have stopped; nothing goes out until someone resumes
    stopped_at = sent(settings, digest_id)
    time.sleep(1)
    assert sent(settings, digest_id) == stopped_at < subscribers
    assert lifecycle.resume(settings, DAY, by="anna", reason="relay fixed").ok
    result = drain(settings, digest_id)
    assert result["counts"] == {"sent": subscribers}
    received = cluster.received()
    assert len(received) == subscribers and set(received.values()) == {1}
    assert _actions(settings, digest_id) == ["start", "pause", "resume", "finish"]


def test_two_operators_at_once_one_wins_the_other_is_told_why(make_cluster: Any) -> None:
    _cluster, settings = make_cluster(workers=0)  # nothing sends: the edition stays `sending`
    _prepare(settings, 10)
    assert lifecycle.start(settings, DAY, by="test").ok
    pauses = run_together(
        [
            lambda: lifecycle.pause(settings, DAY, by="anna"),
            lambda: lifecycle.pause(settings, DAY, by="bob"),
        ]
    )
    assert sorted(p.ok for p in pauses) == [False, True], pauses
    loser = next(p for p in pauses if not p.ok)
    assert loser.line().startswith(f"digest {DAY}: pause refused: already paused (paused by ")
    resumes = run_together(
        [
            lambda: lifecycle.resume(settings, DAY, by="anna"),
            lambda: lifecycle.resume(settings, DAY, by="bob"),
        ]
    )
    assert sorted(r.ok for r in resumes) == [False, True], resumes
    assert next(r for r in resumes if not r.ok).reason == "already sending"
